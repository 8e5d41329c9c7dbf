package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/auth"
	"github.com/annexa/annexa/collector/internal/store"
	"github.com/annexa/annexa/collector/internal/store/sqlite"
)

func TestVersionStatus(t *testing.T) {
	for _, tc := range []struct{ agent, min, want string }{
		{"v1.4.0", "v1.4.0", "ok"},
		{"1.4.1", "v1.4.0", "ok"},
		{"v1.10.0", "v1.9.3", "ok"},
		{"v1.3.9", "v1.4.0", "below minimum"},
		{"v0.9.0-12-gabc", "v1.0", "below minimum"},
		{"v2.0.0+build", "1.99.99", "ok"},
		{"41a3030", "v1.0.0", "unknown version"},
		{"0.0.0-git.20261129104453.gb785529", "v1.0.0", "below minimum"}, // make build without a release tag
		{"0.0.0-git.20261129104453.gb785529+dirty", "0.0.0", "ok"},
		{"8099192", "v1.0.0", "unknown version"}, // a commit hash that is all digits
		{"v2", "v1.0.0", "ok"},
		{"dev", "v1.0.0", "unknown version"},
		{"", "v1.0.0", "unknown version"},
		{"v1.0.0", "", ""},
	} {
		if got := versionStatus(tc.agent, tc.min); got != tc.want {
			t.Errorf("versionStatus(%q, %q) = %q, want %q", tc.agent, tc.min, got, tc.want)
		}
	}
}

func TestAgentsListMinVersion(t *testing.T) {
	data := t.TempDir()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(data, dbName), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{"v1.2.0", "v1.5.1", "0c1d2e3"} {
		_, hash := auth.NewToken()
		if err := st.CreateToken(ctx, hash, time.Now().Add(time.Hour), 1); err != nil {
			t.Fatal(err)
		}
		id := auth.NewAgentID()
		_, ch := auth.NewCredential(id)
		if err := st.Enroll(ctx, hash, store.NewAgent{ID: id, Host: []string{"gpu1", "gpu2", "gpu3"}[i], AgentVersion: v, CredentialHash: ch}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	out, errs, code := cli(t, "agents", "list", "--data", data, "--min-version", "v1.4.0")
	if code != 0 {
		t.Fatalf("agents list: %s", errs)
	}
	for host, want := range map[string]string{"gpu1": "below minimum", "gpu2": "ok", "gpu3": "unknown version"} {
		found := false
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, " "+host+" ") && strings.HasSuffix(strings.TrimSpace(line), want) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s should be flagged %q:\n%s", host, want, out)
		}
	}
	if _, errs, code := cli(t, "agents", "list", "--data", data, "--min-version", "latest"); code != 2 || !strings.Contains(errs, "not a release version") {
		t.Errorf("bad --min-version: %d %s", code, errs)
	}
}
