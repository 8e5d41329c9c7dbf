package access

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// Sources an event can come from.
const (
	SourceAuthLog = "auth.log"
	SourceHTTP    = "http"
)

// Actions of access.event. A failure action always has result "failure".
const (
	ActionLogin             = "login"              // a user logged in (sshd Accepted, login)
	ActionLoginFailed       = "login_failed"       // a login attempt was refused (sshd Failed, FAILED LOGIN, klogind)
	ActionInvalidUser       = "invalid_user"       // sshd: attempt for a user that does not exist
	ActionAuthFailure       = "auth_failure"       // pam_unix: authentication failure (any service)
	ActionPreauthDisconnect = "preauth_disconnect" // sshd: client gave up while authenticating as a user
	ActionBreakInAttempt    = "break_in_attempt"   // sshd: reverse DNS does not match (POSSIBLE BREAK-IN ATTEMPT)
	ActionPrivilege         = "privilege"          // sudo command run, su succeeded
	ActionPrivilegeFailed   = "privilege_failed"   // sudo refused, su failed
	ActionSessionOpen       = "session_open"       // pam_unix session opened
	ActionSessionClose      = "session_close"      // pam_unix session closed
	ActionHTTPUnauthorized  = "http_unauthorized"  // HTTP 401
	ActionHTTPForbidden     = "http_forbidden"     // HTTP 403
	ActionHTTPRequest       = "http_request"       // any other request for an asset (http_logs[].assets)
)

// Results.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
)

// maxRawLine caps the raw line kept in an event's attributes.
const maxRawLine = 1024

// Event is one security-relevant log line: the attributes of an
// access.event record.
type Event struct {
	Source  string `json:"source"`
	Actor   string `json:"actor"`
	Action  string `json:"action"`
	Object  string `json:"object"`
	Result  string `json:"result"`
	Remote  string `json:"remote,omitempty"`
	At      string `json:"at"`
	Program string `json:"program,omitempty"`
	PID     int    `json:"pid,omitempty"`
	Host    string `json:"host,omitempty"`
	// Details that only some actions have.
	Method      string   `json:"method,omitempty"`
	Port        int      `json:"port,omitempty"`
	InvalidUser bool     `json:"invalid_user,omitempty"`
	By          string   `json:"by,omitempty"`
	TTY         string   `json:"tty,omitempty"`
	PWD         string   `json:"pwd,omitempty"`
	Command     string   `json:"command,omitempty"`
	Reason      string   `json:"reason,omitempty"`
	Status      int      `json:"status,omitempty"`
	HTTPMethod  string   `json:"http_method,omitempty"`
	Watched     []string `json:"watched_paths,omitempty"`
	// Audit records only: the login uid and uid as numbers, the
	// executable, syscall, its exit code, the rule key, the session, the
	// paths of the PATH records and how many records the event had.
	AUID    string   `json:"auid,omitempty"`
	UID     string   `json:"uid,omitempty"`
	Exe     string   `json:"exe,omitempty"`
	Syscall string   `json:"syscall,omitempty"`
	Exit    string   `json:"exit,omitempty"`
	Key     string   `json:"key,omitempty"`
	Op      string   `json:"op,omitempty"`
	Session string   `json:"session,omitempty"`
	Paths   []string `json:"paths,omitempty"`
	Records int      `json:"records,omitempty"`
	// AuditID is the event's msg=audit(SECONDS.MILLIS:SERIAL) stamp;
	// ausearch -a SERIAL finds it.
	AuditID string `json:"audit_id,omitempty"`
	// Asset is the dataset: or model: subject the accessed path belongs
	// to, as the datasets and models plugins name it.
	Asset string `json:"asset,omitempty"`
	// Cursor is a journal entry's (journalctl --cursor C -n 1 shows it).
	Cursor string `json:"cursor,omitempty"`
	// Repeat is N for a line syslog folded ("message repeated N times"):
	// one event standing for N occurrences.
	Repeat int `json:"repeat,omitempty"`
	// Where the line is: the log file, its byte offset and line number.
	File   string `json:"file,omitempty"`
	Offset int64  `json:"offset"`
	LineNo int64  `json:"line_no,omitempty"`
	Line   string `json:"line"`

	// Time is At parsed; the anomaly rules use it.
	Time time.Time `json:"-"`
}

