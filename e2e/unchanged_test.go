package e2e

import (
	"encoding/json"
	"testing"
	"time"
)

// A plugin that confirms its unchanged subjects instead of resending them
// keeps them at the collector: the agent dates scan.complete from the
// plugin's `since`, so the collector's retirement of unseen subjects
// spares those sent by the collection that last sent everything.
func TestUnchangedSubjectsStayAtTheCollector(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := newCollector(t, "")
	c.start()
	a := newAgent(t, c.url, pluginConf{name: "counter", exe: "annexa-plugin-counter",
		yaml: "interval: 1s\ntotal: 1000\nper_collection: 2\ngroup: 2\nitems: 4\nconfirm_items: true"})
	a.enroll(c)
	a.start()
	confirmed := func() int {
		return c.tryCount(`SELECT count(*) FROM history WHERE kind='scan.complete' AND json_extract(attributes, '$.unchanged') = 4`)
	}
	waitFor(t, "three full collections confirming the items unchanged", 60*time.Second, func() bool { return confirmed() >= 3 })
	a.stop()

	if n := c.count(`SELECT count(*) FROM current WHERE kind='test.state' AND subject LIKE 'item:%' AND deleted=0`); n != 4 {
		t.Errorf("%d of 4 items live at the collector after collections that confirmed them unchanged", n)
	}
	if n := c.count(`SELECT count(*) FROM history WHERE kind='test.state' AND subject LIKE 'item:%' AND op='delete'`); n != 0 {
		t.Errorf("the collector retired items %d times", n)
	}
	if n := c.count(`SELECT count(*) FROM history WHERE kind='test.state' AND subject = 'item:1' AND op='upsert'`); n != 1 {
		t.Errorf("item:1 has %d upserts in history, want 1: the confirming collections should not have resent it", n)
	}
	rows, err := c.db().Query(`SELECT attributes FROM history WHERE kind='scan.complete' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var first time.Time
	n := 0
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		var sc struct {
			StartedAt           time.Time `json:"started_at"`
			CollectionStartedAt time.Time `json:"collection_started_at"`
			Unchanged           *int      `json:"unchanged"`
		}
		if err := json.Unmarshal([]byte(raw), &sc); err != nil {
			t.Fatal(err)
		}
		switch n++; {
		case n == 1:
			first = sc.StartedAt
			if sc.Unchanged != nil || !sc.StartedAt.Equal(sc.CollectionStartedAt) {
				t.Errorf("the first full collection (nothing to confirm yet): %s", raw)
			}
		case sc.Unchanged != nil:
			// since is the plugin's clock at the start of the collection
			// that sent every item, within the agent's first collection.
			if sc.StartedAt.Before(first) || !sc.StartedAt.Before(sc.CollectionStartedAt) {
				t.Errorf("scan.complete %s: started_at should be the first collection's, about %v", raw, first)
			}
		}
	}
	if n < 4 {
		t.Errorf("%d scan.complete records in history, want at least 4", n)
	}
}
