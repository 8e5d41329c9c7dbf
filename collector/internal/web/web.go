// Package web is the collector's browser interface for compliance leads and
// auditors: server-rendered pages (html/template, every value escaped), with
// stylesheet and templates embedded in the binary and no script at all, so
// the pages work without JavaScript and the Content-Security-Policy can
// forbid scripts outright.
//
// Users log in with a name and password (bcrypt) and get a session kept in
// the store; a role decides what they may do: admins may change what the UI
// can change, auditors only read. Every form carries the session's CSRF
// token, and cross-origin writes are refused before any handler runs.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/report"
	"github.com/annexa/annexa/collector/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure a Server.
type Options struct {
	// Freshness is how old evidence may be and still count.
	Freshness time.Duration
	// Engine judges the controls; nil means the embedded catalogs.
	Engine *controls.Engine
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Kept is serve's kept evaluation; pages read it instead of
	// evaluating the store again. Nil evaluates.
	Kept *report.Kept
	// MaxAge is how old an evaluation may be before a page asks for a new
	// one (it is still shown, with its time, while the new one runs).
	// Zero means DefaultMaxAge.
	MaxAge time.Duration
	// SecureCookies marks cookies Secure even on plain HTTP, for a
	// collector behind a TLS-terminating proxy. Requests that arrive over
	// TLS always get Secure cookies.
	SecureCookies bool
	// SessionTTL is how long a login lasts; zero means 12 hours.
	SessionTTL time.Duration
	// LoginRate and LoginBurst bound login attempts per user and address;
	// zero means one attempt per 20 s after a burst of 5.
	LoginRate  time.Duration
	LoginBurst int
}

// DefaultMaxAge is how long an evaluation is served before a new one.
const DefaultMaxAge = 30 * time.Second

// Server serves the web UI.
type Server struct {
	store store.Store
	log   *slog.Logger
	opts  Options
	mux   *http.ServeMux
	pages map[string]*template.Template
	eval  *evaluator
	login *loginLimiter
	// actions lists every state-changing route and the role it needs, so
	// a test can prove that an auditor is refused on each of them.
	actions []Action
	// dummyHash is what an unknown user's password is compared with.
	dummyHash []byte
}

// Action is one state-changing route.
type Action struct {
	Pattern string
	Role    store.Role
}

// New returns a Server; it does nothing until its Handler is served.
func New(st store.Store, log *slog.Logger, opts Options) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Freshness <= 0 {
		opts.Freshness = controls.DefaultFreshness
	}
	if opts.Engine == nil {
		opts.Engine = controls.Default()
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if opts.LoginRate <= 0 {
		opts.LoginRate = 20 * time.Second
	}
	if opts.LoginBurst <= 0 {
		opts.LoginBurst = 5
	}
	s := &Server{store: st, log: log.With("component", "web"), opts: opts, mux: http.NewServeMux(), dummyHash: dummyHash}
	var err error
	if s.pages, err = parseTemplates(); err != nil {
		return nil, err
	}
	s.eval = newEvaluator(st, s.log, opts)
	s.login = newLoginLimiter(opts.LoginRate, opts.LoginBurst)
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	static, _ := fs.Sub(staticFS, "static")
	fileServer := http.FileServerFS(static)
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", withCache(fileServer)))
	s.mux.HandleFunc("GET /login", s.handleLoginForm)
	s.mux.HandleFunc("POST /login", s.handleLogin)
	s.mux.HandleFunc("POST /logout", s.handleLogout)

	s.page("GET /{$}", s.handleOverview)
	s.page("GET /controls", s.handleControls)
	s.page("GET /controls/{framework}/{id...}", s.handleControl)
	s.page("GET /hosts", s.handleHosts)
	s.page("GET /hosts/{agent}", s.handleHost)
	s.page("GET /assets", s.handleAssets)
	s.page("GET /asset", s.handleAsset)
	s.page("GET /exports", s.handleExports)
	s.page("GET /export/{format}", s.handleExport)

	s.page("GET /hosts/{agent}/revoke", s.handleRevokeConfirm)
	s.action("POST /hosts/{agent}/revoke", store.RoleAdmin, s.handleRevoke)
	s.action("POST /evaluate", store.RoleAdmin, s.handleEvaluate)
	s.page("GET /exceptions", s.handleExceptions)
	s.action("POST /exceptions", store.RoleAdmin, s.handleAddException)
	s.action("POST /exceptions/{id}/revoke", store.RoleAdmin, s.handleRevokeException)
	s.page("GET /attestations", s.handleAttestations)
	s.action("POST /attestations", store.RoleAdmin, s.handleAddAttestation)
	s.action("POST /attestations/{id}/revoke", store.RoleAdmin, s.handleRevokeAttestation)
	s.page("GET /soa", s.handleSoA)
	s.action("POST /soa", store.RoleAdmin, s.handleSetSoA)
	s.page("GET /soa/sheet", s.handleSoASheet) // soaimport.go
	s.page("GET /soa/import", s.handleSoAImportForm)
	s.action("POST /soa/import", store.RoleAdmin, s.handleImportSoA)
	s.mux.HandleFunc("/", s.handleNotFound)
}

