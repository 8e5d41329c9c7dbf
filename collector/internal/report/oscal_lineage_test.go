package report

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestOSCALLineage: the OSCAL export carries the lineage of the JSON
// report on its inventory items, so an auditor reading only OSCAL can tell
// which models were trained on which datasets, and on personal data.
func TestOSCALLineage(t *testing.T) {
	r := realFleet(t)
	type prop struct{ Name, Value, Class, Remarks string }
	var doc struct {
		AR struct {
			Results []struct {
				LocalDefinitions struct {
					InventoryItems []struct {
						UUID  string `json:"uuid"`
						Props []prop `json:"props"`
					} `json:"inventory-items"`
				} `json:"local-definitions"`
			} `json:"results"`
		} `json:"assessment-results"`
	}
	if err := json.Unmarshal(writeFormat(t, "oscal", r), &doc); err != nil {
		t.Fatal(err)
	}
	subject := map[string]string{} // item UUID → subject
	all := map[string]map[string][]prop{}
	for _, it := range doc.AR.Results[0].LocalDefinitions.InventoryItems {
		m := map[string][]prop{}
		for _, p := range it.Props {
			m[p.Name] = append(m[p.Name], p)
		}
		subject[it.UUID] = m["subject"][0].Value
		all[m["subject"][0].Value] = m
	}
	names := func(ps []prop) []string {
		var out []string
		for _, p := range ps {
			out = append(out, subject[p.Value])
		}
		slices.Sort(out)
		return out
	}
	churn := all["model:/fleet/srv/ml/models/churn/model.safetensors"]
	if got := names(churn["training-dataset"]); !slices.Equal(got, []string{"dataset:/fleet/srv/ml/datasets/customers"}) {
		t.Errorf("churn model's training datasets = %v (%+v)", got, churn["training-dataset"])
	}
	if p := churn["trained-on-personal-data"]; len(p) != 1 || p[0].Value != "true" {
		t.Errorf("churn model trained on personal data = %+v", p)
	}
	if p := churn["training-data-classification"]; len(p) != 1 || p[0].Value != "confidential" {
		t.Errorf("churn model's training data classification = %+v", p)
	}
	chat := all["model:/fleet/srv/ml/models/classifier/chat.gguf"]
	var unmatched []string
	for _, p := range chat["unmatched-training-dataset"] {
		unmatched = append(unmatched, p.Value)
	}
	if !slices.Equal(unmatched, []string{"tatsu-lab/alpaca", "openai/gsm8k", "hf://datasets/tatsu-lab/alpaca"}) {
		t.Errorf("chat.gguf unmatched = %v", unmatched)
	}
	if p := chat["trained-on-personal-data"]; len(p) != 1 || p[0].Value != "unknown" {
		t.Errorf("chat.gguf trained on personal data = %+v", p)
	}
	for _, p := range chat["training-dataset"] {
		if p.Class != "name" && p.Class != "path" {
			t.Errorf("chat.gguf training dataset without its match way: %+v", p)
		}
	}
	// And back: a dataset names the models trained on it.
	iris := all["dataset:/fleet/srv/ml/datasets/iris"]
	if got := names(iris["used-by-model"]); !slices.Equal(got, []string{"model:/fleet/srv/ml/models/classifier/chat.gguf", "model:/fleet/srv/ml/models/classifier/model.safetensors"}) {
		t.Errorf("iris used by = %v", got)
	}
	// A model that names no dataset gets no lineage props.
	for s, m := range all {
		if len(m["training-dataset"])+len(m["unmatched-training-dataset"]) == 0 && len(m["trained-on-personal-data"]) != 0 {
			t.Errorf("%s has lineage props without datasets", s)
		}
	}
}
