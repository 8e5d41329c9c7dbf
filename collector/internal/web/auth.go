package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"

	"github.com/annexa/annexa/collector/internal/store"
)

// Password rules. bcrypt reads at most 72 bytes, so longer passwords are
// refused rather than silently cut.
const (
	MinPassword = 12
	MaxPassword = 72
	bcryptCost  = 12
)

// HashPassword returns the bcrypt hash to store for password.
func HashPassword(password string) (string, error) {
	return hashPassword(password, bcryptCost)
}

func hashPassword(password string, cost int) (string, error) {
	if err := CheckPasswordRules(password); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// CheckPasswordRules says what is wrong with a new password, or nil.
func CheckPasswordRules(password string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < MinPassword:
		return fmt.Errorf("the password has %d characters; use at least %d", n, MinPassword)
	case len(password) > MaxPassword:
		return fmt.Errorf("the password is %d bytes; bcrypt reads at most %d, so use a shorter one", len(password), MaxPassword)
	}
	return nil
}

// ValidUserName reports whether name may be a user name: 1 to 64
// characters of letters, digits and . _ @ -.
func ValidUserName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '@' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// dummyHash is compared against when the user does not exist, so that a
// wrong name takes as long as a wrong password and names cannot be probed.
// It is a bcrypt hash at bcryptCost of a phrase nobody logs in with.
var dummyHash = []byte("$2a$12$08OsQj.L9BpIs4XkPKybLO1Bk20w4ssgWGB1A23z6sbjzDFnXUPqO")

// principal is the logged-in user of a request.
type principal struct {
	User      string
	Role      store.Role
	CSRF      string
	tokenHash string
}

func (p *principal) Admin() bool { return p != nil && p.Role == store.RoleAdmin }

const (
	sessionCookie       = "annexa_session"
	secureSessionCookie = "__Host-annexa_session"
	loginCookie         = "annexa_login"
	secureLoginCookie   = "__Host-annexa_login"
)

func (s *Server) secure(r *http.Request) bool { return r.TLS != nil || s.opts.SecureCookies }

func (s *Server) cookieName(r *http.Request, plain, secure string) string {
	if s.secure(r) {
		return secure
	}
	return plain
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteStrictMode})
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// authenticate returns the request's user. Without a live session, a GET
// is sent to the login page and anything else is refused.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*principal, bool) {
	if c, err := r.Cookie(s.cookieName(r, sessionCookie, secureSessionCookie)); err == nil && c.Value != "" {
		th := hashToken(c.Value)
		sess, err := s.store.Session(r.Context(), th, s.opts.Now())
		if err == nil {
			return &principal{User: sess.User, Role: sess.Role, CSRF: sess.CSRF, tokenHash: th}, true
		}
		if store.ErrorCode(err) != store.ENOTFOUND {
			s.log.Error("read session", "err", err)
			s.errorPage(w, r, http.StatusInternalServerError, "The collector could not read your session; its log has the details.")
			return nil, false
		}
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return nil, false
	}
	s.errorPage(w, r, http.StatusForbidden, "You are not logged in, or your session has ended. Log in and try again.")
	return nil, false
}

func (s *Server) checkCSRF(r *http.Request, want string) bool {
	got := r.PostFormValue("csrf")
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

type loginData struct {
	Next  string
	CSRF  string
	User  string
	Error string
}

func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	s.renderLogin(w, r, http.StatusOK, loginData{Next: r.URL.Query().Get("next")})
}

