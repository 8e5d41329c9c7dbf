package access

import (
	"bufio"
	"encoding/hex"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// SourceAudit is the source of events read from auditd logs.
const SourceAudit = "audit"

// Actions only audit logs give.
const (
	ActionFileAccess  = "file_access"  // a watched path was opened, written, renamed… (SYSCALL + PATH records)
	ActionAuditConfig = "audit_config" // an audit rule was added or removed, auditing switched (CONFIG_CHANGE)
	ActionAuditDaemon = "audit_daemon" // auditd started, stopped or aborted (DAEMON_*)
)

// DefaultMaxAuditRecords caps the records of one audit event; a longer
// event is counted as too_many_records and skipped.
const DefaultMaxAuditRecords = 64

// auidUnset is the audit login uid of a process that never logged in
// (daemons): (uint32)-1.
const auidUnset = "4294967295"

// Caps that keep one audit record small whatever the log holds.
const (
	maxAuditFields = 256
	maxExecveArgs  = 64
	maxEventPaths  = 16
)

// auditRecord is one line of audit.log:
//
//	[node=N ]type=T msg=audit(SECONDS.MILLIS:SERIAL): k=v k="v" k=HEX … [\x1d ENRICHED=…]
type auditRecord struct {
	Node   string
	Type   string
	Stamp  string // "SECONDS.MILLIS:SERIAL": the event's identity
	Time   time.Time
	Fields map[string]string
	// Enriched holds the fields auditd adds with log_format=ENRICHED
	// (after a \x1d separator): AUID="alice", SYSCALL=openat…
	Enriched map[string]string
}

// parseAuditLine reads one record. ok is false for a line that is not an
// audit record.
func parseAuditLine(line string) (auditRecord, bool) {
	var r auditRecord
	if rest, ok := strings.CutPrefix(line, "node="); ok {
		node, after, ok := strings.Cut(rest, " ")
		if !ok {
			return r, false
		}
		r.Node, line = node, after
	}
	rest, ok := strings.CutPrefix(line, "type=")
	if !ok {
		return r, false
	}
	typ, rest, ok := strings.Cut(rest, " ")
	if !ok || typ == "" {
		return r, false
	}
	rest, ok = strings.CutPrefix(rest, "msg=audit(")
	if !ok {
		return r, false
	}
	stamp, rest, ok := strings.Cut(rest, "):")
	if !ok {
		return r, false
	}
	t, ok := auditTime(stamp)
	if !ok {
		return r, false
	}
	r.Type, r.Stamp, r.Time = typ, stamp, t
	body, enriched, _ := strings.Cut(rest, "\x1d")
	r.Fields = map[string]string{}
	parseAuditFields(body, r.Fields, typ == "EXECVE")
	if enriched != "" {
		r.Enriched = map[string]string{}
		parseAuditFields(enriched, r.Enriched, false)
	}
	return r, true
}

// auditTime reads "1364481363.243:24287" (seconds since the epoch, UTC).
func auditTime(stamp string) (time.Time, bool) {
	ts, serial, ok := strings.Cut(stamp, ":")
	if !ok || serial == "" {
		return time.Time{}, false
	}
	if _, err := strconv.ParseUint(serial, 10, 64); err != nil {
		return time.Time{}, false
	}
	secStr, msStr, _ := strings.Cut(ts, ".")
	sec, err := strconv.ParseInt(secStr, 10, 64)
	if err != nil || sec < 0 || sec > 253402300799 {
		return time.Time{}, false
	}
	var nsec int64
	if msStr != "" {
		if len(msStr) > 9 {
			return time.Time{}, false
		}
		v, err := strconv.ParseInt(msStr, 10, 64)
		if err != nil || v < 0 {
			return time.Time{}, false
		}
		for i := len(msStr); i < 9; i++ {
			v *= 10
		}
		nsec = v
	}
	return time.Unix(sec, nsec).UTC(), true
}

// hexFields are the fields the kernel and libaudit write hex-encoded
// (without quotes) when the value holds a space, a quote, a control
// character or a byte above 0x7e; quoted, they are literal. From
// auparse's interpretation tables (AUPARSE_TYPE_ESCAPED and friends).
var hexFields = map[string]bool{
	"name": true, "cwd": true, "proctitle": true, "comm": true, "exe": true,
	"path": true, "key": true, "acct": true, "cmd": true, "data": true,
	"new": true, "old": true, "ocomm": true, "watch": true, "dir": true,
	"file": true,
}

// parseAuditFields reads space-separated key=value pairs into m. A value
// is "quoted", 'quoted' (the msg='…' of user-space records, whose inner
// fields are merged in), or bare; bare values of string fields are hex.
func parseAuditFields(s string, m map[string]string, execve bool) {
	for len(s) > 0 && len(m) < maxAuditFields {
		s = strings.TrimLeft(s, " ")
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return
		}
		key := s[:eq]
		if strings.ContainsAny(key, " '\"") {
			// Not a key (free text); skip a word.
			_, s, _ = strings.Cut(s, " ")
			continue
		}
		s = s[eq+1:]
		var val string
		quoted := false
		switch {
		case strings.HasPrefix(s, `"`):
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				val, s = s[1:], ""
			} else {
				val, s = s[1:1+end], s[2+end:]
			}
			quoted = true
		case strings.HasPrefix(s, "'"):
			end := strings.IndexByte(s[1:], '\'')
			var inner string
			if end < 0 {
				inner, s = s[1:], ""
			} else {
				inner, s = s[1:1+end], s[2+end:]
			}
			if key == "msg" {
				parseAuditFields(inner, m, false)
				continue
			}
			val, quoted = inner, true
		default:
			val, s, _ = strings.Cut(s, " ")
		}
		if !quoted && val != "(null)" && (hexFields[key] || (execve && isExecveArg(key))) {
			if d, ok := unhex(val); ok {
				val = d
			}
		}
		if _, dup := m[key]; !dup {
			m[key] = val
		}
	}
}

