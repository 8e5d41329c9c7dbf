package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/annexa/annexa/collector/internal/auth"
	"github.com/annexa/annexa/collector/internal/controls"
	"github.com/annexa/annexa/collector/internal/store"
)

const governanceUsage = `
decisions (kept in a hash-chained log; see docs/controls.md):
  exceptions add    --data DIR --check ID --subject GLOB [--host GLOB] --owner O --approver A
                    --reason R --expires WHEN [--catalog DIR] [--by NAME]
                    accept a check's failures on matching subjects until WHEN (at most 12 months)
  exceptions list   --data DIR [--all] [--json]
  exceptions revoke --data DIR ID [--by NAME]
  attest            --data DIR --control FW/ID --document REF --author NAME --expires WHEN [--note N]
                    [--catalog DIR] [--by NAME]
                    mark a manual control met on the strength of a document until WHEN
  attest list       --data DIR [--all] [--json]
  attest revoke     --data DIR ID [--by NAME]
  soa set           --data DIR --control FW/ID (--not-applicable --justification J | --applicable [--justification J]) [--author NAME]
                    [--catalog DIR]
  soa list          --data DIR [--json]
  soa export        --data DIR [--format csv|yaml] [--out FILE] [--catalog DIR]
                    every loaded control with its decision, a sheet to fill in
  soa import        --data DIR [--dry-run] [--author NAME] [--format csv|yaml] [--catalog DIR] FILE
                    record the sheet's decisions: all rows checked first, one soa.set per changed control
  apikey create     --data DIR --name NAME --role admin|auditor [--by NAME]
                    print a key for the governance API (admins write, auditors read)
  apikey list       --data DIR
  apikey revoke     --data DIR ID [--by NAME]
  controls lint     --dir DIR   compile every catalog and check file in DIR; print file:line and error
  controls checks   [--catalog DIR]   list the loaded checks
  WHEN is a date (2027-01-31, meaning 00:00 UTC that day), an RFC 3339 time, or a span from now (90d, 12w, 720h)
`

// governance dispatches the decision and catalog commands.
func (e *env) governance(ctx context.Context, cmd string, args []string) error {
	sub, rest := "", args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, rest = args[0], args[1:]
	}
	switch cmd + " " + sub {
	case "exceptions add":
		return e.exceptionAdd(ctx, rest)
	case "exceptions list":
		return e.exceptionList(ctx, rest)
	case "exceptions revoke":
		return e.revoke(ctx, "exceptions revoke", rest)
	case "attest ":
		return e.attest(ctx, rest)
	case "attest list":
		return e.attestList(ctx, rest)
	case "attest revoke":
		return e.revoke(ctx, "attest revoke", rest)
	case "soa set":
		return e.soaSet(ctx, rest)
	case "soa list":
		return e.soaList(ctx, rest)
	case "soa export":
		return e.soaExport(ctx, rest)
	case "soa import":
		return e.soaImport(ctx, rest)
	case "apikey create":
		return e.apikeyCreate(ctx, rest)
	case "apikey list":
		return e.apikeyList(ctx, rest)
	case "apikey revoke":
		return e.revoke(ctx, "apikey revoke", rest)
	case "controls lint":
		return e.controlsLint(rest)
	case "controls checks":
		return e.controlsChecks(rest)
	}
	subs := map[string]string{"exceptions": "add, list, revoke", "attest": "list, revoke (or flags to attest)",
		"soa": "set, list, export, import", "apikey": "create, list, revoke", "controls": "lint, checks"}
	if sub == "" {
		return usagef("%s needs a subcommand: %s", cmd, subs[cmd])
	}
	return usagef("unknown subcommand %s %s; use %s", cmd, sub, subs[cmd])
}

// actor is who the command line acts as: --by, else the OS user.
func actor(by string) string {
	if by != "" {
		return by
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli:uid-" + strconv.Itoa(os.Getuid())
}

// parseWhen reads an expiry: a date (00:00 UTC that day), an RFC 3339
// time, or a span from now in days (90d), weeks (12w) or Go units (720h).
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("--expires is required (a date such as 2027-01-31, at most 12 months ahead)")
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			if k, err := strconv.Atoi(n); err == nil && k > 0 {
				return now.Add(time.Duration(k) * unit), nil
			}
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("--expires %q: want a date (2027-01-31), an RFC 3339 time, or a span such as 90d", s)
}