// renderLogin shows the login form with a fresh pre-session CSRF token,
// sent both as a cookie and in the form (double submit): a page on another
// site can neither read the cookie nor set it.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, d loginData) {
	if !localPath(d.Next) {
		d.Next = "/"
	}
	d.CSRF = randomToken()
	s.setCookie(w, r, s.cookieName(r, loginCookie, secureLoginCookie), d.CSRF, 600)
	s.render(w, r, status, "login", nil, d)
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	name, password, next := r.PostFormValue("user"), r.PostFormValue("password"), r.PostFormValue("next")
	d := loginData{Next: next, User: name}
	c, err := r.Cookie(s.cookieName(r, loginCookie, secureLoginCookie))
	form := r.PostFormValue("csrf")
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) != 1 {
		d.Error = "The login form was out of date; please log in again."
		s.renderLogin(w, r, http.StatusForbidden, d)
		return
	}
	ip := clientIP(r)
	if wait, ok := s.login.allow(name, ip, s.opts.Now()); !ok {
		secs := int(math.Ceil(wait.Seconds()))
		s.log.Warn("login rate-limited", "user", name, "remote", ip)
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		d.Error = fmt.Sprintf("Too many login attempts for this user from your address. Wait %d seconds and try again.", secs)
		s.renderLogin(w, r, http.StatusTooManyRequests, d)
		return
	}
	u, err := s.store.User(r.Context(), name)
	if err != nil && store.ErrorCode(err) != store.ENOTFOUND {
		s.log.Error("login: read user", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "The collector could not check your login; its log has the details.")
		return
	}
	ok := false
	if u == nil {
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, []byte(password))
	} else {
		ok = bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) == nil
	}
	if !ok {
		s.log.Info("login failed", "user", name, "remote", ip)
		d.Error = "The user name or password is wrong."
		s.renderLogin(w, r, http.StatusUnauthorized, d)
		return
	}
	token, now := randomToken(), s.opts.Now()
	sess := store.Session{TokenHash: hashToken(token), User: u.Name, Role: u.Role, CSRF: randomToken(),
		CreatedAt: now, ExpiresAt: now.Add(s.opts.SessionTTL)}
	if err := s.store.CreateSession(r.Context(), sess); err != nil {
		s.log.Error("login: create session", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "The collector could not start your session; its log has the details.")
		return
	}
	s.log.Info("login", "user", u.Name, "role", u.Role, "remote", ip)
	s.setCookie(w, r, s.cookieName(r, loginCookie, secureLoginCookie), "", -1)
	s.setCookie(w, r, s.cookieName(r, sessionCookie, secureSessionCookie), token, int(s.opts.SessionTTL.Seconds()))
	if !localPath(next) {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if !s.checkCSRF(r, p.CSRF) {
		s.errorPage(w, r, http.StatusForbidden, "The form's security token is missing or out of date. Reload the page and send the form again.")
		return
	}
	if err := s.store.DeleteSession(r.Context(), p.tokenHash); err != nil {
		s.log.Error("logout", "err", err)
	}
	s.setCookie(w, r, s.cookieName(r, sessionCookie, secureSessionCookie), "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// clientIP is the TCP peer. X-Forwarded-For is not trusted: anyone can
// send it, and trusting it would let one client pose as many.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// loginLimiter allows a burst of attempts per (user, address) and then one
// per interval, and a larger budget per address alone so that one client
// cannot spray many user names.
type loginLimiter struct {
	mu       sync.Mutex
	every    time.Duration
	burst    int
	limiters map[string]*rate.Limiter
}

// maxLimiters bounds the limiter map; past it, idle entries are dropped.
const maxLimiters = 10000

func newLoginLimiter(every time.Duration, burst int) *loginLimiter {
	return &loginLimiter{every: every, burst: burst, limiters: map[string]*rate.Limiter{}}
}

// allow spends one attempt for user at ip; when refused it says how long
// to wait.
func (l *loginLimiter) allow(user, ip string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.limiters) > maxLimiters {
		for k, lim := range l.limiters {
			if lim.TokensAt(now) >= float64(lim.Burst()) {
				delete(l.limiters, k)
			}
		}
	}
	get := func(key string, burst int) *rate.Limiter {
		lim := l.limiters[key]
		if lim == nil {
			lim = rate.NewLimiter(rate.Every(l.every), burst)
			l.limiters[key] = lim
		}
		return lim
	}
	pair := get("u\x00"+user+"\x00"+ip, l.burst)
	addr := get("a\x00"+ip, 4*l.burst)
	rp, ra := pair.ReserveN(now, 1), addr.ReserveN(now, 1)
	wait := max(rp.DelayFrom(now), ra.DelayFrom(now))
	if wait > 0 {
		// Refused attempts do not count: waiting out the delay is enough.
		rp.CancelAt(now)
		ra.CancelAt(now)
		return wait, false
	}
	return 0, true
}
