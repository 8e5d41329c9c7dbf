package controls

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// fleetModel is the inputs as the store would hold them: agents in
// enrollment order, live records by key, and the decisions. The property
// test changes it at random and hands the same change to a State.
type fleetModel struct {
	rnd     *rand.Rand
	now     time.Time
	agents  []Agent
	recs    map[RecordKey]Record
	seq     uint64
	ex      []Exception
	att     []Attestation
	soa     []Applicability
	pools   map[string][]map[string]any // kind → attribute fragments
	plugins map[string]string           // kind → plugin
}

func newFleetModel(e *Engine, seed uint64) *fleetModel {
	m := &fleetModel{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: now, recs: map[RecordKey]Record{},
		pools: map[string][]map[string]any{}, plugins: map[string]string{}}
	for _, c := range e.checks {
		tc, ok := subjectCases[c.ID]
		if !ok {
			continue
		}
		for _, a := range []string{tc.good, tc.bad} {
			var frag map[string]any
			if err := json.Unmarshal([]byte(a), &frag); err != nil {
				panic(err)
			}
			m.pools[c.Kind] = append(m.pools[c.Kind], frag)
		}
		m.plugins[c.Kind] = builtinKinds[c.Kind]
	}
	return m
}

func (m *fleetModel) input() Input {
	in := Input{Agents: slices.Clone(m.agents), Now: m.now, Exceptions: slices.Clone(m.ex), Attestations: slices.Clone(m.att), SoA: slices.Clone(m.soa)}
	for _, r := range m.recs {
		in.Records = append(in.Records, r)
	}
	slices.SortFunc(in.Records, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.AgentID, b.AgentID), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Subject, b.Subject))
	})
	return in
}

func (m *fleetModel) pick(n int) int { return m.rnd.IntN(n) }

// ago is a time before now, from seconds to two days, so that evidence is
// on both sides of the 24 h freshness limit.
func (m *fleetModel) ago() time.Time {
	return m.now.Add(-time.Duration(m.rnd.Int64N(int64(48 * time.Hour))))
}

func (m *fleetModel) put(d *Delta, r Record) {
	m.seq++
	r.Seq = m.seq
	if r.Host == "" {
		r.Host = r.AgentID + ".example"
	}
	k := RecordKey{r.AgentID, r.Kind, r.Subject}
	m.recs[k] = r
	// A delta says what is live in the end, as the store's change feed does.
	d.Deletes = slices.DeleteFunc(d.Deletes, func(x RecordKey) bool { return x == k })
	d.Upserts = append(d.Upserts, r)
}

func (m *fleetModel) del(d *Delta, k RecordKey) {
	if _, ok := m.recs[k]; ok {
		delete(m.recs, k)
		d.Upserts = slices.DeleteFunc(d.Upserts, func(r Record) bool { return RecordKey{r.AgentID, r.Kind, r.Subject} == k })
		d.Deletes = append(d.Deletes, k)
	}
}

// attrs merges one to three fragments of the kind's pool and varies the
// time-dependent ones around now.
func (m *fleetModel) attrs(kind string) json.RawMessage {
	a := map[string]any{}
	pool := m.pools[kind]
	for range 1 + m.pick(3) {
		for k, v := range pool[m.pick(len(pool))] {
			a[k] = v
		}
	}
	// Certificates and retention periods run out within about a day,
	// so that the clock flips them while the walk goes on.
	soon := time.Duration(m.rnd.Int64N(int64(22*time.Hour))) - 2*time.Hour
	if _, ok := a["cert_not_after"]; ok {
		a["cert_not_after"] = m.now.Add(14*24*time.Hour + soon).Format(time.RFC3339)
	}
	if _, ok := a["retention_days"]; ok {
		a["retention_days"] = 30
		a["modified_at"] = m.now.Add(-30*24*time.Hour + soon).Format(time.RFC3339)
	}
	if kind == "dataset" || kind == "model" {
		a["path"] = []string{"/srv/ml/", "/srv/ml/scratch/", "/tmp/", "/opt/"}[m.pick(4)] + fmt.Sprint(m.pick(5))
	}
	b, _ := json.Marshal(a)
	return b
}

var subjectKindsOf = []string{"dataset", "model", "encryption.volume", "encryption.endpoint", "access.summary", "access.event", "host", "plugin.health"}

