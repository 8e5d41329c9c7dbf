package report

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestLineage answers "which models were trained on personal data" from
// the JSON report of a fleet whose model cards (real plugin output on
// gpu1, documented attributes on gpu2) name their datasets.
func TestLineage(t *testing.T) {
	r := realFleet(t)
	var doc struct {
		Lineage struct {
			Models []struct {
				Host                  string   `json:"host"`
				Subject               string   `json:"subject"`
				Unmatched             []string `json:"unmatched"`
				TrainedOnPersonalData *bool    `json:"trained_on_personal_data"`
				PersonalData          []struct {
					Subject        string   `json:"subject"`
					PII            []string `json:"pii"`
					Classification string   `json:"classification"`
				} `json:"personal_data_datasets"`
				Classification string `json:"training_data_classification"`
			} `json:"models"`
			Datasets []struct {
				Subject string `json:"subject"`
				Models  []struct {
					Subject string `json:"subject"`
				} `json:"models"`
			} `json:"datasets"`
			ModelsWithoutDatasets int `json:"models_without_datasets"`
		} `json:"lineage"`
	}
	if err := json.Unmarshal(writeFormat(t, "json", r), &doc); err != nil {
		t.Fatal(err)
	}
	l := doc.Lineage
	pd := map[string]string{} // model → the personal-data dataset, its pii kinds and classification
	for _, m := range l.Models {
		if m.TrainedOnPersonalData != nil && *m.TrainedOnPersonalData {
			for _, d := range m.PersonalData {
				b, _ := json.Marshal(d.PII)
				pd[m.Host+" "+m.Subject] = d.Subject + " " + string(b) + " " + d.Classification + "/" + m.Classification
			}
		}
	}
	want := map[string]string{
		"gpu1 model:/fleet/srv/ml/models/churn/model.safetensors": `dataset:/fleet/srv/ml/datasets/customers ["email","person_name","phone"] confidential/confidential`,
		"gpu2 model:/srv/ml/models/triage.onnx":                   `dataset:/srv/ml/datasets/patients ["date_of_birth","email","person_name"] confidential/confidential`,
	}
	if len(pd) != len(want) {
		t.Errorf("trained on personal data: %v", pd)
	}
	for k, v := range want {
		if pd[k] != v {
			t.Errorf("%s: %q, want %q", k, pd[k], v)
		}
	}
	for _, m := range l.Models {
		switch m.Subject {
		case "model:/fleet/srv/ml/models/classifier/chat.gguf":
			// GGUF general.datasets plus the folder's card: the hub ids no
			// host holds stay unmatched, so personal data is not known.
			if !slices.Equal(m.Unmatched, []string{"tatsu-lab/alpaca", "openai/gsm8k", "hf://datasets/tatsu-lab/alpaca"}) || m.TrainedOnPersonalData != nil {
				t.Errorf("chat.gguf = %+v", m)
			}
		}
	}
	users := map[string][]string{}
	for _, d := range l.Datasets {
		for _, m := range d.Models {
			users[d.Subject] = append(users[d.Subject], m.Subject)
		}
	}
	if !slices.Equal(users["dataset:/fleet/srv/ml/datasets/iris"], []string{"model:/fleet/srv/ml/models/classifier/chat.gguf", "model:/fleet/srv/ml/models/classifier/model.safetensors"}) ||
		!slices.Equal(users["dataset:/fleet/srv/ml/datasets/customers"], []string{"model:/fleet/srv/ml/models/churn/model.safetensors"}) ||
		len(users) != 3 {
		t.Errorf("models by dataset = %v", users)
	}
	if l.ModelsWithoutDatasets != 1 { // the unsafe checkpoint has no card
		t.Errorf("models without datasets = %d", l.ModelsWithoutDatasets)
	}
	// The terminal summary names them too.
	sum := string(writeFormat(t, "summary", r))
	for _, want := range []string{
		"lineage: 4 models name their training datasets (2 trained on personal data), 1 name none",
		"trained on personal data: model:/fleet/srv/ml/models/churn/model.safetensors on gpu1: dataset:/fleet/srv/ml/datasets/customers on gpu1 (email, person_name, phone)",
		"trained on personal data: model:/srv/ml/models/triage.onnx on gpu2: dataset:/srv/ml/datasets/patients on gpu2 (date_of_birth, email, person_name)",
	} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
}
