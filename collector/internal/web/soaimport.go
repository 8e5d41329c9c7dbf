package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/annexa/annexa/collector/internal/soasheet"
	"github.com/annexa/annexa/collector/internal/store"
)

// A compliance lead fills in the Statement of Applicability in a
// spreadsheet: /soa/sheet downloads it with every control, /soa/import
// takes it back. An upload only previews what would change; the preview
// carries the sheet and a digest of the plan, and "Record" applies it only
// if the plan is still the one shown (nobody recorded a decision in
// between), then shows the statement as after a single edit. The import is `annexa-collector soa import`: the same checks,
// one transaction, one soa.set log entry per changed control, by the
// logged-in admin.

// maxActionBody bounds what any form may send: a sheet of at most
// soasheet.MaxBytes, or its base64 in the preview's form, and the fields.
const maxActionBody = soasheet.MaxBytes*4/3 + 64<<10

// bodyTooLarge reports whether reading the form hit maxActionBody, so
// that the refusal says so rather than blame the CSRF token.
func bodyTooLarge(r *http.Request) bool {
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(maxActionBody)
	} else {
		err = r.ParseForm()
	}
	var tooBig *http.MaxBytesError
	return errors.As(err, &tooBig)
}

type soaImportData struct {
	// The sheet as uploaded: its name, format and, for the form that
	// records it, its bytes in base64 and the digest of the plan shown.
	Name, Format, Sheet, Digest string
	Problems                    []soasheet.Problem
	More                        int
	Plan                        *soasheet.Plan
	Changes                     []store.SoAChange
	Titles                      map[string]string
	Unjustified                 int
	FirstUnjustified            soasheet.Row
	// Stale: the statement changed between the preview and "Record".
	Stale bool
	Error string
}

func (soaImportData) title() string { return "Import the Statement of Applicability" }

func (d soaImportData) Added() int   { return soasheet.Added(d.Changes) }
func (d soaImportData) Changed() int { return len(d.Changes) - d.Added() }

func (s *Server) handleSoAImportForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	s.render(w, r, http.StatusOK, "soaimport", nil, soaImportData{})
	return nil
}

// handleSoASheet downloads the sheet `annexa-collector soa export` writes.
func (s *Server) handleSoASheet(w http.ResponseWriter, r *http.Request, p *principal) error {
	f := soasheet.CSV
	if v := r.URL.Query().Get("format"); v != "" {
		var err error
		if f, err = soasheet.FormatOf("", v); err != nil {
			return store.Errorf(store.EINVALID, "%v", err)
		}
	}
	entries, err := s.store.SoA(r.Context())
	if err != nil {
		return err
	}
	lines, _ := soasheet.Lines(s.opts.Engine.ControlList(), entries)
	var buf bytes.Buffer
	now := s.opts.Now()
	if err := soasheet.Write(&buf, f, lines, now); err != nil {
		return err
	}
	ctype := "text/csv; charset=utf-8"
	if f == soasheet.YAML {
		ctype = "application/yaml; charset=utf-8"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="statement-of-applicability-%s.%s"`, now.UTC().Format("2006-01-02"), f))
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(buf.Bytes())
	return err
}

// planDigest names a plan: the changes, old and new, and who records them.
func planDigest(p *soasheet.Plan, author string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q\n", author)
	for _, c := range p.Changes {
		old := "none"
		if c.Old != nil {
			old = fmt.Sprintf("%t %q", c.Old.Applicable, c.Old.Justification)
		}
		fmt.Fprintf(h, "%q %s -> %t %q\n", c.New.ControlID, old, c.New.Applicable, c.New.Justification)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (s *Server) handleImportSoA(w http.ResponseWriter, r *http.Request, p *principal) error {
	d := soaImportData{Name: r.PostFormValue("name"), Format: r.PostFormValue("format")}
	record := r.PostFormValue("sheet") != ""
	var data []byte
	if record {
		var err error
		if data, err = base64.StdEncoding.DecodeString(r.PostFormValue("sheet")); err != nil {
			return store.Errorf(store.EINVALID, "the form's sheet is damaged; upload the file again")
		}
	} else {
		file, hdr, err := r.FormFile("file")
		if err != nil {
			d.Error = "Choose a CSV or YAML file to upload."
			s.render(w, r, http.StatusUnprocessableEntity, "soaimport", nil, d)
			return nil
		}
		defer file.Close()
		d.Name = hdr.Filename
		// One byte more than allowed, so soasheet.Read says it is too big.
		if data, err = io.ReadAll(io.LimitReader(file, soasheet.MaxBytes+1)); err != nil {
			return fmt.Errorf("read upload: %w", err)
		}
	}
	f, err := soasheet.FormatOf(d.Name, d.Format)
	if err != nil {
		d.Error = err.Error() + "."
		s.render(w, r, http.StatusUnprocessableEntity, "soaimport", nil, d)
		return nil
	}
	d.Format = string(f)
	known := s.opts.Engine.ControlList()
	ids := make([]string, len(known))
	d.Titles = make(map[string]string, len(known))
	for i, c := range known {
		ids[i], d.Titles[c.ID] = c.ID, c.Title
	}
	sheet, err := soasheet.Read(bytes.NewReader(data), d.Name, f, ids)
	var se *soasheet.Error
	if errors.As(err, &se) {
		d.Problems, d.More = se.Problems, se.More
		s.render(w, r, http.StatusUnprocessableEntity, "soaimport", nil, d)
		return nil
	}
	if err != nil {
		return err
	}
	current, err := s.store.SoA(r.Context())
	if err != nil {
		return err
	}
	plan, err := soasheet.NewPlan(sheet, current, p.User)
	if err != nil {
		return err
	}
	d.Plan, d.Changes, d.Sheet, d.Digest = plan, plan.Changes, base64.StdEncoding.EncodeToString(data), planDigest(plan, p.User)
	d.Unjustified, d.FirstUnjustified = plan.Unjustified()
	if !record {
		s.render(w, r, http.StatusOK, "soaimport", nil, d)
		return nil
	}
	if d.Digest != r.PostFormValue("plan") {
		d.Stale = true
		s.render(w, r, http.StatusConflict, "soaimport", nil, d)
		return nil
	}
	start := time.Now()
	made, err := s.store.ImportSoA(r.Context(), plan.Entries)
	if err != nil {
		return err
	}
	s.log.Info("statement of applicability imported from the web UI", "rows", len(plan.Entries), "changed", len(made), "by", p.User,
		"duration", time.Since(start))
	// As after a single edit: the statement, evaluated with the changes.
	return s.afterDecision(w, r, "/soa")
}
