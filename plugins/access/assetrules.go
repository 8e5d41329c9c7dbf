package access

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/annexa/annexa/plugins/sdk"
)

// Rule names of the asset and volume anomalies.
const (
	RuleRestrictedHours = "restricted_outside_hours"
	RuleFirstAccess     = "first_access"
	RuleVolumeSpike     = "volume_spike"
)

// RestrictedHours configures the restricted-asset rule. Classification
// lives in another plugin; here restricted assets are named by globs.
type RestrictedHours struct {
	// Paths are absolute globs (path/filepath.Match); an accessed path
	// matches when it, or one of its parent folders, matches one.
	Paths []string `json:"paths"`
	// Hours is the allowed local time span "HH:MM-HH:MM" (may wrap
	// midnight); Days the allowed weekdays (mon…sun).
	Hours string   `json:"hours"`
	Days  []string `json:"days"`
}

// FirstAccess configures the first-time-accessor rule.
type FirstAccess struct {
	Enabled *bool `json:"enabled"`
	// Learn is how long after the first access seen the rule stays quiet,
	// learning who normally touches what ("24h").
	Learn string `json:"learn"`
	// MaxPairs bounds the remembered (asset, actor) pairs.
	MaxPairs int `json:"max_pairs"`
}

// VolumeSpike configures the event-volume rule.
type VolumeSpike struct {
	// Factor times the mean hourly count of the last BaselineHours hours,
	// and at least MinEvents, in one hour fires it. Factor 0 turns it off.
	Factor        *float64 `json:"factor"`
	MinEvents     int      `json:"min_events"`
	BaselineHours int      `json:"baseline_hours"`
}

// assetRules is the validated form of the three rules.
type assetRules struct {
	restricted     []string
	fromMin, toMin int // allowed span in minutes of the day
	days           [7]bool
	hoursText      string

	firstAccess bool
	learn       time.Duration
	maxPairs    int

	spikeFactor float64
	spikeMin    int
	spikeHours  int
}

var weekdays = map[string]time.Weekday{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}

func validateAssetRules(a *Anomalies, add func(field, msg string)) assetRules {
	r := assetRules{firstAccess: true, learn: 24 * time.Hour, maxPairs: 50000, spikeFactor: 5, spikeMin: 100, spikeHours: 24}
	if rh := a.RestrictedHours; rh != nil {
		for i, g := range rh.Paths {
			field := fmt.Sprintf("anomalies.restricted_hours.paths[%d]", i)
			if !filepath.IsAbs(g) {
				add(field, fmt.Sprintf("%q is not an absolute path or glob", g))
				continue
			}
			if _, err := filepath.Match(g, "/"); err != nil {
				add(field, fmt.Sprintf("%q is not a valid glob: %v", g, err))
				continue
			}
			r.restricted = append(r.restricted, filepath.Clean(g))
		}
		hours := rh.Hours
		if hours == "" {
			hours = "08:00-18:00"
		}
		from, to, ok := parseSpan(hours)
		if !ok {
			add("anomalies.restricted_hours.hours", fmt.Sprintf("%q is not a span such as 08:00-18:00", hours))
		}
		r.fromMin, r.toMin = from, to
		days := rh.Days
		if len(days) == 0 {
			days = []string{"mon", "tue", "wed", "thu", "fri"}
		}
		for i, d := range days {
			wd, ok := weekdays[strings.ToLower(d)]
			if !ok {
				add(fmt.Sprintf("anomalies.restricted_hours.days[%d]", i), fmt.Sprintf("%q is not one of mon, tue, wed, thu, fri, sat, sun", d))
				continue
			}
			r.days[wd] = true
		}
		r.hoursText = hours + " " + strings.Join(days, ",")
	}
	if fa := a.FirstAccess; fa != nil {
		if fa.Enabled != nil {
			r.firstAccess = *fa.Enabled
		}
		if fa.Learn != "" {
			d, err := time.ParseDuration(fa.Learn)
			if err != nil || d < 0 {
				add("anomalies.first_access.learn", fmt.Sprintf("%q is not a duration such as 24h (0 to fire at once)", fa.Learn))
			}
			r.learn = d
		}
		switch {
		case fa.MaxPairs == 0:
		case fa.MaxPairs < 100 || fa.MaxPairs > 1_000_000:
			add("anomalies.first_access.max_pairs", "must be 100..1000000")
		default:
			r.maxPairs = fa.MaxPairs
		}
	}
	if vs := a.VolumeSpike; vs != nil {
		if vs.Factor != nil {
			if *vs.Factor != 0 && *vs.Factor < 1 {
				add("anomalies.volume_spike.factor", "must be 0 (rule off) or at least 1")
			}
			r.spikeFactor = *vs.Factor
		}
		if vs.MinEvents != 0 {
			if vs.MinEvents < 1 {
				add("anomalies.volume_spike.min_events", "must be at least 1")
			}
			r.spikeMin = vs.MinEvents
		}
		if vs.BaselineHours != 0 {
			if vs.BaselineHours < 1 || vs.BaselineHours > 24*14 {
				add("anomalies.volume_spike.baseline_hours", "must be 1..336")
			}
			r.spikeHours = vs.BaselineHours
		}
	}
	return r
}

