package report

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/store"
)

// The JSON format is written in pieces, but must be the document
// json.Encoder writes whole, byte for byte: for an empty store, the
// synthetic fleet, the real plugins' fleet, and lists left nil.
func TestWriteJSONIsTheEncodersDocument(t *testing.T) {
	nils := Build(fleet(), now, Options{})
	nils.Controls, nils.Hosts, nils.Assets = nil, nil, nil
	empty := Build(&store.Snapshot{}, now, Options{})
	empty.Controls = []controls.Result{}
	for name, r := range map[string]*Report{"empty": empty, "fleet": Build(fleet(), now, Options{}), "real": realFleet(t), "nil lists": nils} {
		var got, want bytes.Buffer
		if err := writeJSON(&got, r); err != nil {
			t.Fatal(err)
		}
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("%s: writeJSON differs from json.Encoder:\n%s\nwant:\n%s", name, got.String(), want.String())
		}
	}
}

// FuzzAppendIndented holds the report's indenter to json.Indent, on what
// json.Marshal makes of any JSON value.
func FuzzAppendIndented(f *testing.F) {
	for _, s := range []string{`{"a":[1,{},[],{"b":"x\"y\\z"}],"c":null}`, `"\u003c\\"`, `[]`, `{"":{"":[[]]}}`, `[true,false,-1.5e-7]`} {
		f.Add([]byte(s))
	}
	r := realFleet(f)
	for _, c := range r.Controls[:5] {
		b, err := json.Marshal(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var v any
		if json.Unmarshal(in, &v) != nil {
			return
		}
		compact, err := json.Marshal(v)
		if err != nil {
			return
		}
		var want bytes.Buffer
		if err := json.Indent(&want, compact, "    ", "  "); err != nil {
			t.Fatal(err)
		}
		if got := appendIndented(nil, compact, "    ", "  "); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("appendIndented(%s) =\n%s\njson.Indent:\n%s", compact, got, want.Bytes())
		}
	})
}
