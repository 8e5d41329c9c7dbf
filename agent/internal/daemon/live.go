package daemon

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/annexa/annexa/plugins/sdk"
)

// Collecting is a collection in progress, as the status file records it
// for `annexa-agent status`: a first full scan of a large tree takes
// hours, and an operator should see how far it is, not only that it runs.
type Collecting struct {
	Plugin    string    `json:"plugin"`
	Full      bool      `json:"full"`
	StartedAt time.Time `json:"started_at"`
	// Progress is the plugin's last report, absent if it sends none.
	Progress *sdk.ProgressCounts `json:"progress,omitempty"`
}

// live keeps the collections in progress; its zero value is ready.
type live struct {
	mu sync.Mutex
	m  map[string]*Collecting
}

func (l *live) begin(plugin string, full bool, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*Collecting{}
	}
	l.m[plugin] = &Collecting{Plugin: plugin, Full: full, StartedAt: at.UTC()}
}

func (l *live) update(plugin string, p *sdk.ProgressCounts) {
	if p == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.m[plugin]; c != nil {
		cp := *p
		c.Progress = &cp
	}
}

func (l *live) end(plugin string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, plugin)
}

// list returns copies, by plugin name.
func (l *live) list() []Collecting {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Collecting, 0, len(l.m))
	for _, c := range l.m {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Collecting) int { return strings.Compare(a.Plugin, b.Plugin) })
	return out
}
