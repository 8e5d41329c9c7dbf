package access

import (
	"maps"
	"slices"
	"time"
)

// Anomaly rule names.
const (
	RuleBruteForce           = "brute_force"
	RuleSuccessAfterFailures = "success_after_failures"
	RuleRootLogin            = "root_login"
)

// severities of the rules: a success after failures may be a broken-in
// account; a first access or a busy hour is worth a look, not an alarm.
var severities = map[string]string{
	RuleBruteForce: "high", RuleSuccessAfterFailures: "critical", RuleRootLogin: "high",
	RuleRestrictedHours: "high", RuleFirstAccess: "medium", RuleVolumeSpike: "medium",
}

// Caps that keep a checkpoint small whatever a log holds.
const (
	maxRecentFailures  = 512
	maxAnomalies       = 100
	maxAnomalySubjects = 20
)

// Anomaly is one rule that fired, with the events that made it fire.
type Anomaly struct {
	Rule string `json:"rule"`
	// Severity is the rule's (severities below), for the collector's
	// access.no_open_high_anomaly check.
	Severity string `json:"severity"`
	Window   string `json:"window,omitempty"`
	Remote   string `json:"remote,omitempty"`
	Actor    string `json:"actor,omitempty"`
	// Count is how many events the rule counted; Subjects names them (the
	// first maxAnomalySubjects; the event that fired it is always last).
	Count    int      `json:"count"`
	FirstAt  string   `json:"first_at"`
	LastAt   string   `json:"last_at"`
	Subjects []string `json:"subjects"`
	Detail   string   `json:"detail"`
}

// failure is a counted failed attempt, remembered for the rule windows.
type failure struct {
	Remote  string `json:"r"`
	At      int64  `json:"t"`
	Subject string `json:"s"`
	PID     int    `json:"p,omitempty"`
	// N is how many attempts the line stands for (syslog repeats).
	N int `json:"n,omitempty"`
	// SSHD is true for sshd's own "Failed ..." line; a PAM failure of the
	// same process is then not counted again.
	SSHD bool `json:"d,omitempty"`
}

// detector runs the anomaly rules over one log's events in order. Its
// state lives in the checkpoint, so a burst split across collections (or
// a restart) is still seen whole.
type detector struct {
	Recent []failure `json:"recent,omitempty"`
	// Fired remembers when a rule last fired per remote, so one burst
	// raises one anomaly per window.
	Fired map[string]int64 `json:"fired,omitempty"`
	// Restricted remembers when the restricted-hours rule last fired per
	// actor and glob (one anomaly per hour).
	Restricted map[string]int64 `json:"restricted,omitempty"`
}

type rules struct {
	bruteN        int
	bruteWindow   time.Duration
	safN          int
	safWindow     time.Duration
	rootLogin     bool
	bruteWinText  string
	safWindowText string
	asset         assetRules
}

// counts reports whether an event counts as a failed attempt.
func countsAsFailure(ev *Event) bool {
	switch ev.Action {
	case ActionLoginFailed, ActionAuthFailure, ActionHTTPUnauthorized:
		return true
	}
	return false
}

// observe runs the rules for one event and returns what fired.
func (d *detector) observe(r *rules, ev *Event, subject string) []Anomaly {
	at := ev.Time.Unix()
	horizon := max(r.bruteWindow, r.safWindow)
	d.prune(at - int64(horizon/time.Second))
	var out []Anomaly
	if countsAsFailure(ev) && ev.Remote != "" {
		d.Recent = append(d.Recent, failure{Remote: ev.Remote, At: at, Subject: subject, PID: ev.PID, N: ev.Repeat, SSHD: ev.Action == ActionLoginFailed && ev.Program == "sshd"})
		if len(d.Recent) > maxRecentFailures {
			d.Recent = slices.Delete(d.Recent, 0, len(d.Recent)-maxRecentFailures)
		}
		key := RuleBruteForce + "|" + ev.Remote
		// A burst already reported within the window needs no counting.
		if r.bruteN > 0 && d.Fired[key] < at-int64(r.bruteWindow/time.Second) {
			fs := d.failures(ev.Remote, at-int64(r.bruteWindow/time.Second))
			if weight(fs) >= r.bruteN {
				d.fire(key, at)
				out = append(out, anomaly(RuleBruteForce, r.bruteWinText, ev, fs, nil,
					"failed attempts from one remote within the window reached the threshold"))
			}
		}
	}
	if ev.Action == ActionLogin && ev.Result == ResultSuccess {
		if r.safN > 0 && ev.Remote != "" {
			fs := d.failures(ev.Remote, at-int64(r.safWindow/time.Second))
			if weight(fs) >= r.safN {
				out = append(out, anomaly(RuleSuccessAfterFailures, r.safWindowText, ev, fs, &subject,
					"a login succeeded from a remote right after failed attempts from it"))
			}
		}
		if r.rootLogin && ev.Actor == "root" {
			out = append(out, Anomaly{
				Rule: RuleRootLogin, Remote: ev.Remote, Actor: ev.Actor, Count: 1, FirstAt: ev.At, LastAt: ev.At,
				Subjects: []string{subject}, Detail: "root logged in directly (" + ev.Object + "), not through su or sudo",
			})
		}
	}
	return out
}

func anomaly(rule, window string, ev *Event, fs []failure, success *string, detail string) Anomaly {
	a := Anomaly{Rule: rule, Window: window, Remote: ev.Remote, Count: weight(fs), LastAt: ev.At, Detail: detail}
	if success != nil {
		a.Actor = ev.Actor
	}
	a.FirstAt = time.Unix(fs[0].At, 0).UTC().Format(time.RFC3339)
	keep := fs
	if len(keep) > maxAnomalySubjects-1 {
		keep = keep[len(keep)-(maxAnomalySubjects-1):]
	}
	for _, f := range keep {
		a.Subjects = append(a.Subjects, f.Subject)
	}
	if success != nil {
		a.Subjects = append(a.Subjects, *success)
	}
	return a
}

// failures lists the counted failures from remote since from: sshd's own
// lines, and PAM lines of processes that wrote none (older sshd, other
// services), so one attempt is counted once.
func (d *detector) failures(remote string, from int64) []failure {
	var out []failure
	var pamPIDs map[int]bool
	for _, f := range d.Recent {
		if f.Remote != remote || f.At < from {
			continue
		}
		out = append(out, f)
		if !f.SSHD && f.PID != 0 {
			if pamPIDs == nil {
				pamPIDs = map[int]bool{}
			}
			pamPIDs[f.PID] = false
		}
	}
	if len(pamPIDs) == 0 {
		return out
	}
	for _, f := range d.Recent {
		if _, ok := pamPIDs[f.PID]; ok && f.SSHD {
			pamPIDs[f.PID] = true
		}
	}
	return slices.DeleteFunc(out, func(f failure) bool { return !f.SSHD && f.PID != 0 && pamPIDs[f.PID] })
}

func (d *detector) prune(before int64) {
	d.Recent = slices.DeleteFunc(d.Recent, func(f failure) bool { return f.At < before })
	maps.DeleteFunc(d.Fired, func(_ string, at int64) bool { return at < before })
}

func (d *detector) fire(key string, at int64) {
	if d.Fired == nil {
		d.Fired = map[string]int64{}
	}
	d.Fired[key] = at
}

// weight counts attempts, a folded "message repeated N times" line as N.
func weight(fs []failure) int {
	n := 0
	for _, f := range fs {
		n += max(f.N, 1)
	}
	return n
}
