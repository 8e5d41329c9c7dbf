package datasets

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Datasheet fields a dataset's documentation should cover (Datasheets for
// Datasets; the Hugging Face dataset card template), in report order.
var datasheetFields = []string{"license", "source", "collection_process", "intended_use", "personal_data"}

// headingFields recognise a field by the title of a Markdown section with
// real content under it (placeholders such as "[More Information Needed]"
// do not count).
var headingFields = []struct {
	field string
	re    *regexp.Regexp
}{
	{"source", regexp.MustCompile(`(?i)\b(source|sources|provenance|origin|citation)\b`)},
	{"collection_process", regexp.MustCompile(`(?i)\b(collection|collected|curation|annotation|acquisition|gathering|preprocessing)\b`)},
	{"intended_use", regexp.MustCompile(`(?i)\b(uses?|intended|use cases?|purpose|motivation|out-of-scope)\b`)},
	{"personal_data", regexp.MustCompile(`(?i)\b(personal|sensitive|privacy|pii|anonymi[sz]ation|confidential)\b`)},
	{"license", regexp.MustCompile(`(?i)\b(licen[cs]e|licensing|terms of use)\b`)},
}

// frontMatterFields are card metadata keys that settle a field.
var frontMatterFields = map[string]string{
	"source_datasets": "source", "source": "source", "homepage": "source", "paperswithcode_id": "source",
	"task_categories": "intended_use", "task_ids": "intended_use", "intended_use": "intended_use",
	"personal_data": "personal_data", "pii": "personal_data", "personal_and_sensitive_information": "personal_data",
	"collection_process": "collection_process",
}

var placeholderRE = regexp.MustCompile(`(?i)\[?more information needed\]?|\btbd\b|\btodo\b|\bn/a\b|<!--.*?-->`)

// Card is what we use of a dataset card or datasheet.
type Card struct {
	License    string
	PrettyName string
	// Source is where the data came from, as the card states it: its
	// `source` or `homepage`, its `source_datasets`, else the title of
	// the section that tells.
	Source string
	// Classification is a level the card declares (front matter
	// `classification:`), "" if none or not a known level.
	Classification string
	// Fields are the datasheet fields the document covers.
	Fields map[string]bool

	// What the card records about how the data was made and is kept, for
	// the data-preparation, quality, masking and retention checks. Front
	// matter keys settle them; a section with content under a matching
	// title gives preparation and quality too.
	DerivedFrom   string
	Preparation   string
	Quality       string
	Masked        *bool
	RetentionDays *int
}

// prepHeadingRE and qualityHeadingRE recognise the sections of a
// datasheet (Gebru et al.: "Preprocessing/cleaning/labeling") and of the
// Hugging Face card template that record preparation and quality work.
var (
	prepHeadingRE    = regexp.MustCompile(`(?i)\b(preprocessing|pre-processing|preparation|cleaning|filtering|deduplication|transformation)\b`)
	qualityHeadingRE = regexp.MustCompile(`(?i)\b(quality|validation|data checks?)\b`)
	retentionRE      = regexp.MustCompile(`(?i)^\s*(\d{1,5})\s*(d|days?|w|weeks?|m|months?|y|years?)\s*$`)
)