func required(cmd string, flags map[string]string) error {
	var missing []string
	for _, name := range []string{"check", "subject", "owner", "approver", "reason", "control", "document", "author", "name", "role"} {
		if v, ok := flags[name]; ok && strings.TrimSpace(v) == "" {
			missing = append(missing, "--"+name)
		}
	}
	if len(missing) > 0 {
		return usagef("%s: %s required", cmd, strings.Join(missing, ", "))
	}
	return nil
}

// describe turns a store error with a field into a message naming the flag.
func describe(err error) error {
	var se *store.Error
	if errors.As(err, &se) && se.Field != "" {
		flagOf := map[string]string{"check_id": "--check", "subject_pattern": "--subject", "host_pattern": "--host", "expires_at": "--expires",
			"document_ref": "--document", "control_id": "--control"}
		if f, ok := flagOf[se.Field]; ok {
			return fmt.Errorf("%s: %s", f, se.Message)
		}
		return fmt.Errorf("--%s: %s", se.Field, se.Message)
	}
	return err
}

func (e *env) exceptionAdd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("exceptions add", flag.ContinueOnError)
	data := dataFlag(fs)
	check := fs.String("check", "", "the check whose failures are accepted")
	subject := fs.String("subject", "", "glob over subject ids: * within a path segment, ** across")
	host := fs.String("host", "", "glob over host names (default: every host)")
	owner := fs.String("owner", "", "who owns the risk")
	approver := fs.String("approver", "", "who approved accepting it")
	reason := fs.String("reason", "", "why the risk is accepted")
	expires := fs.String("expires", "", "when the exception ends (at most 12 months ahead)")
	catalogDir := fs.String("catalog", "", "folder of extra or replacing catalog and check YAML files")
	by := fs.String("by", "", "who records it (default: the OS user)")
	if err := parseWithData(fs, data, args); err != nil {
		return err
	}
	if err := required("exceptions add", map[string]string{"check": *check, "subject": *subject, "owner": *owner, "approver": *approver, "reason": *reason}); err != nil {
		return err
	}
	now := time.Now()
	exp, err := parseWhen(*expires, now)
	if err != nil {
		return usagef("exceptions add: %v", err)
	}
	engine, err := engineFor(*catalogDir)
	if err != nil {
		return err
	}
	if err := engine.CheckExceptionTarget(*check); err != nil {
		return fmt.Errorf("--check: %w", err)
	}
	st, err := e.openStore(ctx, *data, false)
	if err != nil {
		return err
	}
	defer st.Close()
	x, err := st.AddException(ctx, store.NewException{CheckID: *check, SubjectPattern: *subject, HostPattern: *host, Owner: *owner,
		Approver: *approver, Reason: *reason, ExpiresAt: exp, CreatedBy: actor(*by)})
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(e.stdout, "added exception %s: failures of %s on %s are accepted until %s\n", x.ID, x.CheckID, x.SubjectPattern,
		x.ExpiresAt.Format(time.RFC3339))
	return nil
}

func listFlags(fs *flag.FlagSet) (all, asJSON *bool) {
	return fs.Bool("all", false, "include expired and revoked ones"), fs.Bool("json", false, "print JSON")
}

// inForce keeps the decisions (exceptions, attestations) active at now, or
// all of them with --all; never nil, so --json prints [] for none.
func inForce[T any, P interface {
	*T
	Active(time.Time) bool
}](list []T, all bool, now time.Time) []T {
	shown := []T{}
	for i := range list {
		if all || P(&list[i]).Active(now) {
			shown = append(shown, list[i])
		}
	}
	return shown
}

func stateOf(revoked, expires, now time.Time) string {
	switch {
	case !revoked.IsZero():
		return "revoked " + revoked.UTC().Format("2006-01-02")
	case !now.Before(expires):
		return "expired"
	}
	return "active"
}