// step makes one random change, as a batch, an enrollment, a revocation, a
// decision or the clock would.
func (m *fleetModel) step(d *Delta, e *Engine) string {
	switch p := m.pick(100); {
	case p < 5 || len(m.agents) == 0:
		id := fmt.Sprintf("a%02d", len(m.agents))
		m.agents = append(m.agents, Agent{ID: id, Host: id + ".example", LastSeen: m.now})
		d.Agents = append(d.Agents, m.agents[len(m.agents)-1])
		return "enroll " + id
	case p < 7:
		i := m.pick(len(m.agents))
		m.agents[i].Revoked = true
		d.Agents = append(d.Agents, m.agents[i])
		return "revoke " + m.agents[i].ID
	case p < 8:
		// A clock set back: freshness cannot be followed backwards, so the
		// State judges everything again.
		m.now = m.now.Add(-time.Duration(m.rnd.Int64N(int64(10 * time.Hour))))
		return "clock back " + m.now.Format(time.RFC3339)
	case p < 20:
		m.now = m.now.Add(time.Duration(m.rnd.Int64N(int64(30 * time.Hour))))
		return "clock " + m.now.Format(time.RFC3339)
	case p < 25:
		checks := e.CheckIDs()
		pat := []string{"**", "dataset:/srv/ml/scratch/**", "model:/opt/*", "host:*", "fleet", "dataset:/tmp/*"}[m.pick(6)]
		x := Exception{ID: fmt.Sprintf("exc%d", len(m.ex)), CheckID: checks[m.pick(len(checks))], SubjectPattern: pat,
			Owner: "o", Approver: "a", ExpiresAt: m.now.Add(time.Duration(m.rnd.Int64N(int64(48 * time.Hour))))}
		if m.pick(3) == 0 {
			x.HostPattern = "a0[01].example"
		}
		if len(m.ex) > 0 && m.pick(4) == 0 {
			m.ex[m.pick(len(m.ex))].RevokedAt = m.now
		}
		m.ex = append(m.ex, x)
		return "exception " + x.CheckID + " " + pat
	case p < 28:
		ids := []string{"iso27001-2022/5.1", "iso27001-2022/8.3", "iso42001-2023/A.2.2", "iso27001-2022/5.9"}
		id := ids[m.pick(len(ids))]
		if found, automated := e.Control(id); found && !automated {
			m.att = append(m.att, Attestation{ID: fmt.Sprintf("att%d", len(m.att)), ControlID: id, DocumentRef: "d", Author: "x",
				ExpiresAt: m.now.Add(time.Duration(m.rnd.Int64N(int64(48 * time.Hour))))})
		} else {
			m.soa = append(slices.DeleteFunc(m.soa, func(s Applicability) bool { return s.ControlID == id }),
				Applicability{ControlID: id, Applicable: m.pick(2) == 0, Justification: "j", Author: "x"})
		}
		return "decision " + id
	}
	// A batch from one agent: its records, and its last contact; the
	// clock may have moved since the last update too.
	if m.pick(3) == 0 {
		m.now = m.now.Add(time.Duration(m.rnd.Int64N(int64(20 * time.Hour))))
	}
	i := m.pick(len(m.agents))
	a := &m.agents[i]
	id := a.ID
	if m.pick(10) > 0 {
		a.LastSeen = m.now
		d.Agents = append(d.Agents, *a)
	}
	plugins := []string{"datasets", "models", "encryption", "access"}
	for range 1 + m.pick(6) {
		switch p := m.pick(100); {
		case p < 10:
			pl := plugins[m.pick(len(plugins))]
			m.put(d, Record{AgentID: id, Kind: "plugin.health", Subject: "plugin:" + pl, Plugin: pl, ObservedAt: m.now,
				Attributes: json.RawMessage(`{"plugin":"` + pl + `","state":"` + []string{"ok", "ok", "degraded", "crashed", "timed_out"}[m.pick(5)] + `"}`)})
		case p < 20:
			// A full scan: scan.complete retires what it did not see.
			pl := plugins[m.pick(len(plugins))]
			m.put(d, Record{AgentID: id, Kind: "scan.complete", Subject: "scan:" + pl, Plugin: pl, ObservedAt: m.ago(),
				Attributes: json.RawMessage(`{"plugin":"` + pl + `","kinds":[],"started_at":"2026-03-01T00:00:00Z"}`)})
			for k := range m.recs {
				if k.AgentID == id && m.plugins[k.Kind] == pl && m.pick(3) == 0 {
					m.del(d, k)
				}
			}
		case p < 25:
			m.put(d, Record{AgentID: id, Kind: "host", Subject: "host:" + id, Plugin: "agent", ObservedAt: m.ago(),
				Attributes: json.RawMessage([]string{`{"os":"linux","arch":"amd64","kernel":"6.1"}`, `{"os":"","arch":"amd64","kernel":"6.1"}`, `{}`}[m.pick(3)])})
		case p < 35:
			var keys []RecordKey
			for k := range m.recs {
				if k.AgentID == id {
					keys = append(keys, k)
				}
			}
			slices.SortFunc(keys, func(a, b RecordKey) int { return strings.Compare(a.Kind+a.Subject, b.Kind+b.Subject) })
			if len(keys) > 0 {
				m.del(d, keys[m.pick(len(keys))])
			}
		default:
			kind := subjectKindsOf[m.pick(6)]
			r := Record{AgentID: id, Kind: kind, Subject: fmt.Sprintf("%s:%d", kind, m.pick(8)), Plugin: m.plugins[kind],
				ObservedAt: m.ago(), Attributes: m.attrs(kind)}
			if kind == "dataset" || kind == "model" {
				var a struct{ Path string }
				json.Unmarshal(r.Attributes, &a)
				r.Subject = kind + ":" + a.Path
			}
			if m.pick(8) == 0 {
				r.Attributes = json.RawMessage(`not json`)
			}
			m.put(d, r)
		}
	}
	return "batch from " + id
}

