package api

import (
	"bytes"
	"errors"
	"mime"
	"net/http"
	"strconv"

	"github.com/annexa/annexa/collector/internal/soasheet"
	"github.com/annexa/annexa/collector/internal/store"
)

// POST /v1/soa/import takes the sheet `annexa-collector soa import` takes,
// as the body, and answers what it changed (or, with ?dry_run=true, what
// it would change). The checks, the transaction and the log entries are
// those of the command; the author is the API key's name.

// SoAImportResponse is the answer of POST /v1/soa/import.
type SoAImportResponse struct {
	DryRun bool `json:"dry_run"`
	// Rows is how many control rows the sheet has; Added + Changed +
	// len(Unchanged) = Rows.
	Rows    int `json:"rows"`
	Added   int `json:"added"`
	Changed int `json:"changed"`
	// Changes are the entries written (or, in a dry run, that would be),
	// each with the entry it replaces (old: null for a control that had
	// none).
	Changes   []store.SoAChange `json:"changes"`
	Unchanged []string          `json:"unchanged"`
	// IgnoredColumns are CSV columns the import does not read.
	IgnoredColumns []string `json:"ignored_columns"`
	// UnjustifiedRows counts rows that include a control with no reason.
	UnjustifiedRows int    `json:"unjustified_rows"`
	Warning         string `json:"warning,omitempty"`
}

// SoAImportProblem is one thing to fix in a refused sheet.
type SoAImportProblem struct {
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	Where  string `json:"where,omitempty"`
	Error  string `json:"error"`
}

// SoAImportError is the 400 answer for a sheet with problems: error as
// every error answer, and the problems one by one.
type SoAImportError struct {
	ErrorBody
	Problems []SoAImportProblem `json:"problems"`
	// More counts problems beyond those listed.
	More int `json:"more,omitempty"`
}

// soaFormat picks the sheet's format from ?format=, else the body's type.
func soaFormat(r *http.Request) (soasheet.Format, error) {
	if f := r.URL.Query().Get("format"); f != "" {
		sf, err := soasheet.FormatOf("", f)
		if err != nil {
			return "", &store.Error{Code: store.EINVALID, Field: "format", Message: err.Error()}
		}
		return sf, nil
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "text/csv":
		return soasheet.CSV, nil
	case "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml":
		return soasheet.YAML, nil
	}
	return "", store.Errorf(store.EUNSUPPORTED, "send the sheet as Content-Type text/csv or application/yaml, or give ?format=csv or ?format=yaml")
}

func (s *Server) handleImportSoA(w http.ResponseWriter, r *http.Request) error {
	p, err := s.principal(r, true)
	if err != nil {
		return err
	}
	dryRun := false
	if v := r.URL.Query().Get("dry_run"); v != "" {
		if dryRun, err = strconv.ParseBool(v); err != nil {
			return &store.Error{Code: store.EINVALID, Field: "dry_run", Message: "dry_run must be true or false"}
		}
	}
	format, err := soaFormat(r)
	if err != nil {
		return err
	}
	body, err := readBody(w, r, soasheet.MaxBytes)
	if err != nil {
		return err
	}
	var known []string
	for _, c := range s.engine().ControlList() {
		known = append(known, c.ID)
	}
	sheet, err := soasheet.Read(bytes.NewReader(body), "body", format, known)
	var se *soasheet.Error
	if errors.As(err, &se) {
		out := SoAImportError{ErrorBody: ErrorBody{Error: se.Error()}, Problems: []SoAImportProblem{}, More: se.More}
		for _, pr := range se.Problems {
			out.Problems = append(out.Problems, SoAImportProblem{Line: pr.Line, Column: pr.Col, Where: pr.Where, Error: pr.Msg})
		}
		s.log.Info("request refused", "method", r.Method, "path", r.URL.Path, "status", http.StatusBadRequest, "problems", len(se.Problems)+se.More)
		writeJSON(w, http.StatusBadRequest, out)
		return nil
	}
	if err != nil {
		return err
	}
	current, err := s.store.SoA(r.Context())
	if err != nil {
		return err
	}
	plan, err := soasheet.NewPlan(sheet, current, p.Name)
	if err != nil {
		return err
	}
	changes := plan.Changes
	if !dryRun {
		if changes, err = s.store.ImportSoA(r.Context(), plan.Entries); err != nil {
			return err
		}
		s.log.Info("statement of applicability imported", "rows", len(plan.Entries), "changed", len(changes), "by", p.Name)
	}
	resp := SoAImportResponse{DryRun: dryRun, Rows: len(plan.Entries), Added: soasheet.Added(changes), Changes: changes,
		Unchanged: []string{}, IgnoredColumns: sheet.Ignored}
	if resp.Changes == nil {
		resp.Changes = []store.SoAChange{}
	}
	if resp.IgnoredColumns == nil {
		resp.IgnoredColumns = []string{}
	}
	resp.Changed = len(changes) - resp.Added
	written := make(map[string]bool, len(changes))
	for _, c := range changes {
		written[c.New.ControlID] = true
	}
	for _, e := range plan.Entries {
		if !written[e.ControlID] {
			resp.Unchanged = append(resp.Unchanged, e.ControlID)
		}
	}
	n, first := plan.Unjustified()
	resp.UnjustifiedRows = n
	if n > 0 {
		resp.Warning = "the Statement of Applicability is incomplete until every included control gives a reason, e.g. the risk it treats or the requirement it meets (ISO/IEC 27001:2022 6.1.3 d); first without one: " +
			first.ControlID + " (line " + strconv.Itoa(first.Line) + ")"
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
