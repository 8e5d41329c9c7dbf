package datasets

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/annexa/annexa/plugins/datasets/pii"
	"github.com/annexa/annexa/plugins/sdk"
)

// PersonalDataSettings bound the personal-data sample of each file.
type PersonalDataSettings struct {
	// Enabled defaults to true.
	Enabled *bool `json:"enabled"`
	// MaxRows and MaxBytes cap the sample per file; 0 takes the default.
	MaxRows  int   `json:"max_rows"`
	MaxBytes int64 `json:"max_bytes"`
}

func (s PersonalDataSettings) enabled() bool { return s.Enabled == nil || *s.Enabled }

// Ceilings of the sampling limits: a sample is held in memory per hashing
// worker.
const (
	maxSampleBytes = 64 << 20
	maxSampleRows  = 1_000_000
)

// piiLimits are the sampling limits in force.
func (p *Plugin) piiLimits() pii.Limits {
	l := pii.DefaultLimits
	if p.set.PersonalData.MaxRows > 0 {
		l.MaxRows = p.set.PersonalData.MaxRows
	}
	if p.set.PersonalData.MaxBytes > 0 {
		l.MaxBytes = p.set.PersonalData.MaxBytes
	}
	return l
}

// inspectVersion changes whenever inspect could report other facts for
// the same bytes (new detectors, new formats), so cached facts of an older
// plugin are not trusted.
const inspectVersion = 1

// cacheTag names everything that shapes a cache entry besides the file.
func (p *Plugin) cacheTag() string {
	l := p.piiLimits()
	on := 0
	if p.set.PersonalData.enabled() {
		on = 1
	}
	return fmt.Sprintf("s%d.i%d.p%d.%d.%d", sniffVersion, inspectVersion, on, l.MaxRows, l.MaxBytes)
}

// Classification levels, least to most sensitive.
var levels = []string{"public", "internal", "confidential", "restricted"}

func levelRank(l string) int { return slices.Index(levels, l) }

// ClassificationSettings map what a dataset holds and where it lives to a
// level.
type ClassificationSettings struct {
	// Default is the level when no rule matches; "internal" if empty.
	Default string `json:"default"`
	// Rules replace the default rules when given. Every rule whose
	// conditions all hold proposes its level; the most sensitive wins, and
	// among equals the first listed.
	Rules []ClassRule `json:"rules"`
}

// ClassRule is one classification rule. A rule needs at least one
// condition.
type ClassRule struct {
	Name  string `json:"name"`
	Level string `json:"level"`
	// PII: any of these entity kinds was found ("*": any personal data).
	PII []string `json:"pii"`
	// Paths: the dataset folder, or one of its ancestors, matches any of
	// these globs (path/filepath.Match against the absolute path).
	Paths []string `json:"paths"`
	// Findings: any of these finding rules is on the dataset.
	Findings []string `json:"findings"`
}

// defaultRules say: payment cards, national ids and bank accounts are
// restricted; any other personal data is confidential.
var defaultRules = []ClassRule{
	{Name: "payment-card-or-national-id", Level: "restricted", PII: []string{string(pii.CreditCard), string(pii.SSN), string(pii.IBAN)}},
	{Name: "personal-data", Level: "confidential", PII: []string{"*"}},
}

func (c ClassificationSettings) rules() []ClassRule {
	if c.Rules == nil {
		return defaultRules
	}
	return c.Rules
}

func (c ClassificationSettings) defaultLevel() string {
	if c.Default == "" {
		return "internal"
	}
	return c.Default
}

