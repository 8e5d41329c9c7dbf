package pii

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"testing"
)

// corpusSeeds are real rows of the labelled corpus, as CSV and JSON.
func corpusSeeds(f *testing.F) (csvRows, jsonRows [][]byte) {
	f.Helper()
	rows := corpus(corpusSeed, 8)
	var buf bytes.Buffer
	if err := writeCorpusCSV(csv.NewWriter(&buf), rows); err != nil {
		f.Fatal(err)
	}
	csvRows = append(csvRows, buf.Bytes())
	var jl bytes.Buffer
	for _, r := range rows {
		obj := map[string]string{}
		for i, c := range r {
			obj[corpusColumns[i]] = c.value
		}
		b, _ := json.Marshal(obj)
		jl.Write(b)
		jl.WriteByte('\n')
		jsonRows = append(jsonRows, b)
	}
	jsonRows = append(jsonRows, jl.Bytes())
	return csvRows, jsonRows
}

var fuzzLimits = Limits{MaxRows: 50, MaxBytes: 4096}

// checkReport holds for any input: bounded, no negative counts.
func checkReport(t *testing.T, r Report) {
	if r.Bytes > fuzzLimits.MaxBytes || r.Rows > fuzzLimits.MaxRows+1 {
		t.Errorf("sample beyond limits: %+v", r)
	}
	for e, n := range r.Counts {
		if n <= 0 {
			t.Errorf("%s count %d", e, n)
		}
	}
}

func FuzzDetect(f *testing.F) {
	for _, row := range corpus(corpusSeed, 4) {
		for i, c := range row {
			f.Add(corpusColumns[i], c.value)
		}
	}
	f.Fuzz(func(t *testing.T, column, value string) {
		for e, n := range Detect(column, value) {
			if n < 0 || n > len(value) {
				t.Errorf("%s: %d in %d bytes", e, n, len(value))
			}
		}
	})
}

func FuzzScanCSV(f *testing.F) {
	c, _ := corpusSeeds(f)
	for _, b := range c {
		f.Add(b)
	}
	f.Add([]byte("a\tb\n\"x\ty\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _ := ScanCSV(bytes.NewReader(b), ',', fuzzLimits)
		checkReport(t, r)
	})
}

func FuzzScanJSON(f *testing.F) {
	_, j := corpusSeeds(f)
	for _, b := range j {
		f.Add(b)
	}
	f.Add([]byte(`[{"a":{"b":[1,"x@example.com"]}}, 3, "s"]`))
	f.Add([]byte(`{"a":`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _ := ScanJSON(bytes.NewReader(b), fuzzLimits)
		checkReport(t, r)
	})
}

func FuzzScanText(f *testing.F) {
	c, _ := corpusSeeds(f)
	for _, b := range c {
		f.Add(b)
	}
	f.Add([]byte("\xff\xfe\x00bad\r\nok a@example.com"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _ := ScanText(bytes.NewReader(b), fuzzLimits)
		checkReport(t, r)
	})
}
