// Command gen writes the format fixtures of the datasets plugin's tests
// with the real libraries: Parquet with parquet-go (plain, two row
// groups, encrypted footer, and a truncated copy), Arrow IPC stream and
// file with arrow-go, npy in NumPy's documented v1.0 layout, and a
// WebDataset shard with archive/tar. It is its own module so the Arrow
// library stays out of the plugin's dependencies.
//
//	cd plugins/datasets/testdata/gen && go run . ../formats/root
//
// Output is deterministic (fixed data, fixed encryption file id and
// nonce-free layout aside); the files are small and committed.
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/parquet-go/parquet-go"
)

// Customer rows carry planted personal data: valid Luhn card numbers,
// e-mail addresses and names.
type Customer struct {
	ID        int64  `parquet:"id"`
	FirstName string `parquet:"first_name"`
	Email     string `parquet:"email"`
	Card      string `parquet:"card"`
	Country   string `parquet:"country"`
}

var cards = []string{"4111111111111111", "5500005555555559", "4012888888881881", "378282246310005"}

func customers(n int) []Customer {
	first := []string{"Ada", "Grace", "Alan", "Edsger", "Barbara"}
	out := make([]Customer, n)
	for i := range out {
		out[i] = Customer{
			ID: int64(i + 1), FirstName: first[i%len(first)],
			Email: fmt.Sprintf("%s.%d@example.com", strings.ToLower(first[i%len(first)]), i),
			Card:  cards[i%len(cards)], Country: []string{"DE", "FR", "GB"}[i%3],
		}
	}
	return out
}