// ParseOptions bound and steer a parser.
type ParseOptions struct {
	// MaxLineBytes caps a line (DefaultMaxLineBytes when 0).
	MaxLineBytes int
	// Year is the year of syslog timestamps that carry none; 0 means the
	// current year (a date more than a week ahead of Now is taken as last
	// year's). With a fixed year, a month that jumps back by six or more
	// starts the next year.
	Year int
	// Location of syslog timestamps without a zone (time.Local when nil).
	Location *time.Location
	// Now is the clock for Year 0 (time.Now when zero).
	Now time.Time
}

// Stats count what a parse saw.
type Stats struct {
	Lines     int64 `json:"lines"`
	Events    int64 `json:"events"`
	Skipped   int64 `json:"skipped"`   // well-formed, not security-relevant
	Malformed int64 `json:"malformed"` // not in the expected format
	TooLong   int64 `json:"too_long"`  // longer than the line cap; skipped
}

// lineResult says what a line was.
type lineResult int

const (
	lineEvent lineResult = iota
	lineSkipped
	lineMalformed
)

// yearState resolves the missing year of syslog dates line by line; it
// is kept in the checkpoint so that resuming continues the same year.
type yearState struct {
	Year      int `json:"year,omitempty"`
	LastMonth int `json:"last_month,omitempty"`
}

// authParser parses syslog auth lines.
type authParser struct {
	year  yearState
	fixed bool
	loc   *time.Location
	now   time.Time
}

func newAuthParser(opt ParseOptions, st yearState) *authParser {
	p := &authParser{year: st, fixed: opt.Year != 0, loc: opt.Location, now: opt.Now}
	if p.loc == nil {
		p.loc = time.Local
	}
	if p.now.IsZero() {
		p.now = time.Now()
	}
	if p.fixed && p.year.Year == 0 {
		p.year.Year = opt.Year
	}
	return p
}

// ParseAuthLog reads a syslog-style auth log to its end (a last line
// without a newline included) and calls fn for each security-relevant
// line. It never holds more than one line (at most MaxLineBytes) in memory.
func ParseAuthLog(r io.Reader, opt ParseOptions, fn func(Event) error) (Stats, error) {
	p := newAuthParser(opt, yearState{})
	return scanAll(r, opt.MaxLineBytes, func(line []byte) (Event, lineResult) { return p.parse(line) }, fn)
}

// scanAll drives a line parser over a whole reader.
func scanAll(r io.Reader, maxLine int, parse func([]byte) (Event, lineResult), fn func(Event) error) (Stats, error) {
	var st Stats
	sc := newLineScanner(r, 0, maxLine, true)
	for {
		line, off, tooLong, err := sc.next()
		if errors.Is(err, io.EOF) {
			return st, nil
		}
		if err != nil {
			return st, err
		}
		st.Lines++
		if tooLong {
			st.TooLong++
			continue
		}
		ev, res := parse(line)
		switch res {
		case lineSkipped:
			st.Skipped++
			continue
		case lineMalformed:
			st.Malformed++
			continue
		}
		st.Events++
		ev.Offset, ev.LineNo = off, st.Lines
		if err := fn(ev); err != nil {
			return st, err
		}
	}
}