func (e *env) exceptionList(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("exceptions list", flag.ContinueOnError)
	data := dataFlag(fs)
	all, asJSON := listFlags(fs)
	st, err := e.openForCommand(ctx, fs, data, args)
	if err != nil {
		return err
	}
	defer st.Close()
	list, err := st.Exceptions(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	shown := inForce(list, *all, now)
	if *asJSON {
		return writeJSONOut(e, shown)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCHECK\tSUBJECT\tHOST\tOWNER\tAPPROVER\tEXPIRES\tSTATE\tREASON")
	for _, x := range shown {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.ID, x.CheckID, x.SubjectPattern, orAny(x.HostPattern), x.Owner, x.Approver,
			x.ExpiresAt.UTC().Format(time.RFC3339), stateOf(x.RevokedAt, x.ExpiresAt, now), oneLine(x.Reason))
	}
	return tw.Flush()
}

// orAny shows an empty pattern as the wildcard it means.
func orAny(s string) string {
	if s == "" {
		return "*"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func writeJSONOut(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (e *env) revoke(ctx context.Context, name string, args []string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	data := dataFlag(fs)
	by := fs.String("by", "", "who revokes it (default: the OS user)")
	st, id, err := e.openForID(ctx, "ID", fs, data, args)
	if err != nil {
		return err
	}
	defer st.Close()
	switch name {
	case "exceptions revoke":
		x, err := st.RevokeException(ctx, id, actor(*by))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "revoked exception %s; failures of %s on %s count again\n", x.ID, x.CheckID, x.SubjectPattern)
	case "attest revoke":
		a, err := st.RevokeAttestation(ctx, id, actor(*by))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "revoked attestation %s; %s needs a new attestation\n", a.ID, a.ControlID)
	case "apikey revoke":
		if err := st.RevokeAPIKey(ctx, id, actor(*by)); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "revoked API key %s\n", id)
	}
	return nil
}

func (e *env) attest(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("attest", flag.ContinueOnError)
	data := dataFlag(fs)
	control := fs.String("control", "", "the manual control, namespaced: iso27001-2022/5.1")
	document := fs.String("document", "", "reference of the document that shows the control is met")
	author := fs.String("author", "", "who attests")
	note := fs.String("note", "", "optional note")
	expires := fs.String("expires", "", "when the attestation ends (at most 12 months ahead)")
	catalogDir := fs.String("catalog", "", "folder of extra or replacing catalog and check YAML files")
	by := fs.String("by", "", "who records it (default: the OS user)")
	if err := parseWithData(fs, data, args); err != nil {
		return err
	}
	if err := required("attest", map[string]string{"control": *control, "document": *document, "author": *author}); err != nil {
		return err
	}
	now := time.Now()
	exp, err := parseWhen(*expires, now)
	if err != nil {
		return usagef("attest: %v", err)
	}
	engine, err := engineFor(*catalogDir)
	if err != nil {
		return err
	}
	if err := engine.CheckAttestationTarget(*control); err != nil {
		return fmt.Errorf("--control: %w", err)
	}
	st, err := e.openStore(ctx, *data, false)
	if err != nil {
		return err
	}
	defer st.Close()
	a, err := st.AddAttestation(ctx, store.NewAttestation{ControlID: *control, DocumentRef: *document, Author: *author, Note: *note,
		ExpiresAt: exp, CreatedBy: actor(*by)})
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(e.stdout, "added attestation %s: %s is met per %s until %s\n", a.ID, a.ControlID, a.DocumentRef, a.ExpiresAt.Format(time.RFC3339))
	return nil
}

func (e *env) attestList(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("attest list", flag.ContinueOnError)
	data := dataFlag(fs)
	all, asJSON := listFlags(fs)
	st, err := e.openForCommand(ctx, fs, data, args)
	if err != nil {
		return err
	}
	defer st.Close()
	list, err := st.Attestations(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	shown := inForce(list, *all, now)
	if *asJSON {
		return writeJSONOut(e, shown)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCONTROL\tDOCUMENT\tAUTHOR\tEXPIRES\tSTATE")
	for _, a := range shown {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.ControlID, oneLine(a.DocumentRef), a.Author, a.ExpiresAt.UTC().Format(time.RFC3339),
			stateOf(a.RevokedAt, a.ExpiresAt, now))
	}
	return tw.Flush()
}

func (e *env) soaSet(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("soa set", flag.ContinueOnError)
	data := dataFlag(fs)
	control := fs.String("control", "", "the control, namespaced: iso27001-2022/7.4")
	na := fs.Bool("not-applicable", false, "exclude the control (needs --justification)")
	applicable := fs.Bool("applicable", false, "include the control again")
	justification := fs.String("justification", "", "why the control is included (the risk it treats or the requirement it meets) or does not apply; required with --not-applicable")
	author := fs.String("author", "", "who decides (default: the OS user)")
	catalogDir := fs.String("catalog", "", "folder of extra or replacing catalog and check YAML files")
	if err := parseWithData(fs, data, args); err != nil {
		return err
	}
	if *na == *applicable {
		return usagef("soa set: give exactly one of --not-applicable (with --justification) or --applicable")
	}
	if err := required("soa set", map[string]string{"control": *control}); err != nil {
		return err
	}
	engine, err := engineFor(*catalogDir)
	if err != nil {
		return err
	}
	if err := engine.CheckSoATarget(*control); err != nil {
		return fmt.Errorf("--control: %w", err)
	}
	st, err := e.openStore(ctx, *data, false)
	if err != nil {
		return err
	}
	defer st.Close()
	s, err := st.SetSoA(ctx, store.SoAEntry{ControlID: *control, Applicable: *applicable, Justification: *justification, Author: actor(*author)})
	if err != nil {
		return describe(err)
	}
	if s.Applicable {
		fmt.Fprintf(e.stdout, "%s is applicable\n", s.ControlID)
		if w := s.Warning(); w != "" {
			fmt.Fprintf(e.stderr, "warning: %s; add --justification\n", w)
		}
	} else {
		fmt.Fprintf(e.stdout, "%s is not applicable: %s\n", s.ControlID, s.Justification)
	}
	return nil
}

func (e *env) soaList(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("soa list", flag.ContinueOnError)
	data := dataFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	st, err := e.openForCommand(ctx, fs, data, args)
	if err != nil {
		return err
	}
	defer st.Close()
	list, err := st.SoA(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSONOut(e, list)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTROL\tAPPLICABLE\tAUTHOR\tSET\tJUSTIFICATION")
	for _, s := range list {
		why := oneLine(s.Justification)
		if s.Unjustified() {
			why = "(none: give a reason for including it, e.g. the risk it treats or the requirement it meets)"
		}
		fmt.Fprintf(tw, "%s\t%t\t%s\t%s\t%s\n", s.ControlID, s.Applicable, s.Author, s.SetAt.UTC().Format(time.RFC3339), why)
	}
	return tw.Flush()
}

func (e *env) apikeyCreate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
	data := dataFlag(fs)
	name := fs.String("name", "", "whose key it is (shown as the actor in the governance log)")
	role := fs.String("role", "", "admin (record and revoke decisions) or auditor (read)")
	by := fs.String("by", "", "who creates it (default: the OS user)")
	if err := parseWithData(fs, data, args); err != nil {
		return err
	}
	if err := required("apikey create", map[string]string{"name": *name, "role": *role}); err != nil {
		return err
	}
	if *role != store.RoleAdmin && *role != store.RoleAuditor {
		return usagef("apikey create: --role %q: want admin or auditor", *role)
	}
	st, err := e.openStore(ctx, *data, true)
	if err != nil {
		return err
	}
	defer st.Close()
	key, id, hash := auth.NewAPIKey()
	if _, err := st.CreateAPIKey(ctx, store.APIKey{ID: id, Name: *name, Role: *role, SecretHash: hash}, actor(*by)); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, key)
	return nil
}

func (e *env) apikeyList(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("apikey list", flag.ContinueOnError)
	data := dataFlag(fs)
	st, err := e.openForCommand(ctx, fs, data, args)
	if err != nil {
		return err
	}
	defer st.Close()
	keys, err := st.APIKeys(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED\tREVOKED")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Role, showTime(k.CreatedAt, "-"), showTime(k.RevokedAt, "no"))
	}
	return tw.Flush()
}

// engineFor is loadCatalog with the embedded engine for no folder.
func engineFor(dir string) (*controls.Engine, error) {
	e, err := loadCatalog(dir)
	if err != nil || e != nil {
		return e, err
	}
	return controls.Default(), nil
}

func (e *env) controlsLint(args []string) error {
	fs := flag.NewFlagSet("controls lint", flag.ContinueOnError)
	dir := fs.String("dir", "", "folder of catalog and check YAML files to check")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usagef("controls lint: --dir DIR is required")
	}
	if fi, err := os.Stat(*dir); err != nil || !fi.IsDir() {
		return usagef("controls lint: --dir %s: not a folder", *dir)
	}
	eng, err := controls.Load(os.DirFS(*dir), controls.WithSourceName(*dir))
	if err != nil {
		// Each problem names file:line and check; CEL errors span lines.
		fmt.Fprintln(e.stdout, err)
		return fmt.Errorf("controls lint: %s has problems; fix the ones listed above", *dir)
	}
	fmt.Fprintf(e.stdout, "%s: ok (%d checks, catalog version %s)\n", *dir, eng.Checks(), eng.Version)
	return nil
}

func (e *env) controlsChecks(args []string) error {
	fs := flag.NewFlagSet("controls checks", flag.ContinueOnError)
	catalogDir := fs.String("catalog", "", "folder of extra or replacing catalog and check YAML files")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	eng, err := engineFor(*catalogDir)
	if err != nil {
		return err
	}
	for _, id := range eng.CheckIDs() {
		fmt.Fprintln(e.stdout, id)
	}
	return nil
}
