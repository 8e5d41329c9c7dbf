package report

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaDir is ../shared/schemas from the repository root.
var schemaDir = filepath.Join("..", "..", "..", "..", "shared", "schemas")

// compileSchema compiles the official schema main of folder dir, with the
// other files of the folder loaded as resources under their own $id, so
// nothing is fetched over the network. Format assertions are on (they are
// for draft-07 anyway): a date-time or a URI that is wrong must fail.
//
// Patterns are compiled with Go's regexp (RE2), the library's default.
// The OSCAL schema's patterns use \p{L} and \p{N}, which RE2 reads as the
// Unicode classes the OSCAL model means; every other construct in both
// schemas (anchors, classes, counted repeats, \S) means the same in RE2
// and ECMA-262, so no pattern is weakened or skipped.
func compileSchema(t testing.TB, dir, main string, resources ...string) *jsonschema.Schema {
	return compileSchemaAt(t, dir, main, "", resources...)
}

// compileSchemaAt compiles the definition at the JSON pointer ptr of the
// schema ("" for the whole schema).
func compileSchemaAt(t testing.TB, dir, main, ptr string, resources ...string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for _, name := range resources {
		doc := readSchemaFile(t, filepath.Join(schemaDir, dir, name))
		m, _ := doc.(map[string]any)
		id, _ := m["$id"].(string)
		if id == "" {
			t.Fatalf("%s has no $id", name)
		}
		if err := c.AddResource(id, doc); err != nil {
			t.Fatal(err)
		}
	}
	path, err := filepath.Abs(filepath.Join(schemaDir, dir, main))
	if err != nil {
		t.Fatal(err)
	}
	if ptr != "" {
		path += "#" + ptr
	}
	sch, err := c.Compile(path)
	if err != nil {
		t.Fatalf("compile %s: %v", main, err)
	}
	return sch
}

func readSchemaFile(t testing.TB, path string) any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (the official schemas live in ../shared/schemas)", err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc
}

// validate checks a document against the schema and returns the error.
func validate(t testing.TB, sch *jsonschema.Schema, doc []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("the export is not JSON: %v", err)
	}
	return sch.Validate(inst)
}

func oscalSchema(t testing.TB) *jsonschema.Schema {
	return compileSchema(t, "oscal-1.1.3", "oscal_complete_schema.json")
}

func cyclonedxSchema(t testing.TB) *jsonschema.Schema {
	return compileSchema(t, "cyclonedx-1.6", "bom-1.6.schema.json", "spdx.schema.json", "jsf-0.82.schema.json")
}
