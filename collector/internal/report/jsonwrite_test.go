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