// Reading rows are measurements with no personal data.
type Reading struct {
	Sensor string  `parquet:"sensor"`
	Value  float64 `parquet:"value"`
	Step   int32   `parquet:"step"`
}

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: gen OUTDIR")
	}
	out := os.Args[1]
	must := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	write := func(rel string, b []byte) {
		p := filepath.Join(out, rel)
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		must(os.WriteFile(p, b, 0o644))
	}

	// Parquet with personal data, two row groups.
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[Customer](&buf, parquet.MaxRowsPerRowGroup(60), parquet.CreatedBy("annexa-gen", "1", ""))
	_, err := w.Write(customers(100))
	must(err)
	must(w.Close())
	people := buf.Bytes()
	write("customers/customers.parquet", people)

	// The same file cut short, as a copy interrupted mid-way leaves it.
	write("broken/customers.parquet", people[:len(people)/2])

	// Parquet without personal data.
	buf.Reset()
	rw := parquet.NewGenericWriter[Reading](&buf)
	var rs []Reading
	for i := range 50 {
		rs = append(rs, Reading{Sensor: fmt.Sprintf("s%02d", i%4), Value: float64(i) * 0.5, Step: int32(i)})
	}
	_, err = rw.Write(rs)
	must(err)
	must(rw.Close())
	write("sensors/readings.parquet", buf.Bytes())

	// Encrypted footer ("PARE"), with a fixed key and file id so reruns
	// change only the random nonces.
	buf.Reset()
	ew := parquet.NewGenericWriter[Customer](&buf, parquet.WithEncryption(&parquet.EncryptionConfig{
		FooterKey: []byte("0123456789abcdef"), EncryptedFooter: true, FileIdentifier: []byte("annexa01"),
	}))
	_, err = ew.Write(customers(10))
	must(err)
	must(ew.Close())
	write("vault/customers.parquet", buf.Bytes())

	// Arrow: a Hugging Face save_to_disk split (IPC stream, two batches)
	// and an IPC file.
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "question", Type: arrow.BinaryTypes.String},
		{Name: "answer", Type: arrow.BinaryTypes.String},
		{Name: "label", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	batch := func(from, n int) arrow.RecordBatch {
		b := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
		defer b.Release()
		for i := from; i < from+n; i++ {
			b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("What is %d + %d?", i, i))
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprint(2 * i))
			b.Field(2).(*array.Int64Builder).Append(int64(i % 2))
		}
		return b.NewRecordBatch()
	}
	buf.Reset()
	sw := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	for _, r := range []arrow.RecordBatch{batch(0, 30), batch(30, 12)} {
		must(sw.Write(r))
		r.Release()
	}
	must(sw.Close())
	write("qa/train/data-00000-of-00001.arrow", buf.Bytes())
	write("qa/train/state.json", []byte(`{"_data_files":[{"filename":"data-00000-of-00001.arrow"}],"_fingerprint":"0000000000000000","_format_type":null,"_split":"train"}`+"\n"))
	write("qa/train/dataset_info.json", []byte(`{"dataset_name":"acme/arith-qa","description":"Arithmetic questions.","citation":"","homepage":"https://example.org/arith-qa","license":"cc-by-4.0",`+
		`"features":{"question":{"dtype":"string","_type":"Value"},"answer":{"dtype":"string","_type":"Value"},"label":{"dtype":"int64","_type":"Value"}},`+
		`"splits":{"train":{"name":"train","num_bytes":2048,"num_examples":42,"dataset_name":"arith-qa"}}}`+"\n"))

	buf.Reset()
	fw, err := ipc.NewFileWriter(&buf, ipc.WithSchema(schema))
	must(err)
	r := batch(100, 7)
	must(fw.Write(r))
	r.Release()
	must(fw.Close())
	write("tables/table.arrow", buf.Bytes())

	// npy v1.0: magic, version, little-endian header length, a Python
	// dict literal padded with spaces to a multiple of 64, then data.
	header := "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }"
	pad := 64 - (10+len(header)+1)%64
	header += strings.Repeat(" ", pad) + "\n"
	buf.Reset()
	buf.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&buf, binary.LittleEndian, uint16(len(header)))
	buf.WriteString(header)
	for i := range 12 {
		binary.Write(&buf, binary.LittleEndian, float32(i))
	}
	npy := bytes.Clone(buf.Bytes())
	write("tables/features.npy", npy)

	// npz: a zip of npy members, as numpy.savez writes it (stored).
	buf.Reset()
	zw := zip.NewWriter(&buf)
	for _, name := range []string{"x.npy", "y.npy"} {
		zf, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
		must(err)
		_, err = zf.Write(npy)
		must(err)
	}
	must(zw.Close())
	write("tables/arrays.npz", buf.Bytes())

	// TFRecord framing (tensorflow/core/lib/io/record_writer.cc): length
	// as uint64 LE, masked CRC-32C of the length, data, masked CRC-32C of
	// the data. The payloads are opaque bytes here.
	buf.Reset()
	for i := range 5 {
		data := []byte(fmt.Sprintf("example-%d", i))
		var l [8]byte
		binary.LittleEndian.PutUint64(l[:], uint64(len(data)))
		buf.Write(l[:])
		binary.Write(&buf, binary.LittleEndian, maskedCRC(l[:]))
		buf.Write(data)
		binary.Write(&buf, binary.LittleEndian, maskedCRC(data))
	}
	write("records/train.tfrecord", buf.Bytes())

	// A WebDataset shard: samples keyed by name, one member per field.
	buf.Reset()
	tw := tar.NewWriter(&buf)
	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		key := fmt.Sprintf("%06d", i)
		for _, m := range []struct{ ext, body string }{
			{"jpg", "\xff\xd8\xff\xe0 not a full jpeg"}, {"cls", fmt.Sprint(i % 2)}, {"json", fmt.Sprintf(`{"caption":"sample %d"}`, i)},
		} {
			must(tw.WriteHeader(&tar.Header{Name: key + "." + m.ext, Mode: 0o644, Size: int64(len(m.body)), ModTime: mod, Typeflag: tar.TypeReg, Format: tar.FormatPAX}))
			_, err := tw.Write([]byte(m.body))
			must(err)
		}
	}
	must(tw.Close())
	write("shards/shard-000000.tar", buf.Bytes())
}

func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
	return (c>>15 | c<<17) + 0xa282ead8
}