var months = map[string]time.Month{
	"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6,
	"Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}

// parse turns one line into an event.
func (p *authParser) parse(b []byte) (Event, lineResult) {
	line := string(b)
	t, rest, ok := p.timestamp(line)
	if !ok {
		return Event{}, lineMalformed
	}
	host, rest, ok := strings.Cut(rest, " ")
	if !ok {
		return Event{}, lineMalformed
	}
	tag, msg, ok := strings.Cut(rest, ": ")
	if !ok {
		// "prog[1]:" with an empty message, or no tag at all.
		return Event{}, lineSkipped
	}
	prog, pid := splitTag(tag)
	ev, ok := dispatch(prog, msg)
	if !ok {
		return Event{}, lineSkipped
	}
	ev.Source = SourceAuthLog
	ev.Program, ev.PID, ev.Host = prog, pid, host
	ev.Time = t
	ev.At = t.UTC().Format(time.RFC3339)
	ev.Line = clip(line, maxRawLine)
	return ev, lineEvent
}

// timestamp reads "Jan  2 15:04:05 " or an RFC 3339 stamp and a space.
func (p *authParser) timestamp(line string) (time.Time, string, bool) {
	if len(line) > 0 && line[0] >= '0' && line[0] <= '9' {
		stamp, rest, ok := strings.Cut(line, " ")
		if !ok {
			return time.Time{}, "", false
		}
		t, err := time.Parse(time.RFC3339Nano, stamp)
		if err != nil || !saneTime(t) {
			return time.Time{}, "", false
		}
		return t, rest, true
	}
	if len(line) < 16 || line[3] != ' ' || line[6] != ' ' || line[9] != ':' || line[12] != ':' || line[15] != ' ' {
		return time.Time{}, "", false
	}
	mon, ok := months[line[0:3]]
	if !ok {
		return time.Time{}, "", false
	}
	day, ok1 := atoi2(line[4:6])
	hh, ok2 := atoi2(line[7:9])
	mm, ok3 := atoi2(line[10:12])
	ss, ok4 := atoi2(line[13:15])
	if !ok1 || !ok2 || !ok3 || !ok4 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, "", false
	}
	return time.Date(p.yearFor(mon), mon, day, hh, mm, ss, 0, p.loc), line[16:], true
}

func (p *authParser) yearFor(mon time.Month) int {
	if !p.fixed {
		y := p.now.Year()
		if time.Date(y, mon, 1, 0, 0, 0, 0, p.loc).After(p.now.AddDate(0, 0, 7)) {
			y--
		}
		return y
	}
	m := int(mon)
	switch d := m - p.year.LastMonth; {
	case p.year.LastMonth == 0:
		p.year.LastMonth = m
	case d <= -6: // Dec → Jan: a new year
		p.year.Year++
		p.year.LastMonth = m
	case d >= 6: // a late line from before the turn of the year
		return p.year.Year - 1
	case d > 0:
		p.year.LastMonth = m
	}
	return p.year.Year
}

// atoi2 reads two digits, the first of which may be a space.
func atoi2(s string) (int, bool) {
	a, b := s[0], s[1]
	if a == ' ' {
		a = '0'
	}
	if a < '0' || a > '9' || b < '0' || b > '9' {
		return 0, false
	}
	return int(a-'0')*10 + int(b-'0'), true
}

// splitTag splits "sshd[123]" into its program and pid.
func splitTag(tag string) (string, int) {
	prog, pidStr, ok := strings.Cut(tag, "[")
	if !ok {
		return tag, 0
	}
	pid, err := strconv.Atoi(strings.TrimSuffix(pidStr, "]"))
	if err != nil || pid < 0 {
		pid = 0
	}
	return prog, pid
}

// dispatch reads a message by the program that wrote it.
func dispatch(prog, msg string) (Event, bool) {
	// Old PAM writes "sshd(pam_unix)[pid]: authentication failure; ...".
	if svc, ok := strings.CutSuffix(prog, "(pam_unix)"); ok {
		return pamMessage(svc, msg)
	}
	if rest, ok := strings.CutPrefix(msg, "pam_unix("); ok {
		svcType, body, ok := strings.Cut(rest, "): ")
		if !ok {
			return Event{}, false
		}
		svc, _, _ := strings.Cut(svcType, ":")
		return pamMessage(svc, body)
	}
	// rsyslog folds repeats: "message repeated 5 times: [ Failed password for ...]".
	if rest, ok := strings.CutPrefix(msg, "message repeated "); ok {
		nStr, inner, ok := strings.Cut(rest, " times: [ ")
		n, err := strconv.Atoi(nStr)
		if !ok || err != nil || n < 1 || !strings.HasSuffix(inner, "]") || strings.HasPrefix(inner, "message repeated ") {
			return Event{}, false
		}
		ev, ok := dispatch(prog, strings.TrimSuffix(inner, "]"))
		ev.Repeat = n
		return ev, ok
	}
	switch prog {
	case "sshd":
		return sshdMessage(msg)
	case "sudo":
		return sudoMessage(msg)
	case "su":
		return suMessage(msg)
	case "login":
		return loginMessage(msg)
	case "klogind":
		return klogindMessage(msg)
	}
	return Event{}, false
}