// isExecveArg says whether key is a0, a12 or a1[3] of an EXECVE record.
func isExecveArg(key string) bool {
	if len(key) < 2 || key[0] != 'a' {
		return false
	}
	k := key[1:]
	if i := strings.IndexByte(k, '['); i > 0 && strings.HasSuffix(k, "]") {
		if _, err := strconv.Atoi(k[i+1 : len(k)-1]); err != nil {
			return false
		}
		k = k[:i]
	}
	_, err := strconv.Atoi(k)
	return err == nil
}

func unhex(s string) (string, bool) {
	if len(s) == 0 || len(s)%2 != 0 {
		return "", false
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// standaloneAudit says whether a record type is a whole event by itself:
// user-space messages carry no SYSCALL, no PROCTITLE and no EOE.
func standaloneAudit(typ string) bool {
	for _, p := range []string{"USER_", "CRED_", "DAEMON_", "SERVICE_", "SYSTEM_", "ANOM_LOGIN", "ADD_", "DEL_", "GRP_", "ACCT_"} {
		if strings.HasPrefix(typ, p) {
			return true
		}
	}
	return false
}

// auditGroup is the records of one event (one msg=audit(…) stamp), in
// the order they were written.
type auditGroup struct {
	stamp   string
	records []auditRecord
	// first is the offset of the group's first line; lines counts every
	// line read since (records and malformed lines between them).
	first     int64
	lines     int64
	malformed int64
	tooLong   int64
	tooMany   bool
	raw       string
}

// addRaw keeps the event's lines for the event's raw text, up to the cap.
func (g *auditGroup) addRaw(raw string) {
	if len(g.records) > 1 && len(g.raw) < maxRawLine {
		g.raw = clip(g.raw+"\n"+raw, maxRawLine)
	}
}

// users maps uids to names, from a passwd file.
type users map[string]string

// maxPasswdBytes bounds what is read of a passwd file.
const maxPasswdBytes = 8 << 20

// loadUsers reads a passwd file (name:x:uid:…). A missing file gives an
// empty map: actors are then reported by number.
func loadUsers(file string) (users, error) {
	u := users{}
	if file == "" {
		return u, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return u, err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxPasswdBytes))
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		parts := strings.SplitN(line, ":", 4)
		if len(parts) < 3 || parts[0] == "" {
			continue
		}
		if _, dup := u[parts[2]]; !dup {
			u[parts[2]] = parts[0]
		}
	}
	return u, sc.Err()
}

