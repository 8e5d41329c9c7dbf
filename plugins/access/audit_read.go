package access

import (
	"errors"
	"fmt"
	"io"
	"strconv"
)

// readAudit is read for audit logs: records are gathered into events by
// their stamp, and a checkpoint never falls inside an event. An event
// still open when a live file ends is not consumed: the offset stays at
// its first line, and its lines are read (and counted) again next time.
func (c *collection) readAudit(src logSource, st *logState, file string, r io.Reader, final bool) error {
	set := c.p.set
	ident := st.identity()
	sc := newLineScanner(r, st.Offset, set.MaxLineBytes, final)
	g := &auditGrouper{max: set.MaxAuditRecords}
	batch := 0
	w := &st.Win
	finish := func(grp *auditGroup) error {
		lineNo := st.Lines + 1
		st.Lines += grp.lines
		w.Lines += grp.lines
		w.Malformed += grp.malformed
		w.TooLong += grp.tooLong
		batch += int(grp.lines)
		if grp.tooMany {
			w.TooManyRecords++
			return nil
		}
		ev, res := auditEvent(grp, c.users, c.interesting)
		switch res {
		case lineSkipped:
			w.Skipped++
			return nil
		case lineMalformed:
			// An EOE alone: its records were read before.
			w.Skipped++
			return nil
		}
		return c.event(src, st, &ev, file, ident, grp.first, lineNo)
	}
	flush := func() error {
		st.Offset = sc.off
		batch = 0
		return c.commit()
	}
	for {
		line, off, tooLong, err := sc.next()
		if errors.Is(err, io.EOF) || errors.Is(err, errPartial) {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", file, err)
		}
		var rec auditRecord
		ok := false
		if !tooLong {
			rec, ok = parseAuditLine(string(line))
		}
		if !ok {
			if !g.stray(!tooLong, tooLong) {
				st.Lines++
				w.Lines++
				batch++
				if tooLong {
					w.TooLong++
				} else {
					w.Malformed++
				}
			}
		} else {
			for _, grp := range g.add(rec, string(line), off) {
				if err := finish(grp); err != nil {
					return err
				}
			}
		}
		// A checkpoint only between events, so none is ever half read.
		if batch >= set.BatchLines && g.cur == nil {
			if err := flush(); err != nil {
				return err
			}
			if err := c.ctx.Err(); err != nil {
				return err
			}
		}
	}
	if open := g.flush(); open != nil {
		if final && !deferred(r) {
			if err := finish(open); err != nil {
				return err
			}
		} else {
			// Wait for the rest of the event: resume at its first line.
			if batch > 0 || st.Offset != open.first {
				st.Offset = open.first
				return c.commit()
			}
			return nil
		}
	}
	if batch > 0 || st.Offset != sc.off {
		return flush()
	}
	return nil
}

// auditSubject names an audit event by where its first record is.
func auditSubject(ident string, off int64) string {
	return "access:" + ident + ":" + strconv.FormatInt(off, 10)
}

// interesting says whether an audited path is worth an event without a
// rule key: it lies under a watched path or a dataset or model root.
func (c *collection) interesting(p string) bool {
	return len(c.p.watchedRoots(p)) > 0 || c.assets.inRoots(p)
}