func sshdMessage(msg string) (Event, bool) {
	switch {
	case strings.HasPrefix(msg, "Accepted "):
		method, rest, _ := strings.Cut(msg[len("Accepted "):], " ")
		user, remote, port, ok := forFrom(rest)
		if !ok {
			return Event{}, false
		}
		return Event{Actor: user, Action: ActionLogin, Object: "ssh", Result: ResultSuccess, Remote: remote, Port: port, Method: method}, true
	case strings.HasPrefix(msg, "Failed "):
		method, rest, _ := strings.Cut(msg[len("Failed "):], " ")
		user, remote, port, ok := forFrom(rest)
		if !ok {
			return Event{}, false
		}
		user, invalid := strings.CutPrefix(user, "invalid user ")
		return Event{Actor: user, Action: ActionLoginFailed, Object: "ssh", Result: ResultFailure, Remote: remote, Port: port, Method: method, InvalidUser: invalid}, true
	case strings.HasPrefix(msg, "Invalid user "):
		rest := msg[len("Invalid user "):]
		i := strings.LastIndex(rest, " from ")
		if i < 0 {
			return Event{}, false
		}
		remote, port := hostPort(rest[i+len(" from "):])
		return Event{Actor: rest[:i], Action: ActionInvalidUser, Object: "ssh", Result: ResultFailure, Remote: remote, Port: port, InvalidUser: true}, true
	case strings.HasPrefix(msg, "Connection closed by authenticating user "),
		strings.HasPrefix(msg, "Connection closed by invalid user "),
		strings.HasPrefix(msg, "Disconnected from authenticating user "),
		strings.HasPrefix(msg, "Disconnected from invalid user "):
		_, rest, _ := strings.Cut(msg, " user ")
		invalid := strings.Contains(msg[:len(msg)-len(rest)], "invalid")
		// "<user> <ip> port <port> [preauth]"; a user name may hold spaces.
		rest = strings.TrimSuffix(rest, " [preauth]")
		f := strings.Fields(rest)
		if len(f) < 3 || f[len(f)-2] != "port" {
			return Event{}, false
		}
		port, _ := strconv.Atoi(f[len(f)-1])
		remote := f[len(f)-3]
		user := strings.Join(f[:len(f)-3], " ")
		return Event{Actor: user, Action: ActionPreauthDisconnect, Object: "ssh", Result: ResultFailure, Remote: remote, Port: port, InvalidUser: invalid}, true
	case strings.HasPrefix(msg, "reverse mapping checking ") && strings.HasSuffix(msg, "POSSIBLE BREAK-IN ATTEMPT!"):
		// "reverse mapping checking getaddrinfo for HOST [IP] failed - POSSIBLE BREAK-IN ATTEMPT!"
		_, rest, _ := strings.Cut(msg, " for ")
		host, rest, _ := strings.Cut(rest, " [")
		ip, _, ok := strings.Cut(rest, "]")
		if !ok {
			return Event{}, false
		}
		return Event{Action: ActionBreakInAttempt, Object: "ssh", Result: ResultFailure, Remote: ip, Reason: "reverse DNS " + host + " does not map back"}, true
	}
	return Event{}, false
}

