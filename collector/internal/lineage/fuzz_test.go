package lineage

import (
	"encoding/json"
	"strings"
	"testing"
)

func FuzzNormalise(f *testing.F) {
	for _, s := range []string{"tatsu-lab/alpaca", " HF://datasets/Org/Name@main/ ", "https://huggingface.co/datasets/x@refs/pr/1",
		"/srv/ml/../data@2024/", "datasets/", "@", "//", "\u00c9T\u00c9/donn\u00e9es"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalise(s)
		if Normalise(n) != n {
			t.Errorf("Normalise is not idempotent: %q → %q → %q", s, n, Normalise(n))
		}
		if strings.TrimSpace(n) != n && !strings.HasPrefix(n, "/") {
			t.Errorf("%q keeps surrounding space: %q", s, n)
		}
		if !strings.HasPrefix(n, "/") && (strings.ContainsRune(n, '@') || strings.HasSuffix(n, "/") || strings.ToLower(n) != n) {
			t.Errorf("%q → %q still has an @, a trailing / or upper case", s, n)
		}
	})
}

// FuzzJoin feeds arbitrary attributes to both halves: the join never
// fails, and every link it makes is listed from both ends.
func FuzzJoin(f *testing.F) {
	f.Add([]byte(`{"path":"/srv/ds/iris","name":"iris","names":["iris","Iris Flowers"],"personal_data":false,"pii":{},"classification":"public"}`),
		[]byte(`{"datasets":["Iris","/srv/ds/iris/x.csv","hf://datasets/org/missing@main"]}`))
	f.Add([]byte(`{"path":"/","names":["a"],"pii":{"email":{"count":2},"phone":"x"}}`), []byte(`{"datasets":["/etc/passwd","A@b"]}`))
	f.Add([]byte(`{"names":null,"personal_data":"yes"}`), []byte(`{"datasets":"iris"}`))
	f.Add([]byte(`[]`), []byte(`null`))
	f.Fuzz(func(t *testing.T, dsAttrs, modelAttrs []byte) {
		g := Join([]Asset{
			{AgentID: "a", Host: "h", Kind: "dataset", Subject: "dataset:1", Attributes: json.RawMessage(dsAttrs)},
			{AgentID: "a", Host: "h", Kind: "dataset", Subject: "dataset:2", Attributes: json.RawMessage(dsAttrs)},
			{AgentID: "a", Host: "h", Kind: "model", Subject: "model:1", Attributes: json.RawMessage(modelAttrs)},
		})
		for _, m := range g.Models {
			for _, e := range m.Datasets {
				if len(e.Matched) > e.MatchedTotal {
					t.Errorf("%d listed of %d", len(e.Matched), e.MatchedTotal)
				}
				for _, r := range e.Matched {
					d := g.Dataset(r.AgentID, r.Subject)
					if d == nil {
						t.Fatalf("matched %s is not in the graph", r.Subject)
					}
					found := false
					for _, k := range d.Models {
						found = found || k == m.Key
					}
					if !found {
						t.Errorf("%s does not list %s back", r.Subject, m.Subject)
					}
				}
			}
			if m.TrainedOnPersonalData != nil && *m.TrainedOnPersonalData && len(m.PersonalData) == 0 {
				t.Error("trained on personal data without a dataset that holds it")
			}
		}
		if _, err := json.Marshal(g); err != nil {
			t.Error(err)
		}
	})
}
