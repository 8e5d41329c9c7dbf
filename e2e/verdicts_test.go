package e2e

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var accessRE = regexp.MustCompile(`access:[0-9]+:[0-9]+(\.[0-9]+)?:`)

var updateVerdicts = flag.Bool("update-verdicts", false, "rewrite testdata/verdicts.golden.json")

// verdictReport is the part of the report the verdict test compares.
type verdictReport struct {
	Controls []struct {
		ControlID    string   `json:"control_id"`
		Status       string   `json:"status"`
		Automated    bool     `json:"automated"`
		Explanation  string   `json:"explanation"`
		EvidenceRefs []string `json:"evidence_refs"`
		Since        *string  `json:"since"`
		Checks       []struct {
			ID              string `json:"id"`
			Status          string `json:"status"`
			FailingSubjects []struct {
				Subject string `json:"subject"`
			} `json:"failing_subjects"`
			ExceptedSubjects []struct {
				Subject     string `json:"subject"`
				ExceptionID string `json:"exception_id"`
			} `json:"excepted_subjects"`
		} `json:"checks"`
	} `json:"controls"`
}

// golden is what the test pins: every automated control's status, and
// each check's status and failing subjects (temp folders replaced).
type golden struct {
	Controls map[string]string   `json:"controls"`
	Checks   map[string]string   `json:"checks"`
	Failing  map[string][]string `json:"failing"`
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(to), 0o750)
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}