// forFrom reads "<user> from <ip> port <port> ...".
func forFrom(s string) (user, remote string, port int, ok bool) {
	rest, ok := strings.CutPrefix(s, "for ")
	if !ok {
		return "", "", 0, false
	}
	i := strings.LastIndex(rest, " from ")
	if i < 0 {
		return "", "", 0, false
	}
	remote, port = hostPort(rest[i+len(" from "):])
	return rest[:i], remote, port, remote != ""
}

// hostPort reads "<ip> port <port> ..." or "<ip>".
func hostPort(s string) (string, int) {
	remote, rest, _ := strings.Cut(s, " ")
	if p, ok := strings.CutPrefix(rest, "port "); ok {
		p, _, _ = strings.Cut(p, " ")
		n, _ := strconv.Atoi(p)
		return remote, n
	}
	return remote, 0
}

// pamMessage reads the pam_unix messages of any service.
func pamMessage(svc, body string) (Event, bool) {
	switch {
	case strings.HasPrefix(body, "authentication failure;"):
		kv := pamFields(body[len("authentication failure;"):])
		actor := kv["user"]
		if actor == "" {
			actor = kv["ruser"]
		}
		return Event{Actor: actor, Action: ActionAuthFailure, Object: svc, Result: ResultFailure, Remote: kv["rhost"], TTY: kv["tty"], By: kv["logname"]}, true
	case strings.HasPrefix(body, "session opened for user "):
		rest := body[len("session opened for user "):]
		user, by, _ := strings.Cut(rest, " by ")
		return Event{Actor: stripUID(user), Action: ActionSessionOpen, Object: svc, Result: ResultSuccess, By: stripUID(by)}, true
	case strings.HasPrefix(body, "session closed for user "):
		return Event{Actor: stripUID(strings.TrimSpace(body[len("session closed for user "):])), Action: ActionSessionClose, Object: svc, Result: ResultSuccess}, true
	}
	return Event{}, false
}

// pamFields reads " logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root".
func pamFields(s string) map[string]string {
	kv := map[string]string{}
	for _, f := range strings.Fields(s) {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		}
	}
	return kv
}

// stripUID turns "alice(uid=1000)" into "alice" and "(uid=0)" into "uid=0".
func stripUID(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '('); i > 0 {
		return s[:i]
	}
	return strings.Trim(s, "()")
}

// sudoMessage reads "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id"
// and its refusals ("alice : 3 incorrect password attempts ; TTY=... ; COMMAND=...").
func sudoMessage(msg string) (Event, bool) {
	actor, rest, ok := strings.Cut(strings.TrimSpace(msg), " : ")
	if !ok || actor == "" || strings.Contains(actor, " ") {
		return Event{}, false
	}
	ev := Event{Actor: actor, Action: ActionPrivilege, Object: "root", Result: ResultSuccess}
	if i := strings.Index(rest, "COMMAND="); i >= 0 {
		ev.Command = rest[i+len("COMMAND="):]
		rest = rest[:i]
	}
	var reasons []string
	for _, f := range strings.Split(rest, ";") {
		f = strings.TrimSpace(f)
		k, v, ok := strings.Cut(f, "=")
		switch {
		case f == "":
		case ok && k == "TTY":
			ev.TTY = v
		case ok && k == "PWD":
			ev.PWD = v
		case ok && k == "USER":
			ev.Object = v
		case ok && isUpper(k):
			// GROUP=, ENV=: not needed
		default:
			reasons = append(reasons, f)
		}
	}
	if ev.Command == "" && ev.TTY == "" && ev.PWD == "" {
		return Event{}, false
	}
	if len(reasons) > 0 {
		ev.Action, ev.Result, ev.Reason = ActionPrivilegeFailed, ResultFailure, strings.Join(reasons, "; ")
	}
	return ev, true
}

func isUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return s != ""
}

