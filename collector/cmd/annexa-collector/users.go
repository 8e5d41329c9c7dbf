package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/annexa/annexa/collector/internal/store"
	"github.com/annexa/annexa/collector/internal/web"
)

// users manages the people who may log in to the web UI.
func (e *env) users(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("users needs a subcommand: users add NAME | users list")
	}
	switch args[0] {
	case "add":
		return e.usersAdd(ctx, args[1:])
	case "list":
		return e.usersList(ctx, args[1:])
	}
	return usagef("unknown subcommand users %s; use users add NAME or users list", args[0])
}

func (e *env) usersAdd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("users add", flag.ContinueOnError)
	data := dataFlag(fs)
	role := fs.String("role", "auditor", "admin (may change things) or auditor (reads only)")
	pwFile := fs.String("password-file", "", "read the password from the first line of this file (- for standard input); without it a password is generated and printed once")
	replace := fs.Bool("replace", false, "replace the password and role of an existing user (ends the user's sessions)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("users add takes exactly one user name, got %d", len(pos))
	}
	name := pos[0]
	if !web.ValidUserName(name) {
		return usagef("users add: user name %q must be 1 to 64 letters, digits or . _ @ -", name)
	}
	if r := store.Role(*role); !r.Valid() {
		return usagef("users add: --role must be admin or auditor, got %q", *role)
	}
	if err := needData("users add", *data); err != nil {
		return err
	}
	password, generated := "", false
	if *pwFile == "" {
		password, generated = generatePassword(), true
	} else if password, err = readPassword(*pwFile); err != nil {
		return err
	}
	if err := web.CheckPasswordRules(password); err != nil {
		return usagef("users add: %v", err)
	}
	hash, err := web.HashPassword(password)
	if err != nil {
		return err
	}
	st, err := e.openStore(ctx, *data, true)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.AddUser(ctx, store.User{Name: name, Role: store.Role(*role), PasswordHash: hash}, *replace); err != nil {
		return err
	}
	verb := "added"
	if *replace {
		verb = "set"
	}
	fmt.Fprintf(e.stdout, "user %s %s with role %s\n", name, verb, *role)
	if generated {
		// Printed once and never stored: only its bcrypt hash is kept.
		fmt.Fprintf(e.stdout, "password: %s\n", password)
	}
	return nil
}

// readPassword reads the first line of path, or of standard input for "-".
func readPassword(path string) (string, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		defer f.Close()
		r = f
	}
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read password from %s: %w", path, err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// generatePassword returns 20 characters from an alphabet without look-alikes
// (about 115 bits).
func generatePassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	for i := range b {
		b[i] = alphabet[randIndex(len(alphabet))]
	}
	return string(b)
}

func randIndex(n int) int {
	// Rejection sampling keeps every character equally likely.
	var buf [1]byte
	for {
		_, _ = rand.Read(buf[:])
		if int(buf[0]) < 256-256%n {
			return int(buf[0]) % n
		}
	}
}

func (e *env) usersList(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("users list", flag.ContinueOnError)
	data := dataFlag(fs)
	st, err := e.openForCommand(ctx, fs, data, args)
	if err != nil {
		return err
	}
	defer st.Close()
	users, err := st.ListUsers(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tROLE\tCREATED")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, u.Role, showTime(u.CreatedAt, "-"))
	}
	return tw.Flush()
}
