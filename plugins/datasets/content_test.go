package datasets

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/annexa/annexa/plugins/plugintest"
	"github.com/annexa/annexa/plugins/sdk"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// formatsRoot copies testdata/formats (written by testdata/gen with
// parquet-go and arrow-go) and scans it once.
func formatsRoot(t *testing.T, settings Settings) (string, map[string]Attributes) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	copyTree(t, filepath.Join("testdata", "formats", "root"), root)
	settings.Roots = []string{root}
	// Relative path globs in tests are relative to the fixture root.
	for i := range settings.Classification.Rules {
		for j, g := range settings.Classification.Rules[i].Paths {
			if !filepath.IsAbs(g) {
				settings.Classification.Rules[i].Paths[j] = filepath.Join(root, g)
			}
		}
	}
	got := byPath(t, root, collect(t, newPlugin(t, settings, t.TempDir()), sdk.Request{Full: true}))
	return root, got
}

func hasFinding(a Attributes, rule string) bool {
	return slices.ContainsFunc(a.Findings, func(f Finding) bool { return f.Rule == rule })
}

func TestFormatsByContent(t *testing.T) {
	_, got := formatsRoot(t, Settings{})
	check := func(ds string, ok bool, format string, args ...any) {
		t.Helper()
		if !ok {
			t.Errorf("%s: "+format, append([]any{ds}, args...)...)
		}
	}
	c := got["customers"]
	check("customers", c.Formats["parquet"] == 1 && c.Rows == 100, "parquet rows %d formats %v, want 100 rows", c.Rows, c.Formats)
	check("customers", slices.Equal(c.Columns, []string{"card", "country", "email", "first_name", "id"}), "columns %v", c.Columns)
	// Only the first row group (60 rows) is sampled.
	check("customers", c.PII["credit_card"] == 60 && c.PII["email"] == 60 && c.PIISampledFraction == 0.6, "pii %v fraction %v", c.PII, c.PIISampledFraction)
	check("customers", slices.Equal(c.PIIColumns["credit_card"], []string{"customers.parquet:card"}), "card columns %v", c.PIIColumns)
	v := got["vault"]
	check("vault", v.Formats["parquet"] == 1 && v.EncryptedFiles == 1 && len(v.PII) == 0, "encrypted parquet: formats %v encrypted %d pii %v", v.Formats, v.EncryptedFiles, v.PII)
	s := got["sensors"]
	check("sensors", s.Rows == 50 && !s.PersonalData && s.Classification == "internal" && s.PIISampledFraction == 1, "rows %d pii %v class %s fraction %v", s.Rows, s.PII, s.Classification, s.PIISampledFraction)
	b := got["broken"]
	check("broken", hasFinding(b, "parquet.truncated") && b.HashStatus == "complete", "truncated parquet: findings %v", b.Findings)
	q := got["qa/train"]
	check("qa/train", q.Formats["arrow"] == 1 && q.Rows == 42 && q.DeclaredRows == 42, "arrow stream rows %d declared %d", q.Rows, q.DeclaredRows)
	check("qa/train", q.Name == "acme/arith-qa" && q.NameSource == "dataset_info.json" && slices.Equal(q.Splits, []string{"train"}), "name %q (%s) splits %v", q.Name, q.NameSource, q.Splits)
	tb := got["tables"]
	check("tables", tb.Formats["arrow"] == 1 && tb.Formats["npy"] == 1 && tb.Rows == 7 && slices.Equal(tb.Columns, []string{"answer", "label", "question", "x", "y"}), "arrow file: formats %v rows %d columns %v", tb.Formats, tb.Rows, tb.Columns)
	check("tables", len(tb.Findings) == 0, "findings %v", tb.Findings)
	check("tables", tb.Formats["npz"] == 1 && slices.Contains(tb.Columns, "x") && slices.Contains(tb.Columns, "y"), "npz: formats %v columns %v", tb.Formats, tb.Columns)
	rec := got["records"]
	check("records", rec.Formats["tfrecord"] == 1 && rec.Rows == 5 && len(rec.Findings) == 0, "tfrecord: formats %v rows %d findings %v", rec.Formats, rec.Rows, rec.Findings)
	sh := got["shards"]
	check("shards", sh.Formats["webdataset"] == 1, "webdataset shard: formats %v", sh.Formats)
	hub := got["datasets--acme--faces"]
	check("hub cache", hub.Name == "acme/faces" && hub.NameSource == "hub_cache", "name %q (%s)", hub.Name, hub.NameSource)
	ct := got["contacts"]
	check("contacts", ct.Formats["csv"] == 1 && ct.Formats["tsv"] == 1 && ct.Formats["jsonl"] == 1 && ct.Formats["json"] == 1, "formats %v", ct.Formats)
	// Semicolons: the dialect sniffer finds them, so columns are named.
	check("contacts", slices.Contains(ct.PIIColumns["us_ssn"], "crm-export.csv:ssn") && ct.PII["us_ssn"] == 1, "ssn %v %v (666- and 078-05-1120 are never issued)", ct.PII, ct.PIIColumns)
	check("contacts", ct.PII["iban"] == 1 && slices.Contains(ct.PIIColumns["email"], "accounts.jsonl:contact.email"), "iban %d (one fails mod-97), email columns %v", ct.PII["iban"], ct.PIIColumns["email"])
	check("contacts", ct.PII["ipv4"] == 1 && ct.PII["date_of_birth"] == 1, "versions are not addresses: %v", ct.PII)
	check("contacts", ct.Classification == "restricted" && ct.ClassificationRule == "payment-card-or-national-id" && strings.Contains(ct.ClassificationReason, "us_ssn (1)"), "classification %s by %q: %s", ct.Classification, ct.ClassificationRule, ct.ClassificationReason)
	check("contacts", slices.Equal(ct.DatasheetMissing, []string{"personal_data"}) && ct.License == "MIT", "datasheet missing %v license %q", ct.DatasheetMissing, ct.License)
	n := got["notes"]
	check("notes", n.PII["email"] == 1 && len(n.PII) == 1 && n.Classification == "confidential", "pii %v class %s", n.PII, n.Classification)
}

