package soasheet

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/store"
)

// FuzzRead feeds spreadsheet and YAML files to the import parser, seeded
// with the files make_fixtures.py writes the way Excel and LibreOffice
// do. Whatever comes in is either refused with problems that each name
// the file, or read as rows the store would accept, one per known control;
// and those rows, exported again, read back as the same decisions.
func FuzzRead(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, ".py") {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, strings.HasSuffix(name, ".yaml"))
	}
	f.Add([]byte("control_id;applicable;justification\r\niso27001-2022/5.1;yes;\"a;b\"\r\n"), false)
	f.Add([]byte("- control_id: iso27001-2022/5.1\n  applicable: no\n  justification: x\n"), true)
	ids := known(f)
	isKnown := map[string]bool{}
	for _, id := range ids {
		isKnown[id] = true
	}
	f.Fuzz(func(t *testing.T, data []byte, asYAML bool) {
		format := CSV
		if asYAML {
			format = YAML
		}
		s, err := Read(bytes.NewReader(data), "in", format, ids)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || len(e.Problems) == 0 || len(e.Problems) > maxProblems {
				t.Fatalf("error is not a list of problems: %v", err)
			}
			for _, p := range e.Problems {
				if p.File != "in" || p.Msg == "" || p.Line < 0 || p.Col < 0 {
					t.Fatalf("problem without a place or a message: %+v", p)
				}
			}
			return
		}
		seen := map[string]bool{}
		lines := make([]Line, 0, len(s.Rows))
		for _, r := range s.Rows {
			if !isKnown[r.ControlID] || seen[r.ControlID] {
				t.Fatalf("row of an unknown or repeated control: %+v", r)
			}
			seen[r.ControlID] = true
			e := store.SoAEntry{ControlID: r.ControlID, Applicable: r.Applicable, Justification: r.Justification, Author: "fuzz"}
			if err := e.Validate(); err != nil {
				t.Fatalf("row the store refuses: %+v: %v", r, err)
			}
			if r.Line < 1 {
				t.Fatalf("row without a line: %+v", r)
			}
			lines = append(lines, Line{ControlID: r.ControlID, Applicable: r.Applicable, Justification: r.Justification})
		}
		for _, f := range []Format{CSV, YAML} {
			var buf bytes.Buffer
			if err := Write(&buf, f, lines, time.Unix(0, 0)); err != nil {
				t.Fatal(err)
			}
			if len(lines) == 0 {
				continue
			}
			back, err := Read(&buf, "again", f, ids)
			if err != nil {
				t.Fatalf("%s export of %+v does not read back: %v", f, lines, err)
			}
			for i, r := range back.Rows {
				if r.ControlID != lines[i].ControlID || r.Applicable != lines[i].Applicable || r.Justification != lines[i].Justification {
					t.Fatalf("%s round trip changed row %d: %+v, want %+v", f, i, r, lines[i])
				}
			}
		}
	})
}
