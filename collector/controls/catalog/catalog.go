// Package catalog holds the framework catalogs and the checks as YAML data,
// embedded in the collector. The controls engine loads them and merges any
// folder a compliance lead points it at, so catalogs and checks change
// without a rebuild.
package catalog

import "embed"

// FS holds every *.yaml file of this folder: one catalog per framework and
// the checks.
//
//go:embed *.yaml
var FS embed.FS