// TestControlVerdicts runs the real datasets, models and access plugins
// over a small ML host with planted problems (a world-readable customer
// dataset, a pickle that calls os.system, root logins and a brute force in
// auth.log) and pins the exact verdict of every automated control. The
// encryption plugin is not configured, so its controls must say
// insufficient evidence, never compliant. Then it records an exception,
// an attestation and an SoA exclusion and checks that the report applies
// them. After a deliberate change of plugins or checks, rerun with
// -update-verdicts and review the diff of testdata/verdicts.golden.json.
func TestControlVerdicts(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	datasets := datasetTree(t)
	models := filepath.Join(t.TempDir(), "models")
	fixtures := filepath.Join("..", "plugins", "models", "testdata", "fixtures")
	copyFile(t, filepath.Join(fixtures, "evil.pkl"), filepath.Join(models, "downloads", "evil.pkl"), 0o640)
	copyFile(t, filepath.Join(fixtures, "tiny.safetensors"), filepath.Join(models, "prod", "tiny.safetensors"), 0o640)
	logs := t.TempDir()
	authLog := filepath.Join(logs, "auth.log")
	copyFile(t, filepath.Join("..", "plugins", "access", "testdata", "auth.log"), authLog, 0o640)

	c := newCollector(t, "")
	c.start()
	a := newAgent(t, c.url,
		pluginConf{name: "datasets", exe: "annexa-plugin-datasets", yaml: "roots: [" + datasets + "]\ninterval: 1h"},
		pluginConf{name: "models", exe: "annexa-plugin-models", yaml: "roots: [" + models + "]\ninterval: 1h\ndeployed_roots: [" + filepath.Join(models, "prod") + "]"},
		pluginConf{name: "access", exe: "annexa-plugin-access", yaml: "auth_logs: [" + authLog + "]\nyear: 2026\ninterval: 1h"},
	)
	a.enroll(c)
	start := time.Now()
	a.start()
	waitFor(t, "a full scan of the three plugins and the access summary", 60*time.Second, func() bool {
		return c.tryCount(`SELECT count(*) FROM current WHERE kind='scan.complete' AND deleted=0`) == 3 &&
			c.tryCount(`SELECT count(*) FROM current WHERE kind='access.summary' AND deleted=0`) > 0
	})
	t.Logf("scans landed after %s", time.Since(start))
	// Let the batches after the scans land, then freeze the evidence.
	time.Sleep(3 * time.Second)
	a.stop()

	normalise := func(s string) string {
		// access.event subjects hold the log's device and inode.
		s = accessRE.ReplaceAllString(s, "access:<auth.log>:")
		return strings.NewReplacer(datasets, "<datasets>", models, "<models>", logs, "<logs>").Replace(s)
	}
	read := func() verdictReport {
		var r verdictReport
		if err := json.Unmarshal([]byte(c.run("report", "--data", c.data, "--format", "json")), &r); err != nil {
			t.Fatalf("report: %v", err)
		}
		return r
	}
	r := read()
	got := golden{Controls: map[string]string{}, Checks: map[string]string{}, Failing: map[string][]string{}}
	for _, ctl := range r.Controls {
		if ctl.Since == nil {
			t.Errorf("%s has no since", ctl.ControlID)
		}
		if !ctl.Automated {
			if ctl.Status != "manual" {
				t.Errorf("%s has no check but is %s", ctl.ControlID, ctl.Status)
			}
			continue
		}
		got.Controls[ctl.ControlID] = ctl.Status
		for _, ch := range ctl.Checks {
			got.Checks[ch.ID] = ch.Status
			var subs []string
			for _, f := range ch.FailingSubjects {
				subs = append(subs, normalise(f.Subject))
			}
			slices.Sort(subs)
			subs = slices.Compact(subs)
			if len(subs) > 0 {
				got.Failing[ch.ID] = subs
			}
		}
	}
	// The planted problems, spelt out so a golden rewrite cannot hide them.
	for ctl, want := range map[string]string{
		"iso27001-2022/8.3":  "noncompliant",          // customers/ is world-readable
		"iso27001-2022/8.7":  "noncompliant",          // evil.pkl calls os.system
		"iso27001-2022/8.5":  "noncompliant",          // root logins, brute force
		"iso27001-2022/5.9":  "compliant",             // a fresh, healthy dataset inventory
		"iso27001-2022/8.20": "insufficient_evidence", // no encryption plugin
	} {
		if got.Controls[ctl] != want {
			t.Errorf("%s = %s, want %s", ctl, got.Controls[ctl], want)
		}
	}
	if !slices.Contains(got.Failing["datasets.not_world_readable"], "dataset:<datasets>/customers") {
		t.Errorf("datasets.not_world_readable fails on %v", got.Failing["datasets.not_world_readable"])
	}
	if !slices.Contains(got.Failing["models.no_critical_findings"], "model:<models>/downloads/evil.pkl") {
		t.Errorf("models.no_critical_findings fails on %v", got.Failing["models.no_critical_findings"])
	}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(got)
	b := buf.Bytes()
	path := filepath.Join("testdata", "verdicts.golden.json")
	if *updateVerdicts {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./e2e -run TestControlVerdicts -update-verdicts to create it)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("verdicts differ from %s (rerun with -update-verdicts after checking the change):\n%s", path, b)
	}

	// Decisions, through the command line, apply to the same evidence.
	c.run("exceptions", "add", "--data", c.data, "--check", "datasets.not_world_readable", "--subject", "dataset:"+datasets+"/customers",
		"--owner", "data-eng", "--approver", "ciso", "--reason", "public sample, no personal data", "--expires", "30d")
	c.run("attest", "--data", c.data, "--control", "iso27001-2022/5.1", "--document", "ISMS-POL-001", "--author", "ciso", "--expires", "90d")
	c.run("soa", "set", "--data", c.data, "--control", "iso27001-2022/8.20", "--not-applicable", "--justification", "no network services on this host")
	r = read()
	for _, ctl := range r.Controls {
		switch ctl.ControlID {
		case "iso27001-2022/8.3":
			ch := ctl.Checks[0]
			if ch.ID != "datasets.not_world_readable" || len(ch.FailingSubjects) != 0 || len(ch.ExceptedSubjects) != 1 ||
				!strings.HasSuffix(ch.ExceptedSubjects[0].Subject, "/customers") {
				t.Errorf("8.3 after the exception: %s %+v", ctl.Status, ch)
			}
			if ctl.Status != "compliant" || !slices.ContainsFunc(ctl.EvidenceRefs, func(s string) bool { return strings.HasPrefix(s, "exception:exc_") }) {
				t.Errorf("8.3 after the exception: %s, refs %v", ctl.Status, ctl.EvidenceRefs)
			}
		case "iso27001-2022/5.1":
			if ctl.Status != "compliant" || !strings.Contains(ctl.Explanation, "ISMS-POL-001") {
				t.Errorf("5.1 after the attestation: %s %q", ctl.Status, ctl.Explanation)
			}
		case "iso27001-2022/8.20":
			if ctl.Status != "not_applicable" {
				t.Errorf("8.20 after the SoA exclusion: %s", ctl.Status)
			}
		}
	}
	if out := c.run("verify", "--data", c.data); !strings.Contains(out, "intact") {
		t.Errorf("verify: %s", out)
	}
}
