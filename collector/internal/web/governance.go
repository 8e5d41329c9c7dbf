package web

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/report"
	"github.com/annexa/annexa/collector/internal/store"
)

// Exceptions and attestations are the human decisions the report applies:
// admins record and revoke them here, auditors read them. The store
// validates every field and keeps a hash-chained log of each change.

// dateLayout is the form's date: an exception or attestation expires at
// 00:00 UTC on that day.
const dateLayout = "2006-01-02"

// defaultTerm pre-fills the expiry field: a quarter is a common review
// cycle, well inside the store's 12-month limit.
const defaultTerm = 90 * 24 * time.Hour

type exceptionsData struct {
	Rows   []report.Exception
	Checks []checkOption
	Form   exceptionForm
	Error  string
	Field  string
}

func (exceptionsData) title() string { return "Exceptions" }

type checkOption struct {
	ID, Title string
}

type exceptionForm struct {
	CheckID, SubjectPattern, HostPattern, Owner, Approver, Reason, ExpiresAt string
}

type attestationsData struct {
	Rows     []report.Attestation
	Controls []controlOption
	Form     attestationForm
	Error    string
	Field    string
}

func (attestationsData) title() string { return "Attestations" }

type controlOption struct {
	ID, Title string
	Status    controls.Status
}

type attestationForm struct {
	ControlID, DocumentRef, Author, Note, ExpiresAt string
}

func decisionState(revoked, expires, now time.Time) string {
	switch {
	case !revoked.IsZero():
		return report.StateRevoked
	case !now.Before(expires):
		return report.StateExpired
	}
	return report.StateActive
}

func (s *Server) handleExceptions(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := r.URL.Query()
	form := exceptionForm{CheckID: q.Get("check"), SubjectPattern: q.Get("subject"), HostPattern: q.Get("host"),
		Owner: p.User, ExpiresAt: s.opts.Now().Add(defaultTerm).UTC().Format(dateLayout)}
	return s.renderExceptions(w, r, http.StatusOK, form, nil)
}

func (s *Server) renderExceptions(w http.ResponseWriter, r *http.Request, status int, form exceptionForm, formErr error) error {
	ev, err := s.eval.get(r.Context())
	if err != nil {
		return err
	}
	list, err := s.store.Exceptions(r.Context())
	if err != nil {
		return err
	}
	now := s.opts.Now()
	d := exceptionsData{Form: form}
	for _, e := range list {
		d.Rows = append(d.Rows, report.Exception{Exception: e, State: decisionState(e.RevokedAt, e.ExpiresAt, now)})
	}
	titles := map[string]string{}
	for _, c := range ev.rep.Controls {
		for _, ch := range c.Checks {
			titles[ch.ID] = ch.Title
		}
	}
	for _, id := range s.opts.Engine.CheckIDs() {
		d.Checks = append(d.Checks, checkOption{ID: id, Title: titles[id]})
	}
	slices.SortFunc(d.Checks, func(a, b checkOption) int { return cmp.Compare(a.ID, b.ID) })
	d.Error, d.Field = formError(formErr)
	s.render(w, r, status, "exceptions", ev, d)
	return nil
}

// formError turns a refused form into the message and field to show;
// anything but a validation error is passed on.
func formError(err error) (msg, field string) {
	if err == nil {
		return "", ""
	}
	var e *store.Error
	if errors.As(err, &e) {
		return e.Message, e.Field
	}
	return err.Error(), ""
}

// parseDate reads the form's expiry date.
func parseDate(field, v string) (time.Time, error) {
	t, err := time.Parse(dateLayout, strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, &store.Error{Code: store.EINVALID, Field: field, Message: "the expiry date must be a date like 2027-03-31"}
	}
	return t.UTC(), nil
}

func (s *Server) handleAddException(w http.ResponseWriter, r *http.Request, p *principal) error {
	form := exceptionForm{CheckID: r.PostFormValue("check_id"), SubjectPattern: strings.TrimSpace(r.PostFormValue("subject_pattern")),
		HostPattern: strings.TrimSpace(r.PostFormValue("host_pattern")), Owner: strings.TrimSpace(r.PostFormValue("owner")),
		Approver: strings.TrimSpace(r.PostFormValue("approver")), Reason: strings.TrimSpace(r.PostFormValue("reason")),
		ExpiresAt: r.PostFormValue("expires_at")}
	refuse := func(err error) error {
		if store.ErrorCode(err) != store.EINVALID {
			return err
		}
		return s.renderExceptions(w, r, http.StatusUnprocessableEntity, form, err)
	}
	if err := s.opts.Engine.CheckExceptionTarget(form.CheckID); err != nil {
		return refuse(&store.Error{Code: store.EINVALID, Field: "check_id", Message: err.Error()})
	}
	expires, err := parseDate("expires_at", form.ExpiresAt)
	if err != nil {
		return refuse(err)
	}
	e, err := s.store.AddException(r.Context(), store.NewException{CheckID: form.CheckID, SubjectPattern: form.SubjectPattern,
		HostPattern: form.HostPattern, Owner: form.Owner, Approver: form.Approver, Reason: form.Reason, ExpiresAt: expires, CreatedBy: p.User})
	if err != nil {
		return refuse(err)
	}
	s.log.Info("exception added from the web UI", "id", e.ID, "check", e.CheckID, "subject_pattern", e.SubjectPattern, "by", p.User, "expires_at", e.ExpiresAt)
	return s.afterDecision(w, r, "/exceptions#exception-"+url.PathEscape(e.ID))
}

