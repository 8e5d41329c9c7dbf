package datasets

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// markerFile is the marker an operator drops into a folder to say "this
// is one dataset" when nothing else says so.
const markerFile = ".annexa-dataset"

// docStems are file names (before the first dot, any case) that describe
// a dataset rather than being part of it.
var docStems = map[string]bool{
	"readme": true, "license": true, "licence": true, "copying": true, "notice": true,
	"changelog": true, "citation": true, "authors": true, "contributing": true, "datasheet": true,
}

// metaNames are whole names (any case) of metadata files.
var metaNames = map[string]bool{
	"dataset_info.json": true, "dataset_dict.json": true, "state.json": true, "dataset_card.md": true,
}

// tempSuffixes mark files that are being written or are editor litter;
// counting them would make two scans of a quiet dataset disagree.
var tempSuffixes = []string{".tmp", ".temp", ".lock", ".swp", ".swo", "~", ".part", ".partial", ".crdownload", ".incomplete"}

// isHidden: dot names are ignored, apart from markerFile, which only marks.
func isHidden(name string) bool { return strings.HasPrefix(name, ".") }

// isDataName says whether a regular file of this name counts as data.
// The README gives the same rule as a find(1) expression; keep them equal.
func isDataName(name string) bool {
	if isHidden(name) {
		return false
	}
	lower := strings.ToLower(name)
	stem, _, _ := strings.Cut(lower, ".")
	if docStems[stem] || metaNames[lower] || strings.HasPrefix(lower, "~$") {
		return false
	}
	for _, s := range tempSuffixes {
		if strings.HasSuffix(lower, s) {
			return false
		}
	}
	return true
}

// marker returns the name of the file that marks dir as a dataset, or ""
// when none does. entries is dir's listing.
func marker(dir string, entries []fs.DirEntry) string {
	hasArrow := false
	for _, e := range entries {
		if strings.HasSuffix(strings.ToLower(e.Name()), ".arrow") && !e.IsDir() {
			hasArrow = true
		}
	}
	var cards []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		name := e.Name()
		switch lower := strings.ToLower(name); {
		case name == markerFile, lower == "dataset_info.json", lower == "dataset_dict.json", lower == "datasheet.md":
			return name
		case lower == "state.json" && hasArrow:
			return name
		case lower == "readme.md" || lower == "dataset_card.md":
			cards = append(cards, name)
		}
	}
	for _, name := range cards {
		if hasFrontMatter(filepath.Join(dir, name)) {
			return name
		}
	}
	return ""
}

func hasFrontMatter(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = ParseFrontMatter(f, maxMetaBytes)
	// A card whose YAML does not parse is still a card: its author meant
	// it as one, and the license then reads as unknown.
	return !errors.Is(err, errNoFrontMatter)
}