// ParseCard reads a dataset card or datasheet (Markdown, optional YAML
// front matter) from at most limit bytes: license and pretty_name from
// the front matter, and which datasheet fields its sections cover.
func ParseCard(r io.Reader, limit int64) (Card, error) {
	if limit <= 0 || limit > maxMetaBytes {
		limit = maxMetaBytes
	}
	data, err := io.ReadAll(io.LimitReader(r, limit))
	if err != nil {
		return Card{}, fmt.Errorf("read card: %w", err)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	c := Card{Fields: map[string]bool{}}
	body := data
	if fmBlock, rest, ok := splitFrontMatter(data); ok {
		body = rest
		var doc map[string]any
		if yaml.Unmarshal(fmBlock, &doc) == nil {
			c.License = licenseValue(doc["license"])
			if s, ok := doc["pretty_name"].(string); ok {
				c.PrettyName = capString(strings.TrimSpace(s), 128)
			}
			for k, v := range doc {
				if f, ok := frontMatterFields[strings.ToLower(k)]; ok && nonEmpty(v) {
					c.Fields[f] = true
				}
			}
			if l, ok := doc["classification"].(string); ok && levelRank(strings.ToLower(strings.TrimSpace(l))) >= 0 {
				c.Classification = strings.ToLower(strings.TrimSpace(l))
			}
			for _, k := range []string{"source", "homepage", "source_datasets"} {
				if c.Source == "" && nonEmpty(doc[k]) {
					c.Source = capString(flatten(doc[k]), 256)
				}
			}
			c.keeping(doc)
		}
	}
	if c.License != "" {
		c.Fields["license"] = true
	}
	for _, s := range sections(body) {
		text := strings.TrimSpace(placeholderRE.ReplaceAllString(s.body, ""))
		if text == "" {
			continue
		}
		for _, hf := range headingFields {
			if hf.re.MatchString(s.title) {
				c.Fields[hf.field] = true
				if hf.field == "source" && c.Source == "" {
					c.Source = capString("section \""+s.title+"\"", 256)
				}
			}
		}
		if c.Preparation == "" && prepHeadingRE.MatchString(s.title) {
			c.Preparation = capString("section \""+s.title+"\"", 256)
		}
		if c.Quality == "" && qualityHeadingRE.MatchString(s.title) {
			c.Quality = capString("section \""+s.title+"\"", 256)
		}
	}
	return c, nil
}

// keeping reads the front matter keys that say what the data was derived
// from, how it was prepared, how its quality was checked, whether its
// personal data is masked and how long it is kept.
func (c *Card) keeping(doc map[string]any) {
	if nonEmpty(doc["derived_from"]) {
		c.DerivedFrom = capString(flatten(doc["derived_from"]), 256)
	} else if v, ok := doc["source_datasets"].([]any); ok {
		// Hugging Face marks a dataset built on others "extended|<name>".
		var from []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				if name, ok := strings.CutPrefix(strings.TrimSpace(s), "extended|"); ok && name != "" {
					from = append(from, name)
				}
			}
		}
		c.DerivedFrom = capString(strings.Join(from, ", "), 256)
	}
	for _, k := range []string{"preparation", "preprocessing"} {
		if c.Preparation == "" && nonEmpty(doc[k]) {
			c.Preparation = capString(flatten(doc[k]), 256)
		}
	}
	for _, k := range []string{"quality", "data_quality"} {
		if c.Quality == "" && nonEmpty(doc[k]) {
			c.Quality = capString(flatten(doc[k]), 256)
		}
	}
	for _, k := range []string{"masked", "pseudonymised", "pseudonymized", "anonymised", "anonymized"} {
		if b, ok := doc[k].(bool); ok {
			c.Masked = &b
			break
		}
	}
	switch v := doc["retention_days"].(type) {
	case int:
		if v >= 0 {
			c.RetentionDays = &v
		}
	case string:
		if d, ok := retentionDays(v + "d"); ok {
			c.RetentionDays = &d
		}
	}
	if s, ok := doc["retention"].(string); ok && c.RetentionDays == nil {
		if d, ok := retentionDays(s); ok {
			c.RetentionDays = &d
		}
	}
}

// retentionDays reads "90d", "12 weeks", "18 months" or "2y" as days
// (a month is 30 days, a year 365).
func retentionDays(s string) (int, bool) {
	m := retentionRE.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, false
	}
	switch strings.ToLower(m[2])[0] {
	case 'w':
		n *= 7
	case 'm':
		n *= 30
	case 'y':
		n *= 365
	}
	return n, true
}

func nonEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case string:
		return strings.TrimSpace(placeholderRE.ReplaceAllString(v, "")) != ""
	case []any:
		return slices.ContainsFunc(v, nonEmpty)
	case map[string]any:
		return len(v) > 0
	}
	return true
}

// flatten renders a front matter value as one line: lists joined by ", ".
func flatten(v any) string {
	switch v := v.(type) {
	case string:
		return strings.TrimSpace(v)
	case []any:
		var parts []string
		for _, e := range v {
			if s := flatten(e); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, ", ")
	case map[string]any:
		keys := slices.Sorted(maps.Keys(v))
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+": "+flatten(v[k]))
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v)
}