// TestNoValuesInEvidence: evidence names kinds, counts and columns, never
// a sampled value.
func TestNoValuesInEvidence(t *testing.T) {
	root, _ := formatsRoot(t, Settings{})
	recs := collect(t, newPlugin(t, Settings{Roots: []string{root}}, ""), sdk.Request{Full: true})
	var all bytes.Buffer
	for _, r := range recs {
		b, err := json.Marshal(r.Attributes)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	for _, v := range []string{"ada@example.com", "4111111111111111", "123-45-6789", "192.168.10.4", "DE89", "ops@example.com", "1985-12-10", "Lovelace"} {
		if bytes.Contains(all.Bytes(), []byte(v)) {
			t.Errorf("evidence carries the value %q", v)
		}
	}
}

func TestClassificationRules(t *testing.T) {
	tests := []struct {
		name     string
		set      ClassificationSettings
		ds       string
		want     string
		wantRule string
	}{
		{"defaults: card is restricted", ClassificationSettings{}, "customers", "restricted", "payment-card-or-national-id"},
		{"defaults: no personal data", ClassificationSettings{}, "sensors", "internal", ""},
		{"configured default", ClassificationSettings{Default: "public"}, "sensors", "public", ""},
		{"path rule", ClassificationSettings{Rules: []ClassRule{{Name: "open-data", Level: "public", Paths: []string{"sens*"}}}}, "sensors", "public", "open-data"},
		{"most sensitive wins over a path", ClassificationSettings{Rules: []ClassRule{
			{Name: "open-data", Level: "public", Paths: []string{"customers"}},
			{Name: "emails", Level: "confidential", PII: []string{"email"}},
		}}, "customers", "confidential", "emails"},
		{"finding rule", ClassificationSettings{Rules: []ClassRule{{Name: "broken", Level: "confidential", Findings: []string{"parquet.truncated"}}}}, "broken", "confidential", "broken"},
		{"pii and path must both hold", ClassificationSettings{Rules: []ClassRule{{Name: "x", Level: "restricted", PII: []string{"*"}, Paths: []string{"/nowhere/*"}}}}, "customers", "internal", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := formatsRoot(t, Settings{Classification: tt.set})
			a := got[tt.ds]
			if a.Classification != tt.want || a.ClassificationRule != tt.wantRule {
				t.Errorf("%s: %s by %q (%s), want %s by %q", tt.ds, a.Classification, a.ClassificationRule, a.ClassificationReason, tt.want, tt.wantRule)
			}
		})
	}
}