// name resolves a uid; unknown ones are returned as the number.
func (u users) name(uid string) string {
	if n, ok := u[uid]; ok {
		return n
	}
	return uid
}

// auditEvent turns a complete group into an access event. assetOf maps a
// path to its asset subject ("" for none); interesting says whether a
// path lies under a watched or asset root.
func auditEvent(g *auditGroup, u users, interesting func(string) bool) (Event, lineResult) {
	if len(g.records) == 0 {
		return Event{}, lineMalformed
	}
	first := &g.records[0]
	ev := Event{Source: SourceAudit, Time: first.Time, At: first.Time.Format(time.RFC3339), Host: first.Node, Line: clip(g.raw, maxRawLine), AuditID: first.Stamp}
	if first.Type == "CONFIG_CHANGE" {
		ev, res := auditConfigEvent(first, ev, u)
		// Who changed the rules is on the SYSCALL record (auditctl's).
		for i := range g.records {
			if r := &g.records[i]; r.Type == "SYSCALL" {
				if ev.Actor == "" {
					ev.Actor, ev.UID = auditActor(r, u), r.Fields["uid"]
				}
				ev.Exe, ev.Program = r.Fields["exe"], path.Base(r.Fields["exe"])
				ev.PID, _ = strconv.Atoi(r.Fields["pid"])
				ev.Records = len(g.records)
				break
			}
		}
		return ev, res
	}
	if standaloneAudit(first.Type) {
		return auditUserEvent(first, ev, u)
	}
	var sys *auditRecord
	var cwd, proctitle string
	var argv []string
	var paths []string
	// main marks the PATH records that are not a parent folder: the
	// file a syscall was about comes first in the object.
	var main []bool
	for i := range g.records {
		r := &g.records[i]
		switch r.Type {
		case "SYSCALL":
			if sys == nil {
				sys = r
			}
		case "CWD":
			cwd = r.Fields["cwd"]
		case "PROCTITLE":
			proctitle = strings.TrimSpace(strings.ReplaceAll(r.Fields["proctitle"], "\x00", " "))
		case "EXECVE":
			argv = execveArgs(r.Fields)
		case "PATH":
			if len(paths) < maxEventPaths {
				if n := r.Fields["name"]; n != "" && n != "(null)" {
					paths = append(paths, n)
					main = append(main, r.Fields["nametype"] != "PARENT")
				}
			}
		}
	}
	if sys == nil {
		return Event{}, lineSkipped
	}
	// PATH names are as the process passed them: relative ones are
	// resolved against the CWD record.
	for i, p := range paths {
		if !strings.HasPrefix(p, "/") && cwd != "" && strings.HasPrefix(cwd, "/") {
			p = path.Join(cwd, p)
		}
		if strings.HasPrefix(p, "/") {
			p = path.Clean(p)
		}
		paths[i] = p
	}
	key := sys.Fields["key"]
	if key == "(null)" {
		key = ""
	}
	// A rule key may hold several keys joined by \x01.
	key = strings.ReplaceAll(key, "\x01", ",")
	hit := key != ""
	for _, p := range paths {
		if interesting(p) {
			hit = true
		}
	}
	if !hit {
		return Event{}, lineSkipped
	}
	f := sys.Fields
	ev.Action = ActionFileAccess
	ev.Result = ResultSuccess
	if f["success"] == "no" {
		ev.Result = ResultFailure
	}
	ev.AUID, ev.UID = f["auid"], f["uid"]
	ev.Actor = auditActor(sys, u)
	ev.PID, _ = strconv.Atoi(f["pid"])
	ev.Program = path.Base(f["exe"])
	if c := f["comm"]; c != "" && ev.Program == "." {
		ev.Program = c
	}
	ev.Exe = f["exe"]
	ev.Syscall = f["syscall"]
	if s := sys.Enriched["SYSCALL"]; s != "" {
		ev.Syscall = s
	}
	ev.Exit = f["exit"]
	ev.Key = key
	ev.Session = f["ses"]
	if t := f["tty"]; t != "(none)" {
		ev.TTY = t
	}
	ev.PWD = cwd
	ev.Paths = dedupe(paths)
	if len(argv) > 0 {
		ev.Command = strings.Join(argv, " ")
	} else {
		ev.Command = proctitle
	}
	ev.Command = clip(ev.Command, maxRawLine)
	if len(paths) > 0 {
		ev.Object = paths[0]
	pick:
		for _, wantMain := range []bool{true, false} {
			for i, p := range paths {
				if main[i] == wantMain && interesting(p) {
					ev.Object = p
					break pick
				}
			}
		}
	}
	ev.Records = len(g.records)
	return ev, lineEvent
}