// suMessage reads "Successful su for root by alice", "FAILED su for root by
// alice", and util-linux's "(to root) alice on pts/0" / "FAILED SU (to root) alice on pts/0".
func suMessage(msg string) (Event, bool) {
	for _, c := range []struct {
		prefix         string
		action, result string
	}{
		{"Successful su for ", ActionPrivilege, ResultSuccess},
		{"FAILED su for ", ActionPrivilegeFailed, ResultFailure},
	} {
		if rest, ok := strings.CutPrefix(msg, c.prefix); ok {
			target, by, ok := strings.Cut(rest, " by ")
			if !ok {
				return Event{}, false
			}
			return Event{Actor: by, Action: c.action, Object: target, Result: c.result}, true
		}
	}
	action, result := ActionPrivilege, ResultSuccess
	rest := msg
	if r, ok := strings.CutPrefix(msg, "FAILED SU "); ok {
		action, result, rest = ActionPrivilegeFailed, ResultFailure, r
	}
	if r, ok := strings.CutPrefix(rest, "(to "); ok {
		target, r, ok := strings.Cut(r, ") ")
		if !ok {
			return Event{}, false
		}
		actor, tty, _ := strings.Cut(r, " on ")
		return Event{Actor: actor, Action: action, Object: target, Result: result, TTY: tty}, true
	}
	return Event{}, false
}

// loginMessage reads login(1): "FAILED LOGIN (1) on '/dev/tty1' FOR 'bob', Authentication failure",
// "FAILED LOGIN 1 FROM host FOR bob, reason", "ROOT LOGIN  on '/dev/tty1'", "LOGIN ON tty1 BY bob".
func loginMessage(msg string) (Event, bool) {
	switch {
	case strings.HasPrefix(msg, "FAILED LOGIN "):
		ev := Event{Action: ActionLoginFailed, Object: "login", Result: ResultFailure}
		rest := msg[len("FAILED LOGIN "):]
		if i := strings.Index(rest, " FOR "); i >= 0 {
			who, reason, _ := strings.Cut(rest[i+len(" FOR "):], ", ")
			ev.Actor, ev.Reason = strings.Trim(who, "'"), reason
			head := rest[:i]
			if _, from, ok := strings.Cut(head, " FROM "); ok {
				ev.Remote = strings.Trim(from, "'")
			}
			if _, tty, ok := strings.Cut(head, " on "); ok {
				ev.TTY = strings.Trim(tty, "'")
			}
		}
		return ev, true
	case strings.HasPrefix(msg, "ROOT LOGIN "):
		rest := strings.TrimSpace(msg[len("ROOT LOGIN "):])
		if len(rest) >= 3 && strings.EqualFold(rest[:3], "on ") {
			rest = rest[3:]
		}
		tty, from, _ := strings.Cut(rest, " FROM ")
		return Event{Actor: "root", Action: ActionLogin, Object: "login", Result: ResultSuccess, TTY: strings.Trim(tty, "'"), Remote: strings.Trim(from, "'")}, true
	case strings.HasPrefix(msg, "LOGIN ON "):
		rest := msg[len("LOGIN ON "):]
		tty, who, ok := strings.Cut(rest, " BY ")
		if !ok {
			return Event{}, false
		}
		ev := Event{Action: ActionLogin, Object: "login", Result: ResultSuccess, TTY: tty}
		ev.Actor, ev.Remote, _ = strings.Cut(who, " FROM ")
		return ev, true
	}
	return Event{}, false
}

// klogindMessage reads "Authentication failed from 163.27.187.39 (host): reason".
func klogindMessage(msg string) (Event, bool) {
	rest, ok := strings.CutPrefix(msg, "Authentication failed from ")
	if !ok {
		return Event{}, false
	}
	ip, reason, _ := strings.Cut(rest, " ")
	if _, r, ok := strings.Cut(reason, "): "); ok {
		reason = r
	}
	return Event{Action: ActionLoginFailed, Object: "klogind", Result: ResultFailure, Remote: ip, Reason: strings.TrimSpace(reason)}, true
}

// clip shortens s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// saneTime says whether t prints as RFC 3339 in UTC (years 1 to 9999).
func saneTime(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 1 && y <= 9999
}