func TestSettingsErrors(t *testing.T) {
	tests := []struct{ raw, want string }{
		{`{"roots":["/x"],"classification":{"default":"secret"}}`, "classification.default"},
		{`{"roots":["/x"],"classification":{"rules":[{"level":"public"}]}}`, "classification.rules[0]: needs at least one condition"},
		{`{"roots":["/x"],"classification":{"rules":[{"level":"top","pii":["email"]}]}}`, "classification.rules[0].level"},
		{`{"roots":["/x"],"classification":{"rules":[{"level":"public","pii":["emails"]}]}}`, "classification.rules[0].pii[0]"},
		{`{"roots":["/x"],"classification":{"rules":[{"level":"public","paths":["rel/*"]}]}}`, "classification.rules[0].paths[0]"},
		{`{"roots":["/x"],"personal_data":{"max_bytes":-1}}`, "personal_data.max_bytes"},
		{`{"roots":["/x"],"personal_data":{"max_rows":2000000}}`, "personal_data.max_rows"},
		{`{"roots":["/x"],"personal_data":{"rows":10}}`, "rows"},
	}
	for _, tt := range tests {
		_, err := quiet().Configure(context.Background(), sdk.Config{Raw: []byte(tt.raw)})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.raw, err, tt.want)
		}
	}
}

func TestPersonalDataLimitsAndSwitch(t *testing.T) {
	root := t.TempDir()
	var csv strings.Builder
	csv.WriteString("email\n")
	for i := range 500 {
		csv.WriteString("user" + itoa(i) + "@example.com\n")
	}
	makeTree(t, root, []file{{path: "d/users.csv", body: csv.String()}})
	state := t.TempDir()
	a := byPath(t, root, collect(t, newPlugin(t, Settings{Roots: []string{root}, PersonalData: PersonalDataSettings{MaxRows: 100}}, state), sdk.Request{Full: true}))["d"]
	if a.PII["email"] != 100 || a.PIIRowsSampled != 100 || a.PIISampledFraction >= 0.3 {
		t.Errorf("max_rows 100: pii %v rows %d fraction %v", a.PII, a.PIIRowsSampled, a.PIISampledFraction)
	}
	// Changing the limits must not reuse samples cached under the old ones.
	a = byPath(t, root, collect(t, newPlugin(t, Settings{Roots: []string{root}, PersonalData: PersonalDataSettings{MaxRows: 200}}, state), sdk.Request{Full: true}))["d"]
	if a.PII["email"] != 200 {
		t.Errorf("max_rows 200 after 100: pii %v", a.PII)
	}
	off := false
	a = byPath(t, root, collect(t, newPlugin(t, Settings{Roots: []string{root}, PersonalData: PersonalDataSettings{Enabled: &off}}, state), sdk.Request{Full: true}))["d"]
	if len(a.PII) != 0 || a.PIIFilesSampled != 0 || a.Classification != "internal" {
		t.Errorf("disabled: pii %v files %d class %s", a.PII, a.PIIFilesSampled, a.Classification)
	}
}

// TestFactsCachedWithDigest: an unchanged rescan reads no file, yet
// reports the same personal data and Parquet facts from the cache.
func TestFactsCachedWithDigest(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	copyTree(t, filepath.Join("testdata", "formats", "root"), root)
	p := newPlugin(t, Settings{Roots: []string{root}}, t.TempDir())
	first := byPath(t, root, collect(t, p, sdk.Request{Full: true}))
	hashed := p.stats.filesHashed.Load()
	second := byPath(t, root, collect(t, p, sdk.Request{Full: true}))
	if p.stats.filesHashed.Load() != hashed {
		t.Errorf("unchanged rescan read %d files", p.stats.filesHashed.Load()-hashed)
	}
	for k, a := range first {
		b := second[k]
		if a.PII["credit_card"] != b.PII["credit_card"] || a.Rows != b.Rows || a.Classification != b.Classification ||
			len(a.Findings) != len(b.Findings) || a.EncryptedFiles != b.EncryptedFiles || a.PIISampledFraction != b.PIISampledFraction {
			t.Errorf("%s differs from the cache: %+v vs %+v", k, a, b)
		}
	}
}

func TestDatasheetFields(t *testing.T) {
	tests := []struct {
		name, card string
		missing    []string
	}{
		{"hugging face template, filled", "---\nlicense: cc-by-4.0\n---\n# X\n## Dataset Creation\n### Source Data\n#### Data Collection and Processing\nScraped from forums in 2025.\n## Uses\n### Direct Use\nSummarisation.\n## Personal and Sensitive Information\nUser names were removed.\n", []string{}},
		{"template left empty", "---\nlicense: mit\n---\n## Uses\n[More Information Needed]\n## Personal and Sensitive Information\n[More Information Needed]\n", []string{"source", "collection_process", "intended_use", "personal_data"}},
		{"datasheet for datasets", "# Datasheet\n## Motivation\nTo study X.\n## Collection Process\nSurveys.\n## Composition\nNo personal data: all records are synthetic.\n## Distribution\nLicensed under Apache-2.0. See the privacy statement below.\n### Privacy\nNo PII.\n", []string{"license", "source"}},
		{"headings inside code fences do not count", "---\nlicense: mit\n---\n```\n## Uses\nx\n```\n", []string{"source", "collection_process", "intended_use", "personal_data"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			name := "README.md"
			if strings.HasPrefix(tt.card, "# Datasheet") {
				name = "DATASHEET.md"
			}
			makeTree(t, root, []file{{path: "d/" + name, body: tt.card}, {path: "d/x.csv", body: "a,b\n1,2\n"}})
			a := byPath(t, root, collect(t, newPlugin(t, Settings{Roots: []string{root}}, ""), sdk.Request{Full: true}))["d"]
			if !a.HasDatasheet || !slices.Equal(a.DatasheetMissing, tt.missing) {
				t.Errorf("has_datasheet %v missing %v, want %v (present %v)", a.HasDatasheet, a.DatasheetMissing, tt.missing, a.DatasheetFields)
			}
		})
	}
}

