package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/annexa/annexa"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func listAll(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,Deps", mod+"/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func ours(paths []string) []string {
	var out []string
	for _, p := range paths {
		if p == mod || strings.HasPrefix(p, mod+"/") {
			out = append(out, p)
		}
	}
	return out
}

func under(p, prefix string) bool {
	return p == mod+"/"+prefix || strings.HasPrefix(p, mod+"/"+prefix+"/")
}

func TestImportRules(t *testing.T) {
	pkgs := listAll(t)
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for _, p := range pkgs {
		direct := ours(p.Imports)
		deps := ours(p.Deps)
		switch {
		case under(p.ImportPath, "proto"):
			for _, d := range direct {
				if !under(d, "proto") {
					t.Errorf("%s imports %s: proto/ imports nothing of ours", p.ImportPath, d)
				}
			}
		case under(p.ImportPath, "evidence"):
			if len(direct) > 0 {
				t.Errorf("%s imports %v: the shared evidence package stands alone", p.ImportPath, direct)
			}
		case under(p.ImportPath, "plugins/sdk"), under(p.ImportPath, "plugins/plugintest"):
		case under(p.ImportPath, "plugins"):
			// Built-in plugins use the same path a third party does.
			own := strings.Join(strings.Split(strings.TrimPrefix(p.ImportPath, mod+"/"), "/")[:2], "/")
			for _, d := range direct {
				if !under(d, "plugins/sdk") && !under(d, own) {
					t.Errorf("%s imports %s: a built-in plugin imports only plugins/sdk of ours", p.ImportPath, d)
				}
			}
		}
		for _, d := range deps {
			if under(p.ImportPath, "agent") && under(d, "collector") {
				t.Errorf("%s depends on %s: the agent never imports the collector", p.ImportPath, d)
			}
			if under(p.ImportPath, "collector") && under(d, "agent") {
				t.Errorf("%s depends on %s: the collector never imports the agent", p.ImportPath, d)
			}
		}
		if p.ImportPath == mod+"/collector/internal/controls" {
			for _, d := range p.Deps {
				if d == "net/http" || d == "database/sql" || under(d, "collector/internal/store") {
					t.Errorf("controls depends on %s: the engine is pure (evidence in, results out)", d)
				}
			}
		}
	}
}