// TestStateEqualsFullEvaluation is the property that makes incremental
// evaluation trustworthy: after every random change (batches of upserts,
// deletes and events, scans retiring subjects, plugin health, enrollments
// and revocations, decisions, and the clock moving hosts and evidence past
// the freshness limit), the kept State's results equal a full evaluation of
// the same inputs, in every field.
func TestStateEqualsFullEvaluation(t *testing.T) {
	e := Default()
	steps := 300
	if testing.Short() {
		steps = 100
	}
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			m := newFleetModel(e, seed)
			st := e.NewState(m.input())
			var log []string
			seen := map[Status]bool{}
			for i := range steps {
				var d Delta
				log = append(log, m.step(&d, e))
				st.SetGovernance(m.ex, m.att, m.soa)
				st.Update(d, m.now)
				want := e.Evaluate(m.input())
				got := st.Results()
				if diff := diffResults(got, want); diff != "" {
					t.Fatalf("step %d (%s) after %v:\n%s", i, log[len(log)-1], log[max(0, len(log)-8):], diff)
				}
				for _, r := range want {
					seen[r.Status] = true
				}
				for j, v := range st.Verdicts() {
					if v.Status != want[j].Status || v.ControlID != want[j].ControlID {
						t.Fatalf("step %d (%s): kept verdict of %s is %s, want %s", i, log[len(log)-1], v.ControlID, v.Status, want[j].Status)
					}
				}
			}
			// The property must not hold vacuously: the walk reached
			// the statuses evidence decides.
			if !seen[Compliant] || !seen[Noncompliant] || !seen[InsufficientEvidence] {
				t.Errorf("the walk reached only the statuses %v", seen)
			}
		})
	}
}

// diffResults says where two result lists first differ, or "".
func diffResults(got, want []Result) string {
	if reflect.DeepEqual(got, want) {
		return ""
	}
	if len(got) != len(want) {
		return fmt.Sprintf("%d results, want %d", len(got), len(want))
	}
	for i := range got {
		if reflect.DeepEqual(got[i], want[i]) {
			continue
		}
		g, w := got[i], want[i]
		for j := range min(len(g.Checks), len(w.Checks)) {
			if !reflect.DeepEqual(g.Checks[j], w.Checks[j]) {
				gj, _ := json.MarshalIndent(struct {
					CheckResult
					Expl string
					Ev   []Evidence
				}{g.Checks[j], g.Checks[j].Explanation, g.Checks[j].Evidence}, "", " ")
				wj, _ := json.MarshalIndent(struct {
					CheckResult
					Expl string
					Ev   []Evidence
				}{w.Checks[j], w.Checks[j].Explanation, w.Checks[j].Evidence}, "", " ")
				return fmt.Sprintf("control %s check %s:\ngot  %s\nwant %s", g.ControlID, g.Checks[j].ID, gj, wj)
			}
		}
		gj, _ := json.MarshalIndent(g, "", " ")
		wj, _ := json.MarshalIndent(w, "", " ")
		return fmt.Sprintf("control %s:\ngot  %s\nwant %s", g.ControlID, gj, wj)
	}
	return "results differ"
}
