package datasets

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxMetaBytes bounds what we read of any card, datasheet, dataset_info.json
// or license file: they are written by whoever can write the dataset.
const maxMetaBytes = 64 << 10

// errNoFrontMatter means the document does not open with a YAML block.
var errNoFrontMatter = errors.New("no YAML front matter")

// FrontMatter is what we use of a dataset card's YAML header.
type FrontMatter struct {
	License string
}

// ParseFrontMatter reads a Markdown document's YAML front matter (between
// a first line "---" and the next "---" or "...") from at most limit
// bytes. It returns errNoFrontMatter when there is none, so a plain README
// is told apart from a dataset card.
func ParseFrontMatter(r io.Reader, limit int64) (FrontMatter, error) {
	if limit <= 0 || limit > maxMetaBytes {
		limit = maxMetaBytes
	}
	data, err := io.ReadAll(io.LimitReader(r, limit))
	if err != nil {
		return FrontMatter{}, fmt.Errorf("read front matter: %w", err)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), int(limit)+1)
	if !sc.Scan() || strings.TrimRight(sc.Text(), " \t\r") != "---" {
		return FrontMatter{}, errNoFrontMatter
	}
	var block bytes.Buffer
	closed := false
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if line == "---" || line == "..." {
			closed = true
			break
		}
		block.WriteString(sc.Text())
		block.WriteByte('\n')
	}
	if !closed {
		return FrontMatter{}, errNoFrontMatter
	}
	var doc struct {
		License any `yaml:"license"`
	}
	if err := yaml.Unmarshal(block.Bytes(), &doc); err != nil {
		return FrontMatter{}, fmt.Errorf("parse front matter: %w", err)
	}
	return FrontMatter{License: licenseValue(doc.License)}, nil
}

// licenseValue accepts the shapes cards use: a string, or a list of
// strings (dual licensing), which we join with " OR " as SPDX does.
func licenseValue(v any) string {
	switch v := v.(type) {
	case string:
		return NormalizeLicense(v)
	case []any:
		var ids []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				if id := NormalizeLicense(s); id != "" {
					ids = append(ids, id)
				}
			}
		}
		return strings.Join(ids, " OR ")
	}
	return ""
}

// DatasetInfo is what we use of a Hugging Face dataset_info.json.
type DatasetInfo struct {
	License string
}

// ParseDatasetInfo reads at most limit bytes of a dataset_info.json.
func ParseDatasetInfo(r io.Reader, limit int64) (DatasetInfo, error) {
	if limit <= 0 || limit > maxMetaBytes {
		limit = maxMetaBytes
	}
	var doc struct {
		License json.RawMessage `json:"license"`
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return DatasetInfo{}, fmt.Errorf("read dataset_info.json: %w", err)
	}
	if int64(len(data)) > limit {
		// Hugging Face writes features and splits here, and a big schema
		// can pass any limit: license comes early, so fall back to
		// finding it with a scan of the prefix.
		return DatasetInfo{License: licenseFromPrefix(data[:limit])}, nil
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return DatasetInfo{}, fmt.Errorf("parse dataset_info.json: %w", err)
	}
	var s string
	if len(doc.License) > 0 && json.Unmarshal(doc.License, &s) == nil {
		return DatasetInfo{License: NormalizeLicense(s)}, nil
	}
	return DatasetInfo{}, nil
}

var licenseKeyRE = regexp.MustCompile(`"license"\s*:\s*("(?:[^"\\]|\\.)*")`)

func licenseFromPrefix(b []byte) string {
	m := licenseKeyRE.FindSubmatch(b)
	if m == nil {
		return ""
	}
	var s string
	if json.Unmarshal(m[1], &s) != nil {
		return ""
	}
	return NormalizeLicense(s)
}

// licenseIDs maps the spellings cards use (Hugging Face's lower-case ids,
// common names) to SPDX ids.
var licenseIDs = map[string]string{
	"mit": "MIT", "apache-2.0": "Apache-2.0", "apache 2.0": "Apache-2.0", "apache2": "Apache-2.0",
	"bsd-3-clause": "BSD-3-Clause", "bsd-2-clause": "BSD-2-Clause",
	"cc-by-4.0": "CC-BY-4.0", "cc-by-sa-4.0": "CC-BY-SA-4.0", "cc-by-nc-4.0": "CC-BY-NC-4.0",
	"cc-by-nc-sa-4.0": "CC-BY-NC-SA-4.0", "cc-by-3.0": "CC-BY-3.0", "cc-by-sa-3.0": "CC-BY-SA-3.0",
	"cc0-1.0": "CC0-1.0", "cc0": "CC0-1.0", "gpl-3.0": "GPL-3.0", "gpl-2.0": "GPL-2.0",
	"lgpl-3.0": "LGPL-3.0", "agpl-3.0": "AGPL-3.0", "mpl-2.0": "MPL-2.0", "odbl": "ODbL-1.0",
	"odc-by": "ODC-By-1.0", "pddl": "PDDL-1.0", "unlicense": "Unlicense", "openrail": "OpenRAIL",
	"other": "other",
}

// maxLicenseIDLen keeps free text (a whole license pasted into a field)
// from being reported as an id.
const maxLicenseIDLen = 64

// NormalizeLicense turns a declared license into an SPDX-ish id: a known
// spelling maps to its SPDX id, recognisable license text to the id it
// matches, an unknown short id is kept as written, and anything else
// (empty, "unknown", long unrecognised text) is "".
func NormalizeLicense(s string) string {
	s = strings.TrimSpace(s)
	key := strings.ToLower(s)
	if id, ok := licenseIDs[key]; ok {
		return id
	}
	if key == "" || key == "unknown" || key == "none" || key == "n/a" {
		return ""
	}
	if id := licenseFromText(s); id != "" {
		return id
	}
	if len(s) <= maxLicenseIDLen && !strings.ContainsAny(s, "\n\r") {
		return s
	}
	return ""
}

// licensePhrases recognise a license file by text only that license
// carries. Order matters: ShareAlike before plain Attribution.
var licensePhrases = []struct {
	id  string
	all []string
}{
	{"MIT", []string{"permission is hereby granted, free of charge, to any person obtaining a copy"}},
	{"Apache-2.0", []string{"apache license", "version 2.0"}},
	{"BSD-3-Clause", []string{"redistribution and use in source and binary forms", "neither the name of"}},
	{"CC-BY-SA-4.0", []string{"attribution-sharealike 4.0 international"}},
	{"CC-BY-4.0", []string{"attribution 4.0 international"}},
	{"CC0-1.0", []string{"cc0 1.0 universal"}},
	{"GPL-3.0", []string{"gnu general public license", "version 3"}},
}

var spaceRE = regexp.MustCompile(`\s+`)

func licenseFromText(s string) string {
	norm := spaceRE.ReplaceAllString(strings.ToLower(s), " ")
	for _, p := range licensePhrases {
		ok := true
		for _, phrase := range p.all {
			if !strings.Contains(norm, phrase) {
				ok = false
				break
			}
		}
		if ok {
			return p.id
		}
	}
	return ""
}

// SniffLicense recognises a LICENSE/COPYING file from at most limit bytes;
// "" when it is none of the licenses we know by their wording.
func SniffLicense(r io.Reader, limit int64) (string, error) {
	if limit <= 0 || limit > maxMetaBytes {
		limit = maxMetaBytes
	}
	data, err := io.ReadAll(io.LimitReader(r, limit))
	if err != nil {
		return "", fmt.Errorf("read license: %w", err)
	}
	return licenseFromText(string(data)), nil
}
