package models

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/annexa/annexa/plugins/sdk"
)

// scan_dataset_roots: models also land in dataset folders (a checkpoint
// saved beside its training data, a pickle in a data dump), where no
// models root reaches them. With the flag set, the agent passes the
// datasets plugin's roots as dataset_roots, and they are walked like
// roots: the plugin watches them, and its scan.complete covers them.

// configureEvidence completes validated settings: it adds the dataset
// roots to the roots, then reads the provenance and trust settings.
func configureEvidence(s *Settings) (*provenance, *trust, error) {
	var fe sdk.FieldErrors
	switch {
	case s.ScanDatasetRoots:
		fe = append(fe, checkDatasetRoots(s.DatasetRoots)...)
		if len(fe) == 0 {
			s.Roots = mergeRoots(s.Roots, s.DatasetRoots)
		}
	case len(s.DatasetRoots) > 0:
		fe = append(fe, sdk.FieldError{Field: "dataset_roots", Message: "is read only with scan_dataset_roots: true (the agent fills it in from plugins.datasets.roots)"})
	}
	prov, pfe := newProvenance(s)
	fe = append(fe, pfe...)
	trust, tfe := loadTrust(s)
	fe = append(fe, tfe...)
	if len(fe) > 0 {
		return nil, nil, fe
	}
	return prov, trust, nil
}

func checkDatasetRoots(roots []string) sdk.FieldErrors {
	var fe sdk.FieldErrors
	for i, r := range roots {
		if !filepath.IsAbs(r) {
			fe = append(fe, sdk.FieldError{Field: fmt.Sprintf("dataset_roots[%d]", i), Message: fmt.Sprintf("%q is not an absolute path", r)})
		}
	}
	return fe
}

// mergeRoots adds the extra roots that no root already covers, and drops
// roots an extra one covers, so no file is walked twice and every root
// stays apart from the others (as validate requires of roots).
func mergeRoots(roots, extra []string) []string {
	all := slices.Clone(roots)
	for _, e := range extra {
		all = append(all, filepath.Clean(e))
	}
	var out []string
	for i, r := range all {
		covered := slices.ContainsFunc(all, func(o string) bool { return o != r && sdk.Within(r, o) }) ||
			slices.Contains(all[:i], r)
		if !covered {
			out = append(out, r)
		}
	}
	return out
}
