package controls

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func worldReadableFleet() Input {
	return Input{Agents: []Agent{agent("a", time.Minute), agent("b", time.Minute)}, Now: now,
		Records: []Record{scan("a", time.Hour), scan("b", time.Hour),
			dataset("a", "/srv/ml/scratch/tmp1", true), dataset("a", "/srv/ml/prod/users", true), dataset("b", "/srv/ml/scratch/tmp2", true)}}
}

func scratchException(expires time.Time) Exception {
	return Exception{ID: "exc_1", CheckID: "datasets.not_world_readable", SubjectPattern: "dataset:/srv/ml/scratch/**",
		Owner: "ml-platform", Approver: "ciso", ExpiresAt: expires}
}

func subjects(s []Subject) []string {
	var out []string
	for _, x := range s {
		out = append(out, x.Host+" "+x.Subject)
	}
	slices.Sort(out)
	return out
}

func TestExceptionMovesFailuresToExcepted(t *testing.T) {
	in := worldReadableFleet()
	in.Exceptions = []Exception{scratchException(now.Add(time.Hour))}
	r := result(t, in, "iso27001-2022/8.3")
	ch := r.Checks[0]
	if r.Status != Noncompliant {
		t.Fatalf("status = %s: the prod dataset is not excepted", r.Status)
	}
	if got := subjects(ch.FailingSubjects); !slices.Equal(got, []string{"a.example dataset:/srv/ml/prod/users"}) {
		t.Errorf("failing_subjects = %v", got)
	}
	var exc []string
	for _, x := range ch.ExceptedSubjects {
		exc = append(exc, x.Host+" "+x.Subject.Subject)
		if x.ExceptionID != "exc_1" || x.Owner != "ml-platform" || x.Approver != "ciso" || !x.ExpiresAt.Equal(now.Add(time.Hour)) || x.Observed["world_readable"] != true {
			t.Errorf("excepted = %+v", x)
		}
	}
	slices.Sort(exc)
	if !slices.Equal(exc, []string{"a.example dataset:/srv/ml/scratch/tmp1", "b.example dataset:/srv/ml/scratch/tmp2"}) {
		t.Errorf("excepted_subjects = %v", exc)
	}
	if !slices.Contains(r.EvidenceRefs, "exception:exc_1") {
		t.Errorf("evidence_refs = %v, want exception:exc_1", r.EvidenceRefs)
	}
	// Excepted subjects are accepted risk, not passes: the score stays honest.
	if r.Score == nil || *r.Score != 0 {
		t.Errorf("score = %v, want 0", r.Score)
	}
}

func TestExceptionCoveringEveryFailureMakesCompliant(t *testing.T) {
	in := worldReadableFleet()
	in.Exceptions = []Exception{scratchException(now.Add(time.Hour)),
		{ID: "exc_2", CheckID: "datasets.not_world_readable", SubjectPattern: "dataset:/srv/ml/prod/*", HostPattern: "a.*", ExpiresAt: now.Add(time.Hour)}}
	r := result(t, in, "iso27001-2022/8.3")
	if r.Status != Compliant || len(r.Checks[0].FailingSubjects) != 0 || len(r.Checks[0].ExceptedSubjects) != 3 {
		t.Fatalf("status = %s, failing %v, excepted %d", r.Status, r.Checks[0].FailingSubjects, len(r.Checks[0].ExceptedSubjects))
	}
	if !strings.Contains(r.Explanation, "3 failing subject(s) are excepted as accepted risk") {
		t.Errorf("explanation = %q", r.Explanation)
	}
}

func TestExceptionThatDoesNotApply(t *testing.T) {
	cases := map[string]Exception{
		"expired":       scratchException(now),
		"revoked":       {ID: "x", CheckID: "datasets.not_world_readable", SubjectPattern: "**", ExpiresAt: now.Add(time.Hour), RevokedAt: now.Add(-time.Minute)},
		"other check":   {ID: "x", CheckID: "datasets.classified", SubjectPattern: "**", ExpiresAt: now.Add(time.Hour)},
		"other host":    {ID: "x", CheckID: "datasets.not_world_readable", SubjectPattern: "**", HostPattern: "c.*", ExpiresAt: now.Add(time.Hour)},
		"one level `*`": {ID: "x", CheckID: "datasets.not_world_readable", SubjectPattern: "dataset:/srv/*", ExpiresAt: now.Add(time.Hour)},
	}
	for name, ex := range cases {
		t.Run(name, func(t *testing.T) {
			in := worldReadableFleet()
			in.Exceptions = []Exception{ex}
			r := result(t, in, "iso27001-2022/8.3")
			if r.Status != Noncompliant || len(r.Checks[0].FailingSubjects) != 3 || len(r.Checks[0].ExceptedSubjects) != 0 {
				t.Errorf("status = %s, failing %d, excepted %d", r.Status, len(r.Checks[0].FailingSubjects), len(r.Checks[0].ExceptedSubjects))
			}
		})
	}
}

