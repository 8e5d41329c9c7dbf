package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/annexa/annexa/collector/internal/store"
	"github.com/annexa/annexa/collector/internal/store/sqlite"
)

func TestUsersAdd(t *testing.T) {
	data := t.TempDir()
	out, errs, code := cli(t, "users", "add", "--data", data, "--role", "admin", "lea")
	m := regexp.MustCompile(`(?m)^password: (\S{20})$`).FindStringSubmatch(out)
	if code != 0 || m == nil || !strings.Contains(out, "user lea added with role admin") {
		t.Fatalf("users add = %q %q %d", out, errs, code)
	}
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("a long enough password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errs, code := cli(t, "users", "add", "--data", data, "--password-file", pwFile, "otto"); code != 0 || strings.Contains(out, "password:") {
		t.Fatalf("users add --password-file = %q %q %d (a given password must not be printed)", out, errs, code)
	}

	db, err := sqlite.Open(context.Background(), filepath.Join(data, dbName), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, pw := range map[string]string{"lea": m[1], "otto": "a long enough password"} {
		u, err := db.User(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(pw)) != nil {
			t.Errorf("%s: the stored hash does not match the password", name)
		}
	}
	if u, _ := db.User(context.Background(), "otto"); u.Role != store.RoleAuditor {
		t.Errorf("default role = %s, want auditor", u.Role)
	}
	db.Close()

	cases := []struct {
		args []string
		code int
		says string
	}{
		{[]string{"users", "add", "--data", data, "lea"}, 1, "exists already"},
		{[]string{"users", "add", "--data", data, "--role", "root", "x"}, 2, "admin or auditor"},
		{[]string{"users", "add", "--data", data, "bad name"}, 2, "user name"},
		{[]string{"users", "add", "--data", data}, 2, "exactly one user name"},
		{[]string{"users", "add", "lea"}, 2, "--data DIR is required"},
		{[]string{"users"}, 2, "users add NAME"},
	}
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("short\n"), 0o600)
	cases = append(cases, struct {
		args []string
		code int
		says string
	}{[]string{"users", "add", "--data", data, "--password-file", short, "eve"}, 2, "at least 12"})
	for _, c := range cases {
		_, errs, code := cli(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.says) {
			t.Errorf("%v: exit %d %q; want %d and %q", c.args, code, errs, c.code, c.says)
		}
	}
	if out, _, code := cli(t, "users", "add", "--data", data, "--replace", "--role", "auditor", "lea"); code != 0 || !strings.Contains(out, "user lea set with role auditor") {
		t.Errorf("--replace: %q %d", out, code)
	}
	if out, _, code := cli(t, "users", "list", "--data", data); code != 0 || !regexp.MustCompile(`lea\s+auditor`).MatchString(out) || !strings.Contains(out, "otto") {
		t.Errorf("users list: %q %d", out, code)
	}
}