// parseSpan reads "HH:MM-HH:MM" into minutes of the day.
func parseSpan(s string) (int, int, bool) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, false
	}
	from, ok1 := clock(strings.TrimSpace(a))
	to, ok2 := clock(strings.TrimSpace(b))
	return from, to, ok1 && ok2 && from != to
}

func clock(s string) (int, bool) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, false
	}
	return t.Hour()*60 + t.Minute(), true
}

// restrictedGlob returns the glob a path falls under, or "".
func (r *assetRules) restrictedGlob(p string) string {
	if p == "" || !strings.HasPrefix(p, "/") {
		return ""
	}
	for dir := filepath.Clean(p); ; dir = filepath.Dir(dir) {
		for _, g := range r.restricted {
			if ok, _ := filepath.Match(g, dir); ok {
				return g
			}
		}
		if dir == "/" {
			return ""
		}
	}
}

// allowed says whether t (in loc) is inside the allowed hours and days.
func (r *assetRules) allowed(t time.Time) bool {
	m := t.Hour()*60 + t.Minute()
	day := t.Weekday()
	if r.fromMin < r.toMin {
		return r.days[day] && m >= r.fromMin && m < r.toMin
	}
	// A span over midnight: after from on an allowed day, or before to on
	// the day after an allowed one.
	return (r.days[day] && m >= r.fromMin) || (r.days[(day+6)%7] && m < r.toMin)
}

// accessors remembers who accessed which asset, in the plugin's state
// folder, for the first-time-accessor rule.
type accessors struct {
	V int `json:"v"`
	// Since is the time of the first access seen; the rule is quiet
	// until Since + learn.
	Since int64 `json:"since"`
	// Pairs maps "asset\x00actor" to when it was last seen (Unix seconds).
	Pairs map[string]int64 `json:"pairs"`
	path  string
	dirty bool
}

const accessorsFile = "accessors.json"

func loadAccessors(dir string) (*accessors, error) {
	a := &accessors{V: 1, Pairs: map[string]int64{}}
	if dir == "" {
		return a, nil
	}
	a.path = filepath.Join(dir, accessorsFile)
	b, err := os.ReadFile(a.path)
	if errors.Is(err, fs.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return a, fmt.Errorf("read %s: %w", a.path, err)
	}
	if err := json.Unmarshal(b, a); err != nil || a.V != 1 {
		// A damaged file only costs re-learning; say so and start over.
		return &accessors{V: 1, Pairs: map[string]int64{}, path: a.path}, fmt.Errorf("%s is not this plugin's accessors file (%v); starting over", a.path, err)
	}
	if a.Pairs == nil {
		a.Pairs = map[string]int64{}
	}
	return a, nil
}