func TestExpiredExceptionResurfacesFailure(t *testing.T) {
	in := worldReadableFleet()
	in.Exceptions = []Exception{{ID: "all", CheckID: "datasets.not_world_readable", SubjectPattern: "**", ExpiresAt: now.Add(time.Hour)}}
	if r := result(t, in, "iso27001-2022/8.3"); r.Status != Compliant {
		t.Fatalf("before expiry: %s", r.Status)
	}
	in.Now = now.Add(time.Hour) // the same evidence, an hour later
	for i := range in.Agents {
		in.Agents[i].LastSeen = in.Now
	}
	if r := result(t, in, "iso27001-2022/8.3"); r.Status != Noncompliant || len(r.Checks[0].FailingSubjects) != 3 {
		t.Fatalf("after expiry: %s, failing %d", r.Status, len(r.Checks[0].FailingSubjects))
	}
}

func TestHostScopeException(t *testing.T) {
	in := Input{Agents: []Agent{agent("a", time.Minute), agent("b", time.Minute)}, Now: now,
		Records:    []Record{scan("a", time.Hour), scan("b", 48*time.Hour)},
		Exceptions: []Exception{{ID: "e", CheckID: "inventory.datasets.fresh", SubjectPattern: "host:b.example", ExpiresAt: now.Add(time.Hour)}}}
	r := result(t, in, "iso27001-2022/5.9")
	ch := r.Checks[0]
	if len(ch.FailingSubjects) != 0 || len(ch.ExceptedSubjects) != 1 || ch.ExceptedSubjects[0].Subject.Subject != "host:b.example" {
		t.Fatalf("failing %v, excepted %+v", ch.FailingSubjects, ch.ExceptedSubjects)
	}
}

func manualControl(t *testing.T) string {
	t.Helper()
	for _, c := range Default().controls {
		if len(c.checks) == 0 {
			return c.controlID()
		}
	}
	t.Fatal("no manual control")
	return ""
}

func TestAttestation(t *testing.T) {
	id := manualControl(t)
	base := Input{Agents: []Agent{agent("a", time.Minute)}, Now: now}
	if r := result(t, base, id); r.Status != Manual {
		t.Fatalf("without attestation: %s", r.Status)
	}
	valid := Attestation{ID: "att_1", ControlID: id, DocumentRef: "ISMS-POL-001 v3", Author: "ciso", ExpiresAt: now.Add(24 * time.Hour)}
	in := base
	in.Attestations = []Attestation{valid}
	r := result(t, in, id)
	if r.Status != Compliant || r.Attestation == nil || r.Attestation.ID != "att_1" || !slices.Equal(r.EvidenceRefs, []string{"attestation:att_1"}) ||
		r.Explanation != "Attested by ciso in ISMS-POL-001 v3, valid until 2026-03-02T12:00:00Z." {
		t.Fatalf("attested: %s %+v %v %q", r.Status, r.Attestation, r.EvidenceRefs, r.Explanation)
	}

	in.Now = now.Add(24 * time.Hour)
	r = result(t, in, id)
	if r.Status != Manual || r.Attestation != nil ||
		r.Explanation != "The attestation by ciso (ISMS-POL-001 v3) expired at 2026-03-02T12:00:00Z; attest the control again." {
		t.Fatalf("expired: %s %q", r.Status, r.Explanation)
	}

	revoked := valid
	revoked.RevokedAt = now
	in = base
	in.Attestations = []Attestation{revoked}
	if r := result(t, in, id); r.Status != Manual {
		t.Fatalf("revoked: %s", r.Status)
	}

	// An attestation does not override an automated control's evidence.
	in = worldReadableFleet()
	in.Attestations = []Attestation{{ID: "att_2", ControlID: "iso27001-2022/8.3", DocumentRef: "d", Author: "x", ExpiresAt: now.Add(time.Hour)}}
	if r := result(t, in, "iso27001-2022/8.3"); r.Status != Noncompliant || r.Attestation != nil {
		t.Fatalf("automated control with attestation: %s", r.Status)
	}
}

func TestStatementOfApplicability(t *testing.T) {
	in := worldReadableFleet()
	in.SoA = []Applicability{{ControlID: "iso27001-2022/8.3", Applicable: false, Justification: "no personal data is processed", Author: "dpo"}}
	r := result(t, in, "iso27001-2022/8.3")
	if r.Status != NotApplicable || r.Explanation != "Excluded in the Statement of Applicability by dpo: no personal data is processed" ||
		r.Applicability == nil || r.Applicability.Justification != "no personal data is processed" {
		t.Fatalf("excluded: %s %q %+v", r.Status, r.Explanation, r.Applicability)
	}
	// The checks still run and show what they found.
	if len(r.Checks[0].FailingSubjects) != 3 {
		t.Errorf("failing subjects hidden by the exclusion: %d", len(r.Checks[0].FailingSubjects))
	}
	in.SoA[0].Applicable = true
	if r := result(t, in, "iso27001-2022/8.3"); r.Status != Noncompliant || r.Applicability == nil || !r.Applicability.Applicable {
		t.Fatalf("applicable again: %s", r.Status)
	}
}

func TestEvidenceRefsNameHistoryRows(t *testing.T) {
	in := worldReadableFleet()
	in.Records[2].Seq = 42
	r := result(t, in, "iso27001-2022/8.3")
	if !slices.Contains(r.EvidenceRefs, "record:a/42") {
		t.Errorf("evidence_refs = %v, want record:a/42", r.EvidenceRefs)
	}
}
