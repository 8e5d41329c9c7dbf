package encryption

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/annexa/annexa/plugins/sdk"
)

// The subjects last reported are kept in the state dir so that a swap area
// turned off, a device dropped from the settings or a root moved to
// another volume gets its delete, even across restarts.
const knownFile = "reported.json"

type knownDoc struct {
	Version  int                 `json:"version"`
	Subjects map[string][]string `json:"subjects"` // kind → subjects
}

func loadKnown(dir string) (map[string]map[string]bool, error) {
	set := map[string]map[string]bool{}
	if dir == "" {
		return set, nil
	}
	f, err := os.Open(filepath.Join(dir, knownFile))
	if errors.Is(err, fs.ErrNotExist) {
		return set, nil
	}
	if err != nil {
		return set, err
	}
	defer f.Close()
	var doc knownDoc
	if err := json.NewDecoder(io.LimitReader(f, 16<<20)).Decode(&doc); err != nil || doc.Version != 1 {
		return set, fmt.Errorf("%s is damaged (%v); starting afresh", f.Name(), err)
	}
	for kind, subs := range doc.Subjects {
		if kind != KindVolume && kind != KindSwap && kind != KindEndpoint && kind != KindKey && kind != KindKeyScan {
			continue
		}
		set[kind] = map[string]bool{}
		for _, s := range subs {
			set[kind][s] = true
		}
	}
	return set, nil
}

func saveKnown(dir string, set map[string]map[string]bool) error {
	if dir == "" {
		return nil
	}
	doc := knownDoc{Version: 1, Subjects: map[string][]string{}}
	for kind, subs := range set {
		list := make([]string, 0, len(subs))
		for s, ok := range subs {
			if ok {
				list = append(list, s)
			}
		}
		sort.Strings(list)
		doc.Subjects[kind] = list
	}
	b, err := json.MarshalIndent(doc, "", " ")
	if err != nil {
		return err
	}
	return sdk.WriteFileAtomic(filepath.Join(dir, knownFile), b)
}
