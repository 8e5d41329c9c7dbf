package lineage

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
)

func TestNormalise(t *testing.T) {
	for in, want := range map[string]string{
		"tatsu-lab/alpaca":                                      "tatsu-lab/alpaca",
		"  Tatsu-Lab/Alpaca  ":                                  "tatsu-lab/alpaca",
		"hf://datasets/tatsu-lab/alpaca":                        "tatsu-lab/alpaca",
		"HF://datasets/tatsu-lab/alpaca@main":                   "tatsu-lab/alpaca",
		"https://huggingface.co/datasets/tatsu-lab/alpaca/":     "tatsu-lab/alpaca",
		"https://huggingface.co/datasets/tatsu-lab/alpaca@v1.0": "tatsu-lab/alpaca",
		"datasets/squad":                                        "squad",
		"squad@refs/convert/parquet":                            "squad",
		"iris/":                                                 "iris",
		"org/name@refs/pr/1":                                    "org/name",
		"org/name/@main":                                        "org/name",
		"":                                                      "",
		"   ":                                                   "",
		// Paths keep their case and any @; only cleaned.
		"/srv/ML/data@2024/":    "/srv/ML/data@2024",
		" /srv/ml/../ml/train ": "/srv/ml/train",
	} {
		if got := Normalise(in); got != want {
			t.Errorf("Normalise(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMoreSensitive(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"restricted", "confidential", true},
		{"Confidential", "internal", true},
		{"internal", "public", true},
		{"public", "", true},
		{"", "public", false},
		{"confidential", "restricted", false},
		{"secret", "", false}, // unknown levels rank as nothing
		{"internal", "internal", false},
	} {
		if got := MoreSensitive(c.a, c.b); got != c.want {
			t.Errorf("MoreSensitive(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

func ds(agent, host, dir, attrs string) Asset {
	return Asset{AgentID: agent, Host: host, Kind: "dataset", Subject: "dataset:" + dir, Attributes: json.RawMessage(attrs)}
}

func model(agent, host, file string, datasets ...string) Asset {
	b, _ := json.Marshal(map[string]any{"path": file, "datasets": datasets})
	return Asset{AgentID: agent, Host: host, Kind: "model", Subject: "model:" + file, Attributes: b}
}

// fleet: an Alpaca copy on two hosts, a customers dataset with personal
// data on gpu1, a clean iris dataset, a dataset nested in another, and
// one whose sampling said nothing about personal data.
func fleet() []Asset {
	return []Asset{
		ds("a1", "gpu1", "/srv/ds/alpaca", `{"path":"/srv/ds/alpaca","name":"tatsu-lab/alpaca","names":["tatsu-lab/alpaca","alpaca"],"personal_data":false,"pii":{},"classification":"internal"}`),
		ds("a2", "gpu2", "/cache/datasets--tatsu-lab--alpaca", `{"path":"/cache/datasets--tatsu-lab--alpaca","name":"tatsu-lab/alpaca","names":["tatsu-lab/alpaca"],"personal_data":false,"classification":"public"}`),
		ds("a1", "gpu1", "/srv/ds/customers", `{"path":"/srv/ds/customers","name":"customers","names":["customers"],"personal_data":true,"pii":{"email":12,"phone":3,"us_ssn":0},"classification":"confidential"}`),
		ds("a1", "gpu1", "/srv/ds/iris", `{"path":"/srv/ds/iris","name":"iris","names":["iris","Iris Flowers"],"personal_data":false,"pii":{},"classification":"public"}`),
		ds("a1", "gpu1", "/srv/ds/corpus", `{"path":"/srv/ds/corpus","name":"corpus","names":["corpus"],"personal_data":false}`),
		ds("a1", "gpu1", "/srv/ds/corpus/cards", `{"path":"/srv/ds/corpus/cards","name":"cards","names":["cards"],"pii":{"credit_card":{"count":4}},"classification":"restricted"}`),
		ds("a1", "gpu1", "/srv/ds/legacy", `{"path":"/srv/ds/legacy","name":"legacy"}`),
		ds("a1", "gpu1", "/srv/ds/photos", `{"path":"/srv/ds/photos","names":["photos"],"personal_data":false,"pii":{},"pii_sampled_fraction":0,"classification":"internal"}`),
		ds("a1", "gpu1", "/srv/ds/broken", `not json`),
		{AgentID: "a1", Host: "gpu1", Kind: "access.event", Subject: "access:1", Attributes: json.RawMessage(`{"datasets":["iris"]}`)},
	}
}

func keys(refs []DatasetRef) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Host+":"+r.Subject+"/"+r.Match)
	}
	return out
}

func TestJoin(t *testing.T) {
	for _, c := range []struct {
		name  string
		model Asset
		// matched per entry, as host:subject/match
		matched   [][]string
		unmatched []string
		personal  *bool
		pdSets    []string
		class     string
	}{
		{name: "hub id on two hosts, any spelling",
			model:    model("a3", "gpu3", "/m/llama.gguf", "hf://datasets/Tatsu-Lab/Alpaca@main"),
			matched:  [][]string{{"gpu1:dataset:/srv/ds/alpaca/name", "gpu2:dataset:/cache/datasets--tatsu-lab--alpaca/name"}},
			personal: ptr(false), class: "internal"},
		{name: "a copy on the model's own host is the one it was trained on",
			model:    model("a2", "gpu2", "/m/chat.gguf", "tatsu-lab/alpaca"),
			matched:  [][]string{{"gpu2:dataset:/cache/datasets--tatsu-lab--alpaca/name"}},
			personal: ptr(false), class: "public"},
		{name: "a bare name does not match org/name, but an alias does",
			model:   model("a1", "gpu1", "/m/a.safetensors", "alpaca", "stanford/alpaca"),
			matched: [][]string{{"gpu1:dataset:/srv/ds/alpaca/name"}, nil}, unmatched: []string{"stanford/alpaca"},
			class: "internal"},
		{name: "personal data: the dataset and its classification",
			model:    model("a1", "gpu1", "/m/churn.onnx", "customers", "iris flowers"),
			matched:  [][]string{{"gpu1:dataset:/srv/ds/customers/name"}, {"gpu1:dataset:/srv/ds/iris/name"}},
			personal: ptr(true), pdSets: []string{"gpu1:dataset:/srv/ds/customers/name"}, class: "confidential"},
		{name: "personal data known even with an unmatched name",
			model:   model("a1", "gpu1", "/m/x.onnx", "customers", "nowhere/else"),
			matched: [][]string{{"gpu1:dataset:/srv/ds/customers/name"}, nil}, unmatched: []string{"nowhere/else"},
			personal: ptr(true), pdSets: []string{"gpu1:dataset:/srv/ds/customers/name"}, class: "confidential"},
		{name: "path inside a dataset, on the same host only",
			model:     model("a1", "gpu1", "/m/p.pt", "/srv/ds/iris/train.csv", "/srv/ds/iris", "/srv/ds/iris-v2/x"),
			matched:   [][]string{{"gpu1:dataset:/srv/ds/iris/path"}, {"gpu1:dataset:/srv/ds/iris/path"}, nil},
			unmatched: []string{"/srv/ds/iris-v2/x"}, class: "public"},
		{name: "a path on another host matches nothing",
			model:   model("a2", "gpu2", "/m/p.pt", "/srv/ds/iris"),
			matched: [][]string{nil}, unmatched: []string{"/srv/ds/iris"}},
		{name: "the deepest dataset holding a path; pii counts are personal data",
			model:    model("a1", "gpu1", "/m/fraud.pt", "/srv/ds/corpus/cards/2024.parquet"),
			matched:  [][]string{{"gpu1:dataset:/srv/ds/corpus/cards/path"}},
			personal: ptr(true), pdSets: []string{"gpu1:dataset:/srv/ds/corpus/cards/path"}, class: "restricted"},
		{name: "a dataset nothing could be sampled in is not known to be free of personal data",
			model:   model("a1", "gpu1", "/m/vision.pt", "photos"),
			matched: [][]string{{"gpu1:dataset:/srv/ds/photos/name"}}, class: "internal"},
		{name: "a dataset that does not say whether it holds personal data",
			model:   model("a1", "gpu1", "/m/old.pt", "legacy", "iris"),
			matched: [][]string{{"gpu1:dataset:/srv/ds/legacy/name"}, {"gpu1:dataset:/srv/ds/iris/name"}}, class: "public"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := Join(append(fleet(), c.model))
			m := g.Model(c.model.AgentID, c.model.Subject)
			if m == nil {
				t.Fatal("model not in the graph")
			}
			if len(m.Datasets) != len(c.matched) {
				t.Fatalf("%d entries, want %d", len(m.Datasets), len(c.matched))
			}
			for i, e := range m.Datasets {
				if got := keys(e.Matched); !slices.Equal(got, c.matched[i]) {
					t.Errorf("entry %q matched %v, want %v", e.Name, got, c.matched[i])
				}
			}
			if !slices.Equal(m.Unmatched, c.unmatched) && !(len(m.Unmatched) == 0 && len(c.unmatched) == 0) {
				t.Errorf("unmatched = %v, want %v", m.Unmatched, c.unmatched)
			}
			if (m.TrainedOnPersonalData == nil) != (c.personal == nil) || (c.personal != nil && *m.TrainedOnPersonalData != *c.personal) {
				t.Errorf("trained_on_personal_data = %v, want %v", show(m.TrainedOnPersonalData), show(c.personal))
			}
			if got := keys(m.PersonalData); !slices.Equal(got, c.pdSets) {
				t.Errorf("personal data datasets = %v, want %v", got, c.pdSets)
			}
			if m.Classification != c.class {
				t.Errorf("classification = %q, want %q", m.Classification, c.class)
			}
			// Every matched dataset lists the model back.
			for _, e := range m.Datasets {
				for _, r := range e.Matched {
					d := g.Dataset(r.AgentID, r.Subject)
					if d == nil || !slices.Contains(d.Models, m.Key) {
						t.Errorf("dataset %s does not list the model: %+v", r.Subject, d)
					}
				}
			}
		})
	}
}

func show(b *bool) string {
	if b == nil {
		return "null"
	}
	if *b {
		return "true"
	}
	return "false"
}

func TestJoinFleet(t *testing.T) {
	assets := append(fleet(),
		model("a1", "gpu1", "/m/churn.onnx", "customers", "customers/"), // one dataset named twice
		model("a2", "gpu2", "/m/chat.gguf", "tatsu-lab/alpaca"),
		model("a1", "gpu1", "/m/plain.safetensors"), // names nothing
		Asset{AgentID: "a1", Host: "gpu1", Kind: "model", Subject: "model:/m/bad", Attributes: json.RawMessage(`[1]`)},
	)
	g := Join(assets)
	if len(g.Models) != 2 || g.ModelsWithoutDatasets != 2 {
		t.Fatalf("models = %+v, without datasets = %d", g.Models, g.ModelsWithoutDatasets)
	}
	// Sorted by host, then subject.
	if g.Models[0].Host != "gpu1" || g.Models[1].Host != "gpu2" {
		t.Errorf("model order = %v, %v", g.Models[0].Key, g.Models[1].Key)
	}
	cust := g.Dataset("a1", "dataset:/srv/ds/customers")
	if cust == nil || len(cust.Models) != 1 || cust.Models[0].Subject != "model:/m/churn.onnx" ||
		!slices.Equal(cust.PII, []string{"email", "phone"}) || cust.PersonalData == nil || !*cust.PersonalData {
		t.Errorf("customers = %+v", cust)
	}
	// gpu2's own alpaca copy lists the gpu2 model, gpu1's does not; no
	// other dataset is used.
	if len(g.Datasets) != 2 {
		t.Errorf("datasets used = %+v", g.Datasets)
	}
	if d := g.Dataset("a2", "dataset:/cache/datasets--tatsu-lab--alpaca"); d == nil || len(d.Models) != 1 || d.Models[0].Host != "gpu2" {
		t.Errorf("gpu2 alpaca = %+v", d)
	}
	if d := g.Dataset("a1", "dataset:/srv/ds/alpaca"); d != nil {
		t.Errorf("gpu1 alpaca lists %+v", d.Models)
	}
	if g.Dataset("a1", "dataset:/srv/ds/iris") != nil {
		t.Error("iris is named by no model here")
	}
	if pd := g.TrainedOnPersonalData(); len(pd) != 1 || pd[0].Subject != "model:/m/churn.onnx" {
		t.Errorf("trained on personal data = %+v", pd)
	}
	// The graph is JSON with empty lists, never null ones.
	b, err := json.Marshal(Join(nil))
	if err != nil || string(b) != `{"models":[],"datasets":[],"models_without_datasets":0}` {
		t.Errorf("empty graph = %s, %v", b, err)
	}
}

// A dataset cached on every host of a large fleet: a model on a host
// without a copy lists the first MaxMatched copies and counts them all,
// and personal data in a copy past the listed ones still counts.
func TestJoinManyCopies(t *testing.T) {
	var assets []Asset
	const copies = MaxMatched + 10
	for i := range copies {
		pd := "false"
		if i == copies-1 {
			pd = "true"
		}
		agent, host := fmt.Sprintf("a%03d", i), fmt.Sprintf("gpu%03d", i)
		assets = append(assets, ds(agent, host, "/hub/common", `{"path":"/hub/common","names":["org/common"],"personal_data":`+pd+`,"classification":"internal"}`))
	}
	for i := range 3 {
		assets = append(assets, model("zz", "other", fmt.Sprintf("/m/%d.pt", i), "org/common"))
	}
	g := Join(assets)
	for _, m := range g.Models {
		e := m.Datasets[0]
		if len(e.Matched) != MaxMatched || e.MatchedTotal != copies || e.Matched[0].Host != "gpu000" {
			t.Errorf("%s: %d listed of %d, first %s", m.Subject, len(e.Matched), e.MatchedTotal, e.Matched[0].Host)
		}
		if m.TrainedOnPersonalData == nil || !*m.TrainedOnPersonalData || len(m.PersonalData) != 1 || m.PersonalData[0].Host != fmt.Sprintf("gpu%03d", copies-1) {
			t.Errorf("%s: personal data %v %+v", m.Subject, show(m.TrainedOnPersonalData), m.PersonalData)
		}
	}
	if d := g.Dataset("a000", "dataset:/hub/common"); d == nil || len(d.Models) != 3 {
		t.Errorf("first copy = %+v", d)
	}
	// Past the listed copies, the one with personal data still names the
	// models trained on it; the others do not.
	if d := g.Dataset(fmt.Sprintf("a%03d", copies-1), "dataset:/hub/common"); d == nil || len(d.Models) != 3 {
		t.Errorf("the personal-data copy = %+v", d)
	}
	if d := g.Dataset(fmt.Sprintf("a%03d", copies-2), "dataset:/hub/common"); d != nil {
		t.Errorf("an unlisted copy lists models: %+v", d)
	}
}
