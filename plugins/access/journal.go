package access

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// SourceJournal is the source of events read from the systemd journal.
const SourceJournal = "journald"

// journalKey is the journal's entry in the checkpoint's logs.
const journalKey = "journal"

// defaultJournalMatches select the auth and authpriv syslog facilities:
// sshd, sudo, su, login and PAM log there.
var defaultJournalMatches = []string{"SYSLOG_FACILITY=4", "SYSLOG_FACILITY=10"}

// maxJournalStderr bounds what is kept of journalctl's error output.
const maxJournalStderr = 4096

// journalFields are the fields of `journalctl -o json` this plugin reads.
// MESSAGE is a string, an array of bytes (not UTF-8), or null (over
// 4096 bytes without --all).
type journalFields struct {
	Cursor     string          `json:"__CURSOR"`
	Realtime   string          `json:"__REALTIME_TIMESTAMP"`
	Message    json.RawMessage `json:"MESSAGE"`
	Identifier string          `json:"SYSLOG_IDENTIFIER"`
	Comm       string          `json:"_COMM"`
	SyslogPID  string          `json:"SYSLOG_PID"`
	PID        string          `json:"_PID"`
	Hostname   string          `json:"_HOSTNAME"`
}

// parseJournalLine reads one entry. The cursor comes back whenever the
// entry has one, whatever the entry is, so reading can resume after it.
func parseJournalLine(b []byte) (Event, string, lineResult) {
	var f journalFields
	if err := json.Unmarshal(b, &f); err != nil {
		return Event{}, "", lineMalformed
	}
	us, err := strconv.ParseInt(f.Realtime, 10, 64)
	if err != nil || us < 0 || us > 253402300799_000000 {
		return Event{}, f.Cursor, lineMalformed
	}
	msg, ok := journalMessage(f.Message)
	if !ok {
		return Event{}, f.Cursor, lineMalformed
	}
	prog := f.Identifier
	if prog == "" {
		prog = f.Comm
	}
	pidText := f.SyslogPID
	if pidText == "" {
		pidText = f.PID
	}
	pid, _ := strconv.Atoi(pidText)
	ev, ok := dispatch(prog, msg)
	if !ok {
		return Event{}, f.Cursor, lineSkipped
	}
	t := time.UnixMicro(us).UTC()
	ev.Source, ev.Program, ev.PID, ev.Host = SourceJournal, prog, max(pid, 0), f.Hostname
	ev.Time, ev.At = t, t.Format(time.RFC3339)
	ev.Cursor = f.Cursor
	ev.Line = clip(prog+"["+pidText+"]: "+msg, maxRawLine)
	return ev, f.Cursor, lineEvent
}

func journalMessage(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == 'n' {
		return "", false
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err == nil
	}
	var bs []byte
	var nums []int
	if err := json.Unmarshal(raw, &nums); err != nil {
		return "", false
	}
	for _, n := range nums {
		if n < 0 || n > 255 {
			return "", false
		}
		bs = append(bs, byte(n))
	}
	return string(bs), true
}

// journalSubject names an entry by its sequence number source and number
// (the cursor's s= and i=), which stay the same however it is read.
func journalSubject(cursor string) string {
	var s, i string
	for _, part := range strings.Split(cursor, ";") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "s":
			s = v
		case "i":
			i = v
		}
	}
	if s == "" || i == "" {
		h := sha256.Sum256([]byte(cursor))
		return "access:journal:" + hex.EncodeToString(h[:12])
	}
	return "access:journal:" + s + ":" + i
}

// journal reads the journal after the checkpoint's cursor with journalctl
// and emits its events in batches, each closed by a checkpoint holding the
// cursor of the last entry read. Where journalctl is missing or fails,
// the summary says so in its note and the other logs are read as usual.
func (c *collection) journal() error {
	set := c.p.set
	st := c.cp.Logs[journalKey]
	if st == nil {
		st = &logState{}
		c.cp.Logs[journalKey] = st
	}
	src := logSource{kind: SourceJournal, path: journalKey}
	if set.JournalDirectory != "" {
		src.path = set.JournalDirectory
	}
	bin, err := exec.LookPath(set.Journalctl)
	if err != nil {
		st.Win.Note = fmt.Sprintf("journal not read: %s not found (%v); install systemd's journalctl or set journal: false", set.Journalctl, err)
		c.p.log.Warn("journal not read", "journalctl", set.Journalctl, "err", err)
		return c.summary(src, st)
	}
	args := []string{"--output=json", "--no-pager", "--quiet"}
	if set.JournalDirectory != "" {
		args = append(args, "--directory="+set.JournalDirectory)
	}
	if st.Cursor != "" {
		args = append(args, "--after-cursor="+st.Cursor)
	}
	args = append(args, set.JournalMatches...)
	cmd := exec.CommandContext(c.ctx, bin, args...)
	var stderr limitedBuffer
	stderr.max = maxJournalStderr
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("journalctl: %w", err)
	}
	if err := cmd.Start(); err != nil {
		st.Win.Note = fmt.Sprintf("journal not read: cannot run %s: %v", bin, err)
		c.p.log.Warn("journal not read", "journalctl", bin, "err", err)
		return c.summary(src, st)
	}
	readErr := c.readJournal(st, src, out)
	if readErr != nil {
		// Stop journalctl before returning (a failed commit, a cancel).
		_ = cmd.Process.Kill()
	}
	_, _ = io.Copy(io.Discard, out)
	waitErr := cmd.Wait()
	if readErr != nil {
		return readErr
	}
	if waitErr != nil {
		msg := strings.TrimSpace(stderr.String())
		st.Win.Note = fmt.Sprintf("journalctl failed (%v): %s", waitErr, msg)
		c.p.log.Warn("journalctl failed; entries up to the last cursor are kept", "err", waitErr, "stderr", msg)
	}
	return c.summary(src, st)
}

func (c *collection) readJournal(st *logState, src logSource, r io.Reader) error {
	set := c.p.set
	sc := newLineScanner(r, 0, set.MaxLineBytes, true)
	w := &st.Win
	batch := 0
	for {
		line, _, tooLong, err := sc.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read journalctl output: %w", err)
		}
		st.Lines++
		w.Lines++
		batch++
		var ev Event
		var cursor string
		res := lineMalformed
		if tooLong {
			// Its cursor is lost with it; the next entry's moves past it.
			w.TooLong++
		} else {
			ev, cursor, res = parseJournalLine(line)
			switch res {
			case lineSkipped:
				w.Skipped++
			case lineMalformed:
				w.Malformed++
			}
		}
		if cursor != "" {
			st.Cursor = cursor
		}
		if res == lineEvent {
			if err := c.event(src, st, &ev, src.path, journalSubject(cursor), 0, st.Lines); err != nil {
				return err
			}
		}
		if batch >= set.BatchLines {
			batch = 0
			if err := c.commit(); err != nil {
				return err
			}
			if err := c.ctx.Err(); err != nil {
				return err
			}
		}
	}
	if batch > 0 {
		return c.commit()
	}
	return nil
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
