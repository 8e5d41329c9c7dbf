package web

import (
	"net/http"
	"strings"

	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/report"
	"github.com/annexa/annexa/collector/internal/store"
)

// The Statement of Applicability says, for every control, whether it
// applies and why. Admins change a control's entry from its own page; the
// change goes through the same store call as `POST /v1/soa` and
// `annexa-collector soa set` (validation, hash-chained log, the user as
// author), and the page the admin returns to is evaluated after it.

// soaForm is what the control page's applicability form holds. Applicable
// is "true", "false" or, on a hand-made request, anything else.
type soaForm struct {
	ControlID, Applicable, Justification string
}

// soaSection is the control page's Statement of Applicability part: the
// recorded entry (nil for none: the control applies by default) and the
// form, with the refusal to show when a save was refused.
type soaSection struct {
	Entry *store.SoAEntry
	Form  soaForm
	Error string
	Field string
	// Incomplete is an included control that gives no reason for its
	// inclusion.
	Incomplete bool
}

// soaOf finds the entry of a control in the report the page shows.
func soaOf(rep *report.Report, controlID string) *store.SoAEntry {
	for i := range rep.SoA {
		if rep.SoA[i].ControlID == controlID {
			return &rep.SoA[i]
		}
	}
	return nil
}

// soaSectionOf fills the form with the entry as recorded unless a refused
// form is shown again with what was typed.
func soaSectionOf(ev *evaluation, controlID string, form *soaForm, formErr error) soaSection {
	sec := soaSection{Entry: soaOf(ev.rep, controlID)}
	if c := ev.controls[controlID]; c != nil {
		sec.Incomplete = report.InclusionUnjustified(c)
	}
	switch {
	case form != nil:
		sec.Form = *form
	case sec.Entry != nil:
		sec.Form = soaForm{ControlID: controlID, Applicable: boolWord(sec.Entry.Applicable), Justification: sec.Entry.Justification}
	default:
		sec.Form = soaForm{ControlID: controlID, Applicable: "true"}
	}
	sec.Error, sec.Field = formError(formErr)
	return sec
}

func boolWord(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func (s *Server) handleSetSoA(w http.ResponseWriter, r *http.Request, p *principal) error {
	// A browser sends the textarea's line ends as CRLF; surrounding space
	// is never part of a justification.
	form := soaForm{ControlID: r.PostFormValue("control_id"), Applicable: r.PostFormValue("applicable"),
		Justification: strings.TrimSpace(strings.ReplaceAll(r.PostFormValue("justification"), "\r\n", "\n"))}
	// An unknown control has no page to show the form on again: the error
	// page says what was wrong.
	if err := s.opts.Engine.CheckSoATarget(form.ControlID); err != nil {
		return &store.Error{Code: store.EINVALID, Field: "control_id", Message: err.Error()}
	}
	refuse := func(err error) error {
		if store.ErrorCode(err) != store.EINVALID {
			return err
		}
		return s.renderControl(w, r, http.StatusUnprocessableEntity, form.ControlID, &form, err)
	}
	var applicable bool
	switch form.Applicable {
	case "true":
		applicable = true
	case "false":
	default:
		return refuse(&store.Error{Code: store.EINVALID, Field: "applicable",
			Message: "choose whether the control is applicable or not applicable (with a justification)"})
	}
	e, err := s.store.SetSoA(r.Context(), store.SoAEntry{ControlID: form.ControlID, Applicable: applicable,
		Justification: form.Justification, Author: p.User})
	if err != nil {
		return refuse(err)
	}
	s.log.Info("statement of applicability set from the web UI", "control", e.ControlID, "applicable", e.Applicable, "by", p.User)
	return s.afterDecision(w, r, controlURL(e.ControlID)+"#soa")
}

// --- the Statement of Applicability page ---

type soaData struct {
	Framework, Applicable, Justified string
	Frameworks                       []report.Framework
	Rows                             []soaRow
	Total, Excluded                  int
	// Unjustified counts the included controls, of the framework chosen,
	// that give no reason for their inclusion.
	Unjustified int
}

func (soaData) title() string { return "Statement of Applicability" }

type soaRow struct {
	C     *controls.Result
	Entry *store.SoAEntry
	// Incomplete is an inclusion without a reason.
	Incomplete bool
}

func (s *Server) handleSoA(w http.ResponseWriter, r *http.Request, p *principal) error {
	ev, err := s.eval.get(r.Context())
	if err != nil {
		return err
	}
	q := r.URL.Query()
	d := soaData{Framework: q.Get("framework"), Applicable: q.Get("applicable"), Justified: q.Get("justified"), Frameworks: ev.rep.Frameworks}
	switch d.Applicable {
	case "", "yes", "no", "undecided":
	default:
		return store.Errorf(store.EINVALID, "applicable=%q is not a filter of this page; use yes, no or undecided", d.Applicable)
	}
	switch d.Justified {
	case "", "yes", "no":
	default:
		return store.Errorf(store.EINVALID, "justified=%q is not a filter of this page; use yes, or no for the included controls that give no reason", d.Justified)
	}
	entries := map[string]*store.SoAEntry{}
	for i := range ev.rep.SoA {
		entries[ev.rep.SoA[i].ControlID] = &ev.rep.SoA[i]
	}
	for i := range ev.rep.Controls {
		c := &ev.rep.Controls[i]
		if d.Framework != "" && c.Framework != d.Framework {
			continue
		}
		e := entries[c.ControlID]
		d.Total++
		if e != nil && !e.Applicable {
			d.Excluded++
		}
		incomplete := report.InclusionUnjustified(c)
		if incomplete {
			d.Unjustified++
		}
		switch {
		case d.Applicable == "yes" && e != nil && !e.Applicable,
			d.Applicable == "no" && (e == nil || e.Applicable),
			d.Applicable == "undecided" && e != nil,
			d.Justified == "no" && !incomplete,
			d.Justified == "yes" && incomplete:
			continue
		}
		d.Rows = append(d.Rows, soaRow{C: c, Entry: e, Incomplete: incomplete})
	}
	s.render(w, r, http.StatusOK, "soa", ev, d)
	return nil
}
