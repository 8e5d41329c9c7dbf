package models

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// sameAsSlow fails when the quick reader answered differently from
// encoding/json's reading of the same header.
func sameAsSlow(t *testing.T, hdr []byte) (answered bool) {
	t.Helper()
	entries, md, ok := quickSafetensorsHeader(hdr)
	if !ok {
		return false
	}
	want, wantMD, mdErr, err := slowSafetensorsHeader(hdr)
	if err != nil || mdErr != nil {
		t.Fatalf("quick reader answered for %q, which encoding/json refuses: %v %v", hdr, err, mdErr)
	}
	for _, e := range want {
		if e.bad {
			t.Fatalf("quick reader answered for %q, whose tensor %q encoding/json finds bad", hdr, e.name)
		}
	}
	if len(entries) == 0 && len(want) == 0 {
		entries, want = nil, nil
	}
	if !reflect.DeepEqual(entries, want) {
		t.Fatalf("header %q: quick %+v, encoding/json %+v", hdr, entries, want)
	}
	if len(md) != len(wantMD) || len(md) > 0 && !reflect.DeepEqual(md, wantMD) || (md == nil) != (wantMD == nil) {
		t.Fatalf("header %q: metadata quick %v, encoding/json %v", hdr, md, wantMD)
	}
	return true
}

func TestQuickSafetensorsHeader(t *testing.T) {
	answers := []string{
		`{"w":{"dtype":"U8","shape":[4096],"data_offsets":[0,4096]}}  `,
		`{"__metadata__":{"format":"pt","license":"mit"},"a.weight":{"shape":[2,3],"dtype":"F32","data_offsets":[0,24]},"a.bias":{"data_offsets":[24,36],"dtype":"F32","shape":[3]}}`,
		"{ \"s\" : { \"dtype\" : \"BF16\" , \"shape\" : [ ] , \"data_offsets\" : [ 0 , 2 ] } ,\n\"__metadata__\":{}}",
		`{}`,
		`{"big":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,18446744073709551615]}}`,
	}
	for _, h := range answers {
		if !sameAsSlow(t, []byte(h)) {
			t.Errorf("quick reader gave up on a plain header: %s", h)
		}
	}
	// Each of these is read differently by encoding/json than a naive
	// reader would (escapes, case-folded fields, duplicates keeping the
	// last, null, numbers): the quick reader must leave them to it.
	refuses := []string{
		`{"w\u0041":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`,
		`{"w":{"DTYPE":"U8","shape":[1],"data_offsets":[0,1]}}`,
		`{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
		`{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"dtype":"F32"}}`,
		`{"w":{"dtype":"U8","shape":null,"data_offsets":[0,1]}}`,
		`{"w":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}}`,
		`{"w":{"dtype":"U8","shape":[01],"data_offsets":[0,1]}}`,
		`{"w":{"dtype":"U8","shape":[18446744073709551616],"data_offsets":[0,1]}}`,
		`{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}`,
		`{"w":{"dtype":"U8","shape":[1]}}`,
		`{"__metadata__":{"a":"x","a":"y"}}`,
		`{"__metadata__":{"a":1}}`,
		"{\"w\xc3\xa9\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
		`{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}} x`,
		`{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},}`,
	}
	for _, h := range refuses {
		if _, _, ok := quickSafetensorsHeader([]byte(h)); ok {
			t.Errorf("quick reader answered for %s", h)
		}
	}
}

// FuzzQuickSafetensors holds the quick header reader to encoding/json's
// reading wherever it answers.
func FuzzQuickSafetensors(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "fixtures", "*.safetensors*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil && len(b) > 8 {
			if n := binary.LittleEndian.Uint64(b); n <= uint64(len(b)-8) {
				f.Add(b[8 : 8+n])
			}
		}
	}
	f.Add([]byte(`{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}`))
	f.Fuzz(func(t *testing.T, hdr []byte) {
		sameAsSlow(t, hdr)
	})
}
