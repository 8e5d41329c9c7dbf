package datasets

import (
	"strings"
	"testing"
)

// TestCardKeeping: what a card records about making and keeping the data
// reaches the preparation, quality, masking and retention checks, and a
// card that says nothing leaves them absent rather than guessed.
func TestCardKeeping(t *testing.T) {
	intp := func(n int) *int { return &n }
	boolp := func(b bool) *bool { return &b }
	cases := []struct {
		name, card    string
		derived       string
		prep, quality string
		masked        *bool
		retention     *int
	}{
		{name: "silent", card: "---\nlicense: mit\n---\n# Data\n"},
		{
			name:    "front matter",
			card:    "---\nderived_from: [raw-clicks, crm-export]\npreparation: dedup by user id, drop bots\nquality: {nulls_checked: true}\nmasked: true\nretention_days: 365\n---\n",
			derived: "raw-clicks, crm-export", prep: "dedup by user id, drop bots", quality: "nulls_checked: true",
			masked: boolp(true), retention: intp(365),
		},
		{
			name:    "hugging face extended source and retention words",
			card:    "---\nsource_datasets:\n- extended|glue\n- original\npseudonymised: false\nretention: 18 months\n---\n",
			derived: "glue", masked: boolp(false), retention: intp(540),
		},
		{
			name: "datasheet sections",
			card: "# Datasheet\n\n## Preprocessing/cleaning/labeling\n\nLower-cased, deduplicated.\n\n## Data quality\n\n[More Information Needed]\n\n## Validation\n\nLabels double-checked on 5%.\n",
			prep: `section "Preprocessing/cleaning/labeling"`, quality: `section "Validation"`,
		},
		{name: "retention nonsense is not a period", card: "---\nretention: forever\nretention_days: -3\n---\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseCard(strings.NewReader(c.card), 0)
			if err != nil {
				t.Fatal(err)
			}
			if got.DerivedFrom != c.derived || got.Preparation != c.prep || got.Quality != c.quality {
				t.Errorf("derived %q prep %q quality %q; want %q %q %q", got.DerivedFrom, got.Preparation, got.Quality, c.derived, c.prep, c.quality)
			}
			if (got.Masked == nil) != (c.masked == nil) || got.Masked != nil && *got.Masked != *c.masked {
				t.Errorf("masked %v, want %v", got.Masked, c.masked)
			}
			if (got.RetentionDays == nil) != (c.retention == nil) || got.RetentionDays != nil && *got.RetentionDays != *c.retention {
				t.Errorf("retention %v, want %v", got.RetentionDays, c.retention)
			}
		})
	}
}
