package web

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/annexa/annexa/collector/internal/lineage"
	"github.com/annexa/annexa/collector/internal/report"
	"github.com/annexa/annexa/collector/internal/store"
)

// A model naming a dataset cached on more hosts than a page lists gets a
// row saying how many more there are, and an unmatched path says on which
// host nothing holds it.
func TestLineageRows(t *testing.T) {
	var assets []lineage.Asset
	for i := range lineage.MaxMatched + 3 {
		assets = append(assets, lineage.Asset{AgentID: fmt.Sprintf("a%03d", i), Host: fmt.Sprintf("gpu%03d", i), Kind: "dataset",
			Subject: "dataset:/hub/common", Attributes: json.RawMessage(`{"path":"/hub/common","names":["org/common"],"personal_data":false}`)})
	}
	m := lineage.Asset{AgentID: "z", Host: "edge", Kind: "model", Subject: "model:/m.pt",
		Attributes: json.RawMessage(`{"datasets":["org/common","/srv/data/x.csv"]}`)}
	ev := &evaluation{rep: &report.Report{Lineage: lineage.Join(append(assets, m))}}
	var d assetData
	(&Server{}).lineage(ev, &store.Current{AgentID: m.AgentID, Host: m.Host, Kind: m.Kind, Subject: m.Subject}, &d)
	if len(d.Lineage) != lineage.MaxMatched+2 {
		t.Fatalf("%d rows", len(d.Lineage))
	}
	if r := d.Lineage[lineage.MaxMatched]; r.Dataset != nil || r.Missing != "and 3 more datasets of this name on other hosts" {
		t.Errorf("row after the listed copies = %+v", r)
	}
	if r := d.Lineage[lineage.MaxMatched+1]; r.Dataset != nil || r.Missing != "no dataset on edge holds this path" || r.Name != "/srv/data/x.csv" {
		t.Errorf("unmatched path row = %+v", r)
	}
	if d.TrainPD.Class != "insufficient" {
		t.Errorf("trained on personal data = %+v, want not known (a path is unmatched)", d.TrainPD)
	}
}