func dedupe(ss []string) []string {
	var out []string
	for _, s := range ss {
		dup := false
		for _, o := range out {
			dup = dup || o == s
		}
		if !dup {
			out = append(out, s)
		}
	}
	return out
}

// auditConfigEvent reads a CONFIG_CHANGE (a rule added or removed,
// auditing switched on or off) and DAEMON_* records: who changed what
// the kernel records is evidence that the record is complete.
func auditConfigEvent(r *auditRecord, ev Event, u users) (Event, lineResult) {
	f := r.Fields
	ev.Action = ActionAuditConfig
	if strings.HasPrefix(r.Type, "DAEMON_") {
		ev.Action = ActionAuditDaemon
	}
	ev.Result = ResultFailure
	if f["res"] == "1" || f["res"] == "success" {
		ev.Result = ResultSuccess
	}
	ev.AUID, ev.UID = f["auid"], f["uid"]
	ev.Actor = auditActor(r, u)
	ev.PID, _ = strconv.Atoi(f["pid"])
	ev.Session = f["ses"]
	ev.Key = strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(f["key"], "(null)"), "\x00"), "\x01", ",")
	ev.Op = f["op"]
	ev.Object = ev.Key
	if ev.Object == "" {
		ev.Object = ev.Op
	}
	ev.Records = 1
	return ev, lineEvent
}

// auditActor names who acted: the login uid (who logged in, kept across
// su and sudo), or the uid for a process that never logged in.
func auditActor(r *auditRecord, u users) string {
	if n := r.Enriched["AUID"]; n != "" && n != "unset" {
		return n
	}
	if a := r.Fields["auid"]; a != "" && a != auidUnset && a != "-1" {
		return u.name(a)
	}
	if n := r.Enriched["UID"]; n != "" {
		return n
	}
	if id := r.Fields["uid"]; id != "" {
		return u.name(id)
	}
	return ""
}

// execveArgs returns argv from a0…aN, joining the a1[0], a1[1]… chunks
// the kernel writes for long arguments.
func execveArgs(f map[string]string) []string {
	argc, err := strconv.Atoi(f["argc"])
	if err != nil || argc < 0 {
		return nil
	}
	argc = min(argc, maxExecveArgs)
	out := make([]string, 0, argc)
	for i := 0; i < argc; i++ {
		k := "a" + strconv.Itoa(i)
		if v, ok := f[k]; ok {
			out = append(out, v)
			continue
		}
		var parts []string
		for j := 0; ; j++ {
			v, ok := f[k+"["+strconv.Itoa(j)+"]"]
			if !ok {
				break
			}
			parts = append(parts, v)
		}
		if parts == nil {
			break
		}
		out = append(out, strings.Join(parts, ""))
	}
	return out
}

