package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/annexa/annexa/collector/internal/store"
)

func TestCycloneDXValidatesAgainstSchema(t *testing.T) {
	sch := cyclonedxSchema(t)
	cases := map[string]*Report{
		"empty store": Build(&store.Snapshot{}, now, Options{}),
		"small fleet": Build(fleet(), now, Options{}),
		"real fleet":  realFleet(t),
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			if err := validate(t, sch, writeFormat(t, "cyclonedx", r)); err != nil {
				t.Fatalf("the CycloneDX export breaks the schema:\n%v", err)
			}
		})
	}
}

// TestCycloneDXSchemaRejects proves the validation is not vacuous.
func TestCycloneDXSchemaRejects(t *testing.T) {
	sch := cyclonedxSchema(t)
	doc := writeFormat(t, "cyclonedx", realFleet(t))
	for name, mutate := range map[string]func(b map[string]any){
		"component type": func(b map[string]any) { comp0(b)["type"] = "model" },
		"hash":           func(b map[string]any) { comp0(b)["hashes"] = []any{map[string]any{"alg": "SHA-256", "content": "abc"}} },
		"spdx id": func(b map[string]any) {
			comp0(b)["licenses"] = []any{map[string]any{"license": map[string]any{"id": "apache-2.0"}}}
		},
		"serial": func(b map[string]any) { b["serialNumber"] = "1234" },
	} {
		t.Run(name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(doc, &m); err != nil {
				t.Fatal(err)
			}
			mutate(m)
			bad, _ := json.Marshal(m)
			if err := validate(t, sch, bad); err == nil {
				t.Error("the schema accepted a broken BOM")
			}
		})
	}
}

func comp0(b map[string]any) map[string]any { return b["components"].([]any)[0].(map[string]any) }

// TestSPDXIDs keeps the licence ids we emit inside SPDX's list as the
// schema has it.
func TestSPDXIDs(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(schemaDir, "cyclonedx-1.6", "spdx.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Enum []string `json:"enum"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	for _, id := range spdxIDs {
		if !slices.Contains(s.Enum, id) {
			t.Errorf("%s is not an SPDX licence id", id)
		}
	}
}

