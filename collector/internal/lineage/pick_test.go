package lineage

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fleetAttributes are the dataset and model attributes the real agent and
// plugins printed for the report tests' fleet.
func fleetAttributes(t testing.TB) (datasets, models [][]byte) {
	f, err := os.Open(filepath.Join("..", "report", "testdata", "fleet.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			Kind       string          `json:"kind"`
			Attributes json.RawMessage `json:"attributes"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		switch rec.Kind {
		case "dataset":
			datasets = append(datasets, rec.Attributes)
		case "model":
			models = append(models, rec.Attributes)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(datasets) == 0 || len(models) == 0 {
		t.Fatalf("%d datasets, %d models in fleet.jsonl", len(datasets), len(models))
	}
	return datasets, models
}

// samePick fails when raw and pick(raw) decode differently into T.
func samePick[T any](t *testing.T, raw []byte, fields []string) {
	var whole, picked T
	errWhole := json.Unmarshal(raw, &whole)
	errPicked := json.Unmarshal(pick(raw, fields), &picked)
	if (errWhole == nil) != (errPicked == nil) || !reflect.DeepEqual(whole, picked) {
		t.Fatalf("%q: whole %+v (%v), picked %+v (%v)", raw, whole, errWhole, picked, errPicked)
	}
}

// FuzzPick: the attributes the join picks decode to what the whole record
// decodes to, error or not.
func FuzzPick(f *testing.F) {
	datasets, models := fleetAttributes(f)
	for _, raw := range append(datasets, models...) {
		f.Add(raw)
	}
	for _, raw := range []string{`{"Path":"/a","path":"/b","NAMES":["x"]}`, `{"pii":{"email":1e400},"name":"x"}`, `{"size":1e400,"name":"x"}`,
		`{"names":[1],"path":"/a"}`, `{"na\u006de":"x"}`, "{\"name\":\"\xff\"}", `{"datasets":["a"],"datasets":null}`, `{"\u212Aey":1}`, ` {"name":"x"} `, `[]`} {
		f.Add([]byte(raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		samePick[datasetAttrs](t, raw, datasetFields)
		samePick[modelAttrs](t, raw, modelFields)
	})
}

// Real dataset records are picked, not decoded whole: the join's speed at
// 10,000 hosts rests on it.
func TestPickShrinksRealRecords(t *testing.T) {
	datasets, _ := fleetAttributes(t)
	for _, raw := range datasets {
		if p := pick(raw, datasetFields); len(p) >= len(raw) {
			t.Errorf("pick kept all of %s", raw)
		}
	}
}