// TestBadInputBecomesFindings: each kind of bad input is a finding on its
// dataset, and the other datasets of the scan are reported in full.
func TestBadInputBecomesFindings(t *testing.T) {
	root := t.TempDir()
	huge := "a,b\n" + strings.Repeat("x", 3<<20) + ",1\n"
	makeTree(t, root, []file{
		{path: "hugeline/data.csv", body: huge},
		{path: "latin1/names.csv", body: "name,email\nJos\xe9 Garc\xeda,jose@example.com\nAda Lovelace,ada@example.com\n"},
		{path: "locked/secret.csv", body: "email\na@example.com\n", mode: 0o000},
		{path: "fine/x.csv", body: "email\nb@example.com\n"},
	})
	writeFile(t, filepath.Join(root, "bomb", "bomb.tar.gz"), gzipBomb(t, 300<<20))
	a := byPath(t, root, collect(t, newPlugin(t, Settings{Roots: []string{root}}, t.TempDir()), sdk.Request{Full: true}))
	if !hasFinding(a["hugeline"], "csv.long_record") {
		t.Errorf("huge line: findings %v", a["hugeline"].Findings)
	}
	if l := a["latin1"]; !hasFinding(l, "content.invalid_utf8") || l.PII["email"] != 2 {
		t.Errorf("invalid UTF-8: findings %v pii %v", l.Findings, l.PII)
	}
	if os.Geteuid() != 0 {
		if l := a["locked"]; !hasFinding(l, "file.unreadable") || l.HashStatus != "partial" {
			t.Errorf("permission denied: findings %v hash %s", l.Findings, l.HashStatus)
		}
	}
	if b := a["bomb"]; !hasFinding(b, "tar.bomb") {
		t.Errorf("tar bomb: findings %v", b.Findings)
	}
	if f := a["fine"]; f.PII["email"] != 1 || len(f.Findings) != 0 {
		t.Errorf("the scan did not carry on: %+v", f)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// gzipBomb is a tar.gz holding one member of n zero bytes: a few hundred
// KiB that expand to n.
func gzipBomb(t *testing.T, n int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "zeros.bin", Mode: 0o644, Size: n, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for w := int64(0); w < n; w += int64(len(chunk)) {
		if _, err := tw.Write(chunk[:min(int64(len(chunk)), n-w)]); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// TestSampleConfigIsValid: the shipped sample passes the real settings
// check, shows every setting, and its classification rules are the
// defaults plus one.
func TestSampleConfigIsValid(t *testing.T) {
	raw := plugintest.SampleSettings(t, SampleConfig, "datasets", configSchema)
	p := quiet()
	if _, err := p.Configure(context.Background(), sdk.Config{Raw: raw}); err != nil {
		t.Fatalf("sample.yaml is refused: %v", err)
	}
	if got := p.set.Classification.Rules; len(got) != len(defaultRules)+1 || got[0].Name != defaultRules[0].Name || got[1].Name != defaultRules[1].Name {
		t.Errorf("sample rules %+v do not start with the defaults", got)
	}
}

// TestAttributesStayBounded: hostile names (long paths, many long
// columns, every column personal data) cannot push a record past the
// envelope's 256 KiB attribute limit.
func TestAttributesStayBounded(t *testing.T) {
	root := t.TempDir()
	deep := strings.Repeat("d", 200) + "/" + strings.Repeat("e", 200) + "/" + strings.Repeat("f", 200)
	var files []file
	for i := range 30 {
		var header, row []string
		for c := range 300 {
			header = append(header, fmt.Sprintf("email_%d_%s", c, strings.Repeat("x", 400)))
			row = append(row, fmt.Sprintf("u%d@example.com", c))
		}
		files = append(files, file{path: fmt.Sprintf("ds/%s/%03d-%s.csv", deep, i, strings.Repeat("n", 200)),
			body: strings.Join(header, ",") + "\n" + strings.Join(row, ",") + "\n"})
	}
	makeTree(t, root, files)
	p := newPlugin(t, Settings{Roots: []string{root}}, t.TempDir())
	recs := collect(t, p, sdk.Request{Full: true})
	// The facts of such files still fit the cache: a rescan reads nothing.
	hashed := p.stats.filesHashed.Load()
	collect(t, p, sdk.Request{Full: true})
	if p.stats.filesHashed.Load() != hashed || p.stats.cacheRejected.Load() != 0 {
		t.Errorf("rescan read %d files, %d caches rejected", p.stats.filesHashed.Load()-hashed, p.stats.cacheRejected.Load())
	}
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	b, err := json.Marshal(recs[0].Attributes)
	if err != nil {
		t.Fatal(err)
	}
	a := recs[0].Attributes.(Attributes)
	if len(b) > 128<<10 || len(a.PIIColumns["email"]) != maxPIIColumns || a.PII["email"] != 30*300 {
		t.Errorf("attributes of %d bytes, %d email columns, %d emails", len(b), len(a.PIIColumns["email"]), a.PII["email"])
	}
}

// TestParquetHostilePageHeader: a page header that claims a gigabyte is
// refused before the Parquet reader would allocate it.
func TestParquetHostilePageHeader(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "formats", "root", "customers", "customers.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	off := pf.Metadata().RowGroups[0].Columns[0].MetaData.DataPageOffset
	var proto thrift.CompactProtocol
	br := proto.NewReaderFromBytes(data[off:])
	var h format.PageHeader
	if err := thrift.NewDecoder(br).Decode(&h); err != nil {
		t.Fatal(err)
	}
	h.UncompressedPageSize = 1 << 30
	evil, err := thrift.Marshal(&proto, &h)
	if err != nil {
		t.Fatal(err)
	}
	hostile := slices.Concat(data[:off], evil, data[off+int64(br.BytesRead()):])
	p := quiet()
	fa := p.inspect(bytes.NewReader(hostile), int64(len(hostile)), "parquet", "evil.parquet", nil)
	if !slices.ContainsFunc(fa.Findings, func(f Finding) bool {
		return f.Rule == "parquet.not_sampled" && strings.Contains(f.Detail, "column id") && strings.Contains(f.Detail, "1073741824")
	}) {
		t.Errorf("hostile page header not refused: %+v", fa.Findings)
	}
}

// TestFactsEmptyCoversEveryField: a fact added later must not be dropped
// from the cache because empty() forgot it.
func TestFactsEmptyCoversEveryField(t *testing.T) {
	if !(&facts{}).empty() {
		t.Fatal("zero facts are not empty")
	}
	typ := reflect.TypeOf(facts{})
	for i := range typ.NumField() {
		var f facts
		v := reflect.ValueOf(&f).Elem().Field(i)
		switch v.Kind() {
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Int, reflect.Int64:
			v.SetInt(1)
		case reflect.String:
			v.SetString("x")
		case reflect.Slice:
			v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		case reflect.Pointer:
			v.Set(reflect.New(v.Type().Elem()))
		default:
			t.Fatalf("field %s of kind %s: extend this test", typ.Field(i).Name, v.Kind())
		}
		if f.empty() {
			t.Errorf("facts with only %s set count as empty", typ.Field(i).Name)
		}
	}
}

// TestDeclaredClassification: a card's declared level counts, but found
// personal data of a more sensitive level overrides it.
func TestDeclaredClassification(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root, []file{
		{path: "open/README.md", body: "---\nclassification: confidential\n---\n"},
		{path: "open/x.csv", body: "id,v\n1,2\n"},
		{path: "wrong/README.md", body: "---\nclassification: Public\n---\n"},
		{path: "wrong/x.csv", body: "id,ssn\n1,123-45-6789\n"},
	})
	got := byPath(t, root, collect(t, newPlugin(t, Settings{Roots: []string{root}}, ""), sdk.Request{Full: true}))
	if a := got["open"]; a.Classification != "confidential" || a.ClassificationRule != "datasheet" || a.ClassificationReason != "declared in README.md front matter" {
		t.Errorf("declared: %s by %q (%s)", a.Classification, a.ClassificationRule, a.ClassificationReason)
	}
	if a := got["wrong"]; a.Classification != "restricted" || a.ClassificationRule != "payment-card-or-national-id" {
		t.Errorf("declared public with an SSN: %s by %q", a.Classification, a.ClassificationRule)
	}
}