func TestCycloneDXContent(t *testing.T) {
	r := realFleet(t)
	raw := writeFormat(t, "cyclonedx", r)
	var bom cdxBOM
	if err := json.Unmarshal(raw, &bom); err != nil {
		t.Fatal(err)
	}
	byRef := map[string]cdxComponent{}
	for _, c := range bom.Components {
		if _, dup := byRef[c.BOMRef]; dup {
			t.Errorf("bom-ref %s twice", c.BOMRef)
		}
		byRef[c.BOMRef] = c
	}
	if len(bom.Components) != len(r.Assets) {
		t.Errorf("%d components for %d assets", len(bom.Components), len(r.Assets))
	}
	prop := func(props []cdxProp, name string) []string {
		var out []string
		for _, p := range props {
			if p.Name == "annexa:"+name {
				out = append(out, p.Value)
			}
		}
		return out
	}

	// The unsafe pickle: a model with its SHA-256, its finding, and a
	// model card that says it must not be loaded.
	evil := byRef["a1/model:/fleet/srv/ml/models/downloads/checkpoint.pt"]
	if evil.Type != "machine-learning-model" || len(evil.Hashes) != 1 || evil.Hashes[0].Content != "12004cf6fc843b46ebcae197cf4f7ff29f56797ba010720e4623fe1a3c28c364" {
		t.Errorf("evil model = %+v", evil)
	}
	if f := prop(evil.Properties, "finding"); len(f) != 1 || !strings.Contains(f[0], "critical pickle.global.posix.system") {
		t.Errorf("findings = %v", f)
	}
	if evil.ModelCard == nil || evil.ModelCard.Considerations == nil || !slices.Equal(prop(evil.ModelCard.Properties, "format"), []string{"pytorch-zip"}) ||
		!slices.Equal(prop(evil.ModelCard.Properties, "parameters"), []string{"6"}) {
		t.Errorf("evil model card = %+v", evil.ModelCard)
	}
	// gguf states its architecture and licence (SPDX id in SPDX's case).
	chat := byRef["a1/model:/fleet/srv/ml/models/classifier/chat.gguf"]
	if chat.ModelCard.ModelParameters == nil || chat.ModelCard.ModelParameters.ModelArchitecture != "llama" ||
		len(chat.Licenses) != 1 || chat.Licenses[0].License.ID != "Apache-2.0" {
		t.Errorf("gguf model = %+v", chat)
	}
	// safetensors carries its licence in metadata.
	st := byRef["a1/model:/fleet/srv/ml/models/classifier/model.safetensors"]
	if len(st.Licenses) != 1 || st.Licenses[0].License.ID != "MIT" {
		t.Errorf("safetensors licences = %+v", st.Licenses)
	}

	// The patients dataset: classification and personal data types, and
	// the model trained on it points at it.
	pat := byRef["a2/dataset:/srv/ml/datasets/patients"]
	if pat.Type != "data" || len(pat.Data) != 1 || pat.Data[0].Classification != "confidential" ||
		!slices.Equal(pat.Data[0].SensitiveData, []string{"date_of_birth", "email", "person_name"}) ||
		!slices.Equal(prop(pat.Properties, "pii:email"), []string{"41"}) || pat.Licenses[0].License.Name != "proprietary" {
		t.Errorf("patients = %+v", pat)
	}
	triage := byRef["a2/model:/srv/ml/models/triage.onnx"]
	if triage.ModelCard.ModelParameters == nil || len(triage.ModelCard.ModelParameters.Datasets) != 1 ||
		triage.ModelCard.ModelParameters.Datasets[0].Ref != pat.BOMRef {
		t.Errorf("triage lineage = %+v", triage.ModelCard.ModelParameters)
	}
	if !slices.Equal(prop(triage.ModelCard.Properties, "trained_on_personal_data"), []string{"true"}) ||
		!slices.Equal(prop(triage.ModelCard.Properties, "training_data_classification"), []string{"confidential"}) {
		t.Errorf("triage model card properties = %+v", triage.ModelCard.Properties)
	}
	// Real plugin output: the churn model's card names the customers
	// dataset by a path inside it; the classifier's card names iris by
	// its pretty name and a hub dataset no host holds, kept as text.
	churn := byRef["a1/model:/fleet/srv/ml/models/churn/model.safetensors"]
	cust := byRef["a1/dataset:/fleet/srv/ml/datasets/customers"]
	if churn.ModelCard == nil || churn.ModelCard.ModelParameters == nil ||
		!slices.Equal(churn.ModelCard.ModelParameters.Datasets, []cdxDataRef{{Ref: cust.BOMRef}}) ||
		!slices.Equal(prop(churn.ModelCard.Properties, "trained_on_personal_data"), []string{"true"}) {
		t.Errorf("churn lineage = %+v", churn.ModelCard)
	}
	cls := byRef["a1/model:/fleet/srv/ml/models/classifier/model.safetensors"]
	if cls.ModelCard == nil || cls.ModelCard.ModelParameters == nil ||
		!slices.Equal(cls.ModelCard.ModelParameters.Datasets, []cdxDataRef{{Ref: "a1/dataset:/fleet/srv/ml/datasets/iris"}}) ||
		!slices.Equal(prop(cls.ModelCard.Properties, "dataset"), []string{"hf://datasets/tatsu-lab/alpaca"}) {
		t.Errorf("classifier lineage = %+v", cls.ModelCard)
	}
	deps := map[string][]string{}
	for _, d := range bom.Dependencies {
		deps[d.Ref] = d.DependsOn
		for _, on := range d.DependsOn {
			if byRef[on].Type != "data" {
				t.Errorf("%s depends on %s, which is no data component", d.Ref, on)
			}
		}
	}
	if !slices.Equal(deps[triage.BOMRef], []string{pat.BOMRef}) || !slices.Equal(deps[churn.BOMRef], []string{cust.BOMRef}) || len(deps) != 4 {
		t.Errorf("dependencies = %+v", bom.Dependencies)
	}
	// The world-readable customers dataset says which check it fails.
	if fc := prop(cust.Properties, "failing_check"); !slices.ContainsFunc(fc, func(s string) bool {
		return strings.HasPrefix(s, "datasets.not_world_readable (") && strings.Contains(s, "iso27001-2022/8.3")
	}) {
		t.Errorf("customers failing checks = %v", fc)
	}
	if !bytes.Equal(raw, writeFormat(t, "cyclonedx", r)) {
		t.Error("two exports of one report differ")
	}
}