// auditUserEvent reads the user-space records that PAM, sshd, login and
// sudo write through libaudit.
func auditUserEvent(r *auditRecord, ev Event, u users) (Event, lineResult) {
	f := r.Fields
	ev.PID, _ = strconv.Atoi(f["pid"])
	ev.AUID, ev.UID = f["auid"], f["uid"]
	ev.Exe = f["exe"]
	if ev.Exe != "" && ev.Exe != "?" {
		ev.Program = path.Base(ev.Exe)
	}
	ev.Session = f["ses"]
	if t := f["terminal"]; t != "" && t != "?" {
		ev.TTY = t
	}
	ok := f["res"] == "success" || f["res"] == "1" || f["result"] == "success"
	ev.Result = ResultFailure
	if ok {
		ev.Result = ResultSuccess
	}
	if a := f["addr"]; a != "" && a != "?" {
		ev.Remote = a
	} else if h := f["hostname"]; h != "" && h != "?" {
		ev.Remote = h
	}
	// The account the message is about: acct, else id (a uid), else who
	// is logged in.
	actor := f["acct"]
	if actor == "" || actor == "?" || actor == "(unknown)" {
		actor = ""
		if n := r.Enriched["ID"]; n != "" {
			actor = n
		} else if id := f["id"]; id != "" && id != "?" && id != auidUnset {
			actor = u.name(id)
		}
	}
	loggedIn := auditActor(r, u)
	if actor == "" {
		actor = loggedIn
	}
	ev.Actor = actor
	if loggedIn != actor && f["auid"] != auidUnset {
		// su and sudo sessions: the account used, and who logged in.
		ev.By = loggedIn
	}
	ev.Object = ev.Program
	if ev.Program == "sshd" {
		ev.Object = "ssh"
	}
	op := f["op"]
	switch r.Type {
	case "DAEMON_START", "DAEMON_END", "DAEMON_ABORT":
		return auditConfigEvent(r, ev, u)
	case "USER_LOGIN":
		ev.Action = ActionLogin
		if !ok {
			ev.Action = ActionLoginFailed
		}
	case "USER_AUTH":
		if ok {
			return Event{}, lineSkipped
		}
		ev.Action = ActionAuthFailure
	case "USER_CMD":
		ev.Action = ActionPrivilege
		if !ok {
			ev.Action = ActionPrivilegeFailed
		}
		// The actor is who logged in (auid), not root.
		ev.Actor, ev.By = loggedIn, ""
		ev.Object = ""
		ev.Command = clip(f["cmd"], maxRawLine)
		ev.PWD = f["cwd"]
	case "USER_START":
		if !ok || !strings.Contains(op, "session_open") {
			return Event{}, lineSkipped
		}
		ev.Action = ActionSessionOpen
	case "USER_END":
		if !ok || !strings.Contains(op, "session_close") {
			return Event{}, lineSkipped
		}
		ev.Action = ActionSessionClose
	default:
		return Event{}, lineSkipped
	}
	ev.Records = 1
	return ev, lineEvent
}

// auditGrouper gathers records into events by their stamp. An event is
// complete at its PROCTITLE or EOE record, at a record of another event,
// when it is a user-space record (one line), or when the input ends for
// good.
type auditGrouper struct {
	max int
	cur *auditGroup
}

// add takes one parsed line and returns the group it completed, if any.
// The record itself may complete at once (a user-space record); then
// done holds up to two groups, in order.
func (a *auditGrouper) add(rec auditRecord, raw string, off int64) (done []*auditGroup) {
	if a.cur != nil && a.cur.stamp != rec.Stamp {
		done = append(done, a.cur)
		a.cur = nil
	}
	if a.cur == nil {
		if rec.Type == "EOE" {
			// An EOE whose records came before a restart or were cut off.
			return append(done, &auditGroup{stamp: rec.Stamp, first: off, lines: 1})
		}
		a.cur = &auditGroup{stamp: rec.Stamp, first: off, raw: clip(raw, maxRawLine)}
	}
	g := a.cur
	g.lines++
	// auditd does not write the kernel's EOE; PROCTITLE is the kernel's
	// last record of a syscall event, so it closes one too.
	if rec.Type == "EOE" || rec.Type == "PROCTITLE" {
		if rec.Type == "PROCTITLE" {
			if len(g.records) < a.max {
				g.records = append(g.records, rec)
				g.addRaw(raw)
			} else {
				g.tooMany = true
			}
		}
		a.cur = nil
		return append(done, g)
	}
	if len(g.records) >= a.max {
		g.tooMany = true
	} else {
		g.records = append(g.records, rec)
		g.addRaw(raw)
	}
	if standaloneAudit(rec.Type) && len(g.records) == 1 {
		a.cur = nil
		return append(done, g)
	}
	return done
}

// stray counts a line that is not a record: inside an open event it
// belongs to it (so a held-back event is counted once); outside, the
// caller counts it.
func (a *auditGrouper) stray(malformed, tooLong bool) bool {
	if a.cur == nil {
		return false
	}
	a.cur.lines++
	if malformed {
		a.cur.malformed++
	}
	if tooLong {
		a.cur.tooLong++
	}
	return true
}

// flush returns the open group (the input ended for good).
func (a *auditGrouper) flush() *auditGroup {
	g := a.cur
	a.cur = nil
	return g
}