func (s *Server) handleRevokeException(w http.ResponseWriter, r *http.Request, p *principal) error {
	e, err := s.store.RevokeException(r.Context(), r.PathValue("id"), p.User)
	if err != nil {
		return err
	}
	s.log.Info("exception revoked from the web UI", "id", e.ID, "by", p.User)
	return s.afterDecision(w, r, "/exceptions#exception-"+url.PathEscape(e.ID))
}

// afterDecision re-evaluates, so the next page shows the decision applied,
// and sends the browser on (POST, redirect, GET).
func (s *Server) afterDecision(w http.ResponseWriter, r *http.Request, next string) error {
	if err := s.eval.refresh(r.Context()); err != nil {
		return err
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func (s *Server) handleAttestations(w http.ResponseWriter, r *http.Request, p *principal) error {
	form := attestationForm{ControlID: r.URL.Query().Get("control"), Author: p.User,
		ExpiresAt: s.opts.Now().Add(defaultTerm).UTC().Format(dateLayout)}
	return s.renderAttestations(w, r, http.StatusOK, form, nil)
}

func (s *Server) renderAttestations(w http.ResponseWriter, r *http.Request, status int, form attestationForm, formErr error) error {
	ev, err := s.eval.get(r.Context())
	if err != nil {
		return err
	}
	list, err := s.store.Attestations(r.Context())
	if err != nil {
		return err
	}
	now := s.opts.Now()
	d := attestationsData{Form: form}
	for _, a := range list {
		d.Rows = append(d.Rows, report.Attestation{Attestation: a, State: decisionState(a.RevokedAt, a.ExpiresAt, now)})
	}
	for _, c := range ev.rep.Controls {
		if !c.Automated {
			d.Controls = append(d.Controls, controlOption{ID: c.ControlID, Title: c.Title, Status: c.Status})
		}
	}
	d.Error, d.Field = formError(formErr)
	s.render(w, r, status, "attestations", ev, d)
	return nil
}

func (s *Server) handleAddAttestation(w http.ResponseWriter, r *http.Request, p *principal) error {
	form := attestationForm{ControlID: r.PostFormValue("control_id"), DocumentRef: strings.TrimSpace(r.PostFormValue("document_ref")),
		Author: strings.TrimSpace(r.PostFormValue("author")), Note: strings.TrimSpace(r.PostFormValue("note")), ExpiresAt: r.PostFormValue("expires_at")}
	refuse := func(err error) error {
		if store.ErrorCode(err) != store.EINVALID {
			return err
		}
		return s.renderAttestations(w, r, http.StatusUnprocessableEntity, form, err)
	}
	if err := s.opts.Engine.CheckAttestationTarget(form.ControlID); err != nil {
		return refuse(&store.Error{Code: store.EINVALID, Field: "control_id", Message: err.Error()})
	}
	expires, err := parseDate("expires_at", form.ExpiresAt)
	if err != nil {
		return refuse(err)
	}
	a, err := s.store.AddAttestation(r.Context(), store.NewAttestation{ControlID: form.ControlID, DocumentRef: form.DocumentRef,
		Author: form.Author, Note: form.Note, ExpiresAt: expires, CreatedBy: p.User})
	if err != nil {
		return refuse(err)
	}
	s.log.Info("attestation added from the web UI", "id", a.ID, "control", a.ControlID, "by", p.User, "expires_at", a.ExpiresAt)
	return s.afterDecision(w, r, "/attestations#attestation-"+url.PathEscape(a.ID))
}

func (s *Server) handleRevokeAttestation(w http.ResponseWriter, r *http.Request, p *principal) error {
	a, err := s.store.RevokeAttestation(r.Context(), r.PathValue("id"), p.User)
	if err != nil {
		return err
	}
	s.log.Info("attestation revoked from the web UI", "id", a.ID, "by", p.User)
	return s.afterDecision(w, r, "/attestations#attestation-"+url.PathEscape(a.ID))
}
