package datasets

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
)

// describe reads the dataset's top-level cards, datasheet, Hugging Face
// metadata and license files: datasheet presence and fields, license,
// name, declared splits, rows and columns.
func (p *Plugin) describe(dir string, entries []fs.DirEntry, a *Attributes) {
	byLower := map[string]string{}
	for _, e := range entries {
		if !e.IsDir() {
			byLower[strings.ToLower(e.Name())] = e.Name()
		}
	}
	fields := map[string]bool{}
	var names []string
	addName := func(n, source string) {
		n = strings.TrimSpace(n)
		if n == "" || slices.ContainsFunc(names, func(o string) bool { return strings.EqualFold(o, n) }) {
			return
		}
		names = append(names, n)
		if a.Name == "" {
			a.Name, a.NameSource = n, source
		}
	}
	addName(hubCacheName(dir), "hub_cache")

	for _, n := range []string{"datasheet.md", "dataset_card.md"} {
		if name, ok := byLower[n]; ok {
			a.HasDatasheet, a.Datasheet = true, name
			break
		}
	}
	var prettyName string
	for _, n := range []string{"datasheet.md", "dataset_card.md", "readme.md"} {
		name, ok := byLower[n]
		if !ok {
			continue
		}
		path := filepath.Join(dir, name)
		if n != "datasheet.md" {
			// A card is a card only with front matter; a plain README is
			// prose about anything.
			if _, err := readMeta(path, ParseFrontMatter); errors.Is(err, errNoFrontMatter) {
				continue
			}
			if !a.HasDatasheet {
				a.HasDatasheet, a.Datasheet = true, name
			}
		}
		c, err := readMeta(path, ParseCard)
		if err != nil {
			continue
		}
		for f := range c.Fields {
			fields[f] = true
		}
		if c.License != "" && a.License == "" {
			a.License, a.LicenseSource = c.License, name+" front matter"
		}
		if prettyName == "" {
			prettyName = c.PrettyName
		}
		if c.Classification != "" && levelRank(c.Classification) > levelRank(a.declared) {
			a.declared, a.declaredIn = c.Classification, name
		}
		a.keeping(c, name)
		if a.Source == "" && c.Source != "" {
			a.Source = c.Source
			if strings.HasPrefix(c.Source, "section ") {
				a.Source = name + " " + c.Source
			}
		}
	}
	if name, ok := byLower["dataset_info.json"]; ok {
		info, err := readMeta(filepath.Join(dir, name), ParseHFInfo)
		if err != nil {
			a.find("metadata.unreadable", "low", "%s: %v", name, err)
		}
		if info.License != "" && a.License == "" {
			a.License, a.LicenseSource = info.License, name
		}
		addName(info.Name, "dataset_info.json")
		if info.Homepage != "" || info.Citation {
			fields["source"] = true
		}
		if info.Homepage != "" && (a.Source == "" || strings.Contains(a.Source, " section ")) {
			a.Source = info.Homepage
		}
		a.Splits = info.Splits
		a.DeclaredRows = info.Rows
		a.Columns = info.Features
	}
	if name, ok := byLower["dataset_dict.json"]; ok {
		splits, err := readMeta(filepath.Join(dir, name), ParseDatasetDict)
		if err != nil {
			a.find("metadata.unreadable", "low", "%s: %v", name, err)
		} else if len(a.Splits) == 0 {
			a.Splits = splits
		}
	}
	for _, n := range []string{"license", "license.txt", "license.md", "licence", "licence.txt", "copying", "copying.txt"} {
		name, ok := byLower[n]
		if !ok || a.License != "" {
			continue
		}
		if id, err := readMeta(filepath.Join(dir, name), SniffLicense); err == nil && id != "" {
			a.License, a.LicenseSource = id, name
		}
	}
	if a.License != "" {
		fields["license"] = true
	}
	// The folder name is how a model's training config usually refers to
	// local data; a card's pretty_name is prose, kept as an alias only.
	addName(filepath.Base(dir), "folder")
	addName(prettyName, "card pretty_name")
	a.Names = names
	a.DatasheetFields, a.DatasheetMissing = []string{}, []string{}
	for _, f := range datasheetFields {
		if fields[f] {
			a.DatasheetFields = append(a.DatasheetFields, f)
		} else {
			a.DatasheetMissing = append(a.DatasheetMissing, f)
		}
	}
}

// keeping takes what a card records about making and keeping the data;
// the first card that says something wins, as for the source.
func (a *Attributes) keeping(c Card, name string) {
	if a.DerivedFrom == "" {
		a.DerivedFrom = c.DerivedFrom
	}
	if a.Preparation == "" && c.Preparation != "" {
		a.Preparation = c.Preparation
		if strings.HasPrefix(c.Preparation, "section ") {
			a.Preparation = name + " " + c.Preparation
		}
	}
	if a.Quality == "" && c.Quality != "" {
		a.Quality = c.Quality
		if strings.HasPrefix(c.Quality, "section ") {
			a.Quality = name + " " + c.Quality
		}
	}
	if a.Masked == nil {
		a.Masked = c.Masked
	}
	if a.RetentionDays == nil {
		a.RetentionDays = c.RetentionDays
	}
}