// Actions lists the state-changing routes and the role each needs.
func (s *Server) Actions() []Action { return append([]Action(nil), s.actions...) }

// Handler returns the HTTP handler with the security headers and the
// cross-origin check in front of every route.
func (s *Server) Handler() http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, http.StatusForbidden, "This form was sent from another site, so it was refused. Open the page on the collector itself and send it again.")
	}))
	return securityHeaders(cop.Handler(s.mux))
}

// Prepare starts the first evaluation in the background, so that the
// first page after a start does not wait for it on a large fleet.
func (s *Server) Prepare() {
	s.eval.mu.Lock()
	if s.eval.cur == nil {
		s.eval.startLocked()
	}
	s.eval.mu.Unlock()
}

// csp forbids every script, and styles and images from anywhere but the
// collector itself; charts are inline SVG drawn with attributes, not style.
const csp = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if r.TLS != nil {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

func withCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// handler is a page or action; an error becomes an error page.
type handler func(w http.ResponseWriter, r *http.Request, p *principal) error

// page registers a read-only route open to every logged-in user.
func (s *Server) page(pattern string, h handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		s.serve(w, r, p, h)
	})
}

// action registers a state-changing route: it needs role and the
// session's CSRF token in the form.
func (s *Server) action(pattern string, role store.Role, h handler) {
	s.actions = append(s.actions, Action{Pattern: pattern, Role: role})
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		if p.Role != role {
			s.log.Warn("action refused", "user", p.User, "role", p.Role, "path", r.URL.Path)
			s.errorPage(w, r, http.StatusForbidden, fmt.Sprintf("Your role (%s) may not do this; it needs the %s role.", p.Role, role))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxActionBody)
		if !s.checkCSRF(r, p.CSRF) {
			if bodyTooLarge(r) {
				s.errorPage(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("The form is larger than %d MiB; a Statement of Applicability sheet is far smaller. Check the file.", maxActionBody>>20))
				return
			}
			s.errorPage(w, r, http.StatusForbidden, "The form's security token is missing or out of date. Reload the page and send the form again.")
			return
		}
		s.serve(w, r, p, h)
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, p *principal, h handler) {
	start := time.Now()
	r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
	if err := h(w, r, p); err != nil {
		code := store.ErrorCode(err)
		var e *store.Error
		switch {
		case code == store.ENOTFOUND && errors.As(err, &e):
			s.errorPage(w, r, http.StatusNotFound, e.Message)
		case code == store.EINVALID && errors.As(err, &e):
			s.errorPage(w, r, http.StatusBadRequest, e.Message)
		case code == store.ECONFLICT && errors.As(err, &e):
			s.errorPage(w, r, http.StatusConflict, e.Message)
		default:
			s.log.Error("page failed", "path", r.URL.Path, "err", err)
			s.errorPage(w, r, http.StatusInternalServerError, "The collector failed to build this page; its log has the details.")
		}
	}
	s.log.Debug("page", "method", r.Method, "path", r.URL.Path, "user", p.User, "duration", time.Since(start))
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	s.errorPage(w, r, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
}

// localPath reports whether next is a path on this site, so a login
// redirect cannot send anyone elsewhere.
func localPath(next string) bool {
	return strings.HasPrefix(next, "/") && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n")
}
