package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/annexa/annexa/plugins/sdk"
)

// Health states, as reported in plugin.health evidence.
const (
	StateOK       = "ok"
	StateDegraded = "degraded"
	StateCrashed  = "crashed"
	StateTimedOut = "timed_out"
)

// Health is what the agent knows about one plugin.
type Health struct {
	Plugin   string    `json:"plugin"`
	Version  string    `json:"version,omitempty"`
	State    string    `json:"state"`
	Error    string    `json:"error,omitempty"`
	At       time.Time `json:"at"`
	Restarts int       `json:"restarts"`
	// Failures counts failed collections inside the crash window.
	Failures       int       `json:"failures_in_window"`
	LastSuccess    time.Time `json:"last_success,omitempty"`
	LastDurationMS int64     `json:"last_duration_ms"`
	Records        int       `json:"records"`
}

// ErrBackingOff means the plugin failed recently and may not be started
// again yet.
var ErrBackingOff = errors.New("waiting before restarting the plugin")

// Supervisor keeps one instance of a plugin running: never two at once,
// restarted with exponential backoff after a failure, and marked degraded
// when it keeps failing.
type Supervisor struct {
	spec Spec
	// Window and Threshold: this many failures inside Window mean degraded.
	Window    time.Duration
	Threshold int
	MinDelay  time.Duration
	MaxDelay  time.Duration

	mu        sync.Mutex // held for a whole collection: one at a time
	inst      *Instance
	failures  []time.Time
	streak    int
	nextStart time.Time
	health    Health
	hmu       sync.Mutex
	now       func() time.Time
}

// NewSupervisor does not start anything.
func NewSupervisor(spec Spec) *Supervisor {
	return &Supervisor{
		spec: spec, Window: 10 * time.Minute, Threshold: 3,
		MinDelay: time.Second, MaxDelay: 5 * time.Minute,
		health: Health{Plugin: spec.Name, State: StateOK},
		now:    time.Now,
	}
}

// Name of the supervised plugin.
func (s *Supervisor) Name() string { return s.spec.Name }

// Start makes sure an instance runs and returns it.
func (s *Supervisor) Start(ctx context.Context) (*Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ensure(ctx)
}

func (s *Supervisor) ensure(ctx context.Context) (*Instance, error) {
	if s.inst != nil && !s.inst.Exited() {
		return s.inst, nil
	}
	if s.inst != nil {
		s.inst.Kill()
		s.inst = nil
	}
	if wait := s.nextStart.Sub(s.now()); wait > 0 {
		return nil, fmt.Errorf("plugin %s: %w (%s)", s.spec.Name, ErrBackingOff, wait.Round(time.Second))
	}
	inst, err := Start(ctx, s.spec)
	if err != nil {
		// A plugin that answered but refused its settings did not crash:
		// it is degraded, as docs/evidence.md has it, and its error says
		// why.
		state := StateCrashed
		var ce *ConfigError
		if errors.As(err, &ce) {
			state = StateDegraded
		}
		s.failed(state, err)
		return nil, err
	}
	if !s.health.At.IsZero() {
		s.hmu.Lock()
		s.health.Restarts++
		s.hmu.Unlock()
	}
	s.hmu.Lock()
	s.health.Version = inst.Info().Version
	s.hmu.Unlock()
	s.inst = inst
	return inst, nil
}

// Collect runs one collection on a running instance, starting it if
// needed, and records the outcome in Health.
func (s *Supervisor) Collect(ctx context.Context, req sdk.Request, fn func(sdk.Group) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, err := s.ensure(ctx)
	if err != nil {
		return err
	}
	start := s.now()
	n := 0
	err = inst.Collect(ctx, req, func(g sdk.Group) error {
		n += len(g.Records)
		if err := fn(g); err != nil {
			return &callbackError{err}
		}
		return nil
	})
	var cbErr *callbackError
	switch {
	case err == nil:
		s.streak = 0
		s.hmu.Lock()
		s.health.State, s.health.Error = StateOK, ""
		if len(s.recentFailures()) >= s.Threshold {
			s.health.State = StateDegraded
			s.health.Error = fmt.Sprintf("%d failures in the last %s", len(s.recentFailures()), s.Window)
		}
		s.health.At = s.now()
		s.health.LastSuccess = s.health.At
		s.health.LastDurationMS = s.now().Sub(start).Milliseconds()
		s.health.Records = n
		s.health.Failures = len(s.recentFailures())
		s.hmu.Unlock()
		return nil
	case ctx.Err() != nil:
		return err
	case errors.As(err, &cbErr):
		// The agent's side failed (e.g. the spool is full): the plugin did
		// nothing wrong, so it is neither killed nor blamed.
		return cbErr.err
	case errors.Is(err, ErrTimedOut):
		s.failed(StateTimedOut, err)
	case errors.Is(err, ErrMemory):
		s.failed(StateDegraded, err)
	default:
		var inv *sdk.InvalidRecordError
		if errors.As(err, &inv) {
			s.failed(StateDegraded, err)
		} else if status.Code(err) == codes.Unknown && !inst.Exited() {
			// The plugin itself said the collection failed; it is alive
			// and honest, so it keeps running but is not healthy.
			s.pluginFailed(err)
		} else {
			// The stream broke: the process died or closed it with an
			// error. Either way a fresh process is the safe next step.
			s.failed(StateCrashed, err)
		}
	}
	return err
}

func (s *Supervisor) pluginFailed(err error) {
	now := s.now()
	s.failures = append(s.failures, now)
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.health.State = StateDegraded
	s.health.Error = err.Error()
	s.health.At = now
	s.health.Failures = len(s.recentFailures())
}

type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }
func (e *callbackError) Unwrap() error { return e.err }

func (s *Supervisor) recentFailures() []time.Time {
	cut := s.now().Add(-s.Window)
	kept := s.failures[:0]
	for _, t := range s.failures {
		if t.After(cut) {
			kept = append(kept, t)
		}
	}
	s.failures = kept
	return kept
}

func (s *Supervisor) failed(state string, err error) {
	now := s.now()
	s.failures = append(s.failures, now)
	s.streak++
	delay := s.MinDelay << min(s.streak-1, 20)
	if delay > s.MaxDelay || delay <= 0 {
		delay = s.MaxDelay
	}
	// Jitter keeps a fleet of agents from restarting a bad plugin in step.
	delay = delay/2 + rand.N(delay/2+1)
	s.nextStart = now.Add(delay)
	if s.inst != nil {
		s.inst.Kill()
		s.inst = nil
	}
	s.hmu.Lock()
	defer s.hmu.Unlock()
	recent := len(s.recentFailures())
	if recent >= s.Threshold && state != StateTimedOut {
		state = StateDegraded
	}
	s.health.State = state
	s.health.Error = err.Error()
	s.health.At = now
	s.health.Failures = recent
}

// Health returns a copy of the plugin's health.
func (s *Supervisor) Health() Health {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	h := s.health
	if h.At.IsZero() {
		h.At = s.now()
	}
	return h
}

// Stop kills the running instance, waiting for a collection in progress
// to notice its cancelled context first.
func (s *Supervisor) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inst != nil {
		s.inst.Kill()
		s.inst = nil
	}
}