func validateExtra(s *Settings) sdk.FieldErrors {
	var fe sdk.FieldErrors
	pd := s.PersonalData
	if pd.MaxRows < 0 || pd.MaxRows > maxSampleRows {
		fe = append(fe, sdk.FieldError{Field: "personal_data.max_rows", Message: fmt.Sprintf("must be 0 (default %d) to %d", pii.DefaultLimits.MaxRows, maxSampleRows)})
	}
	if pd.MaxBytes < 0 || pd.MaxBytes > maxSampleBytes {
		fe = append(fe, sdk.FieldError{Field: "personal_data.max_bytes", Message: fmt.Sprintf("must be 0 (default %d) to %d", pii.DefaultLimits.MaxBytes, maxSampleBytes)})
	}
	c := s.Classification
	if c.Default != "" && levelRank(c.Default) < 0 {
		fe = append(fe, sdk.FieldError{Field: "classification.default", Message: fmt.Sprintf("%q is not one of %s", c.Default, strings.Join(levels, ", "))})
	}
	known := map[string]bool{"*": true}
	for _, e := range pii.All {
		known[string(e)] = true
	}
	for i, r := range c.Rules {
		f := fmt.Sprintf("classification.rules[%d]", i)
		if levelRank(r.Level) < 0 {
			fe = append(fe, sdk.FieldError{Field: f + ".level", Message: fmt.Sprintf("%q is not one of %s", r.Level, strings.Join(levels, ", "))})
		}
		if len(r.PII)+len(r.Paths)+len(r.Findings) == 0 {
			fe = append(fe, sdk.FieldError{Field: f, Message: "needs at least one condition: pii, paths or findings"})
		}
		for j, e := range r.PII {
			if !known[e] {
				fe = append(fe, sdk.FieldError{Field: fmt.Sprintf("%s.pii[%d]", f, j), Message: fmt.Sprintf("%q is not an entity kind (one of %s, or \"*\")", e, entityList())})
			}
		}
		for j, g := range r.Paths {
			if _, err := filepath.Match(g, "/"); err != nil || !filepath.IsAbs(g) {
				fe = append(fe, sdk.FieldError{Field: fmt.Sprintf("%s.paths[%d]", f, j), Message: fmt.Sprintf("%q must be an absolute glob", g)})
			}
		}
	}
	return fe
}

func entityList() string {
	var s []string
	for _, e := range pii.All {
		s = append(s, string(e))
	}
	return strings.Join(s, ", ")
}

// classify applies the rules to a dataset's attributes, setting
// classification, classification_rule and classification_reason.
func (c ClassificationSettings) classify(a *Attributes) {
	a.Classification, a.ClassificationRule = c.defaultLevel(), ""
	a.ClassificationReason = "no rule matched: default level"
	best := -1
	if a.declared != "" {
		// The owner's own statement counts like a rule; evidence of more
		// sensitive content still wins over it.
		best = levelRank(a.declared)
		a.Classification, a.ClassificationRule = a.declared, "datasheet"
		a.ClassificationReason = "declared in " + a.declaredIn + " front matter"
	}
	for _, r := range c.rules() {
		reason, ok := r.match(a)
		if !ok || levelRank(r.Level) <= best {
			continue
		}
		best = levelRank(r.Level)
		a.Classification, a.ClassificationRule, a.ClassificationReason = r.Level, r.Name, reason
	}
}

// pathMatches: the glob matches the dataset folder or one of its
// ancestors, so "/srv/ml/public/*" covers datasets nested below too.
func pathMatches(glob, path string) bool {
	for p := path; ; p = filepath.Dir(p) {
		if ok, _ := filepath.Match(glob, p); ok {
			return true
		}
		if p == filepath.Dir(p) {
			return false
		}
	}
}

// match says whether every condition of the rule holds, and why.
func (r ClassRule) match(a *Attributes) (string, bool) {
	var why []string
	if len(r.PII) > 0 {
		var hit []string
		for _, e := range pii.All {
			n := a.PII[string(e)]
			if n > 0 && (slices.Contains(r.PII, "*") || slices.Contains(r.PII, string(e))) {
				hit = append(hit, fmt.Sprintf("%s (%d)", e, n))
			}
		}
		if len(hit) == 0 {
			return "", false
		}
		why = append(why, "personal data found: "+strings.Join(hit, ", "))
	}
	if len(r.Paths) > 0 {
		i := slices.IndexFunc(r.Paths, func(g string) bool { return pathMatches(g, a.Path) })
		if i < 0 {
			return "", false
		}
		why = append(why, "path matches "+r.Paths[i])
	}
	if len(r.Findings) > 0 {
		i := slices.IndexFunc(a.Findings, func(f Finding) bool { return slices.Contains(r.Findings, f.Rule) })
		if i < 0 {
			return "", false
		}
		why = append(why, "finding "+a.Findings[i].Rule)
	}
	return strings.Join(why, "; "), true
}