// splitFrontMatter separates a leading "---" YAML block from the rest.
func splitFrontMatter(data []byte) (block, rest []byte, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), len(data)+1)
	if !sc.Scan() || strings.TrimRight(sc.Text(), " \t\r") != "---" {
		return nil, data, false
	}
	off := len(sc.Bytes()) + 1
	var b bytes.Buffer
	for sc.Scan() {
		line := sc.Text()
		off += len(sc.Bytes()) + 1
		if t := strings.TrimRight(line, " \t\r"); t == "---" || t == "..." {
			return b.Bytes(), data[min(off, len(data)):], true
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return nil, data, false
}

type section struct {
	level int
	title string
	body  string
}

// sections splits Markdown at ATX headings; a section's body runs to the
// next heading of the same or a higher level, so it includes its
// subsections ("Source Data" holds "Data Collection and Processing").
func sections(body []byte) []section {
	lines := strings.Split(string(body), "\n")
	type head struct {
		level int
		title string
		line  int
	}
	var heads []head
	inFence := false
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(t, "#") {
			continue
		}
		lvl := len(t) - len(strings.TrimLeft(t, "#"))
		if lvl > 6 || (len(t) > lvl && t[lvl] != ' ') {
			continue
		}
		heads = append(heads, head{lvl, strings.TrimSpace(strings.Trim(t[lvl:], "# ")), i})
	}
	var out []section
	for i, h := range heads {
		end := len(lines)
		for _, n := range heads[i+1:] {
			if n.level <= h.level {
				end = n.line
				break
			}
		}
		var b strings.Builder
		for _, l := range lines[h.line+1 : end] {
			if !strings.HasPrefix(strings.TrimSpace(l), "#") {
				b.WriteString(l)
				b.WriteByte('\n')
			}
		}
		out = append(out, section{h.level, h.title, b.String()})
	}
	return out
}

// HFInfo is what we use of a Hugging Face dataset_info.json.
type HFInfo struct {
	License  string
	Name     string // dataset_name, else builder_name
	Config   string
	Homepage string
	Citation bool
	Desc     bool
	Rows     int64    // sum of splits[*].num_examples
	Splits   []string // split names
	Features []string // top-level feature names
}

// ParseHFInfo reads a dataset_info.json from at most limit bytes.
func ParseHFInfo(r io.Reader, limit int64) (HFInfo, error) {
	if limit <= 0 || limit > maxMetaBytes {
		limit = maxMetaBytes
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return HFInfo{}, fmt.Errorf("read dataset_info.json: %w", err)
	}
	if int64(len(data)) > limit {
		return HFInfo{License: licenseFromPrefix(data[:limit])}, fmt.Errorf("dataset_info.json is over %d bytes; only the license was read", limit)
	}
	var doc struct {
		License     any             `json:"license"`
		DatasetName string          `json:"dataset_name"`
		BuilderName string          `json:"builder_name"`
		ConfigName  string          `json:"config_name"`
		Homepage    string          `json:"homepage"`
		Citation    string          `json:"citation"`
		Description string          `json:"description"`
		Features    json.RawMessage `json:"features"`
		Splits      map[string]struct {
			Name        string `json:"name"`
			NumExamples int64  `json:"num_examples"`
		} `json:"splits"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return HFInfo{}, fmt.Errorf("parse dataset_info.json: %w", err)
	}
	info := HFInfo{
		Name: doc.DatasetName, Config: doc.ConfigName,
		Homepage: capString(strings.TrimSpace(doc.Homepage), 256), Citation: strings.TrimSpace(doc.Citation) != "",
		Desc: strings.TrimSpace(doc.Description) != "",
	}
	if s, ok := doc.License.(string); ok {
		info.License = NormalizeLicense(s)
	}
	if info.Name == "" {
		info.Name = doc.BuilderName
	}
	info.Name = capString(info.Name, 128)
	for k, s := range doc.Splits {
		info.Splits = append(info.Splits, capString(k, 64))
		if s.NumExamples > 0 {
			info.Rows += s.NumExamples
		}
	}
	slices.Sort(info.Splits)
	var feats map[string]json.RawMessage
	if json.Unmarshal(doc.Features, &feats) == nil {
		for k := range feats {
			info.Features = append(info.Features, k)
		}
		slices.Sort(info.Features)
		info.Features = capList(info.Features, maxColumnsKept)
	}
	return info, nil
}

// ParseDatasetDict reads the split names of a dataset_dict.json.
func ParseDatasetDict(r io.Reader, limit int64) ([]string, error) {
	if limit <= 0 || limit > maxMetaBytes {
		limit = maxMetaBytes
	}
	var doc struct {
		Splits []string `json:"splits"`
	}
	if err := json.NewDecoder(io.LimitReader(r, limit)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("parse dataset_dict.json: %w", err)
	}
	return capList(doc.Splits, 64), nil
}

// hubCacheName returns "org/name" when path lies in a Hugging Face hub
// cache folder "datasets--org--name" (the layout of
// ~/.cache/huggingface/hub), else "".
func hubCacheName(path string) string {
	for _, part := range strings.Split(filepath.ToSlash(path), "/") {
		if rest, ok := strings.CutPrefix(part, "datasets--"); ok && rest != "" {
			return strings.ReplaceAll(rest, "--", "/")
		}
	}
	return ""
}