// save writes the pairs if they changed; it runs after a checkpoint is
// committed, so a crash in between can only fire an anomaly twice,
// never lose one.
func (a *accessors) save() error {
	if !a.dirty || a.path == "" {
		return nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if err := sdk.WriteFileAtomic(a.path, b); err != nil {
		return err
	}
	a.dirty = false
	return nil
}

// seen records a pair and says whether it is new. Past max pairs, the
// least recently seen tenth is forgotten.
func (a *accessors) seen(asset, actor string, at int64, maxPairs int) bool {
	key := asset + "\x00" + actor
	last, known := a.Pairs[key]
	if !known && len(a.Pairs) >= maxPairs {
		type kv struct {
			k string
			t int64
		}
		all := make([]kv, 0, len(a.Pairs))
		for k, t := range a.Pairs {
			all = append(all, kv{k, t})
		}
		slices.SortFunc(all, func(x, y kv) int { return int(x.t - y.t) })
		for _, e := range all[:max(1, len(all)/10)] {
			delete(a.Pairs, e.k)
		}
	}
	if a.Since == 0 || at < a.Since {
		a.Since = at
	}
	if at > last {
		a.Pairs[key] = at
		a.dirty = true
	}
	return !known
}

// volume is one log's hourly event counts for the spike rule; it lives in
// the checkpoint.
type volume struct {
	// Hour is the current hour (Unix seconds / 3600) and Count its events.
	Hour  int64 `json:"hour,omitempty"`
	Count int64 `json:"count,omitempty"`
	// Past holds the counts of the hours before Hour, newest last.
	Past []int64 `json:"past,omitempty"`
	// Subjects are the first events of the current hour (the evidence).
	Subjects []string `json:"subjects,omitempty"`
	FirstAt  string   `json:"first_at,omitempty"`
	Fired    bool     `json:"fired,omitempty"`
}

// observe counts one event and reports a spike once per hour.
func (v *volume) observe(r *assetRules, ev *Event, subject string) *Anomaly {
	if r.spikeFactor == 0 {
		return nil
	}
	h := ev.Time.Unix() / 3600
	switch {
	case v.Hour == 0:
		v.Hour = h
	case h > v.Hour:
		// Close the current hour and the empty ones since.
		v.Past = append(v.Past, v.Count)
		for gap := min(h-v.Hour-1, int64(r.spikeHours)); gap > 0; gap-- {
			v.Past = append(v.Past, 0)
		}
		if n := len(v.Past) - r.spikeHours; n > 0 {
			v.Past = slices.Delete(v.Past, 0, n)
		}
		v.Hour, v.Count, v.Subjects, v.FirstAt, v.Fired = h, 0, nil, "", false
	case h < v.Hour:
		// A late line (clock step, merged logs) counts in the current hour.
	}
	v.Count++
	if v.FirstAt == "" {
		v.FirstAt = ev.At
	}
	if len(v.Subjects) < maxAnomalySubjects-1 {
		v.Subjects = append(v.Subjects, subject)
	}
	if v.Fired || len(v.Past) < r.spikeHours {
		return nil
	}
	var sum int64
	for _, c := range v.Past {
		sum += c
	}
	base := float64(sum) / float64(len(v.Past))
	if v.Count < int64(r.spikeMin) || float64(v.Count) < r.spikeFactor*base {
		return nil
	}
	v.Fired = true
	subs := slices.Clone(v.Subjects)
	if subs[len(subs)-1] != subject {
		subs = append(subs, subject)
	}
	return &Anomaly{
		Rule: RuleVolumeSpike, Window: "1h", Count: int(v.Count), FirstAt: v.FirstAt, LastAt: ev.At, Subjects: subs,
		Detail: fmt.Sprintf("%d events in the hour from %s, %.1f times the mean of %.1f per hour over the %d hours before (threshold: %g times, at least %d)",
			v.Count, time.Unix(v.Hour*3600, 0).UTC().Format(time.RFC3339), float64(v.Count)/max(base, 1e-9), base, len(v.Past), r.spikeFactor, r.spikeMin),
	}
}

// assetAnomalies runs the restricted-hours and first-access rules on an
// event that touched an asset or a path.
func (c *collection) assetAnomalies(st *logState, ev *Event, subject string) []Anomaly {
	r := &c.p.rules.asset
	var out []Anomaly
	if len(r.restricted) > 0 {
		for _, p := range append([]string{ev.Object}, ev.Paths...) {
			g := r.restrictedGlob(p)
			if g == "" {
				continue
			}
			local := ev.Time.In(c.p.loc)
			if r.allowed(local) {
				break
			}
			// One anomaly per actor and asset per hour, however many files.
			key := RuleRestrictedHours + "|" + ev.Actor + "|" + g
			at := ev.Time.Unix()
			if last, ok := st.Det.Restricted[key]; ok && last > at-3600 && last <= at {
				break
			}
			if st.Det.Restricted == nil {
				st.Det.Restricted = map[string]int64{}
			}
			maps.DeleteFunc(st.Det.Restricted, func(_ string, t int64) bool { return t <= at-3600 })
			if len(st.Det.Restricted) < maxRecentFailures {
				st.Det.Restricted[key] = at
			}
			out = append(out, Anomaly{
				Rule: RuleRestrictedHours, Window: r.hoursText, Actor: ev.Actor, Remote: ev.Remote, Count: 1,
				FirstAt: ev.At, LastAt: ev.At, Subjects: []string{subject},
				Detail: fmt.Sprintf("%s %s %s (restricted by %q) at %s local time, outside the allowed %s", orNone(ev.Actor), ev.Action, p, g, local.Format("Mon 15:04"), r.hoursText),
			})
			break
		}
	}
	// Anonymous requests to an inference server's files carry no user; the
	// client address is then who accessed the asset.
	accessor := ev.Actor
	if accessor == "" && ev.Remote != "" {
		accessor = "remote:" + ev.Remote
	}
	if r.firstAccess && c.accessors != nil && ev.Asset != "" && accessor != "" {
		at := ev.Time.Unix()
		if c.accessors.seen(ev.Asset, accessor, at, r.maxPairs) && at >= c.accessors.Since+int64(r.learn/time.Second) {
			out = append(out, Anomaly{
				Rule: RuleFirstAccess, Window: "since " + time.Unix(c.accessors.Since, 0).UTC().Format(time.RFC3339), Actor: ev.Actor, Remote: ev.Remote,
				Count: 1, FirstAt: ev.At, LastAt: ev.At, Subjects: []string{subject},
				Detail: fmt.Sprintf("%s accessed %s (%s) for the first time since %s", strings.TrimPrefix(accessor, "remote:"), ev.Asset, ev.Object, time.Unix(c.accessors.Since, 0).UTC().Format(time.RFC3339)),
			})
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// assetRulesText is the summary's description of the asset rules.
func (r *assetRules) text() string {
	var b strings.Builder
	if len(r.restricted) > 0 {
		fmt.Fprintf(&b, " restricted_hours=%s:%s", strings.Join(r.restricted, ","), strings.ReplaceAll(r.hoursText, " ", "/"))
	}
	fmt.Fprintf(&b, " first_access=%v/learn=%s", r.firstAccess, r.learn)
	fmt.Fprintf(&b, " volume_spike=%s", strconv.FormatFloat(r.spikeFactor, 'g', -1, 64)+"x/min="+strconv.Itoa(r.spikeMin)+"/baseline="+strconv.Itoa(r.spikeHours)+"h")
	return b.String()
}
