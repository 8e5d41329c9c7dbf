package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
)

// writeJSON writes r as json.Encoder with SetIndent("", "  ") writes it,
// byte for byte, without holding the whole document twice in memory: the
// encoder marshals everything into one buffer and indents it into a
// second, which at 10,000 hosts (a 1.5 GB report) is gigabytes of heap
// and more time than the evaluation. The long lists (controls, hosts,
// assets) are marshalled one element at a time; the rest as one value
// with those lists left null, which marks where they go.
func writeJSON(w io.Writer, r *Report) error {
	cp := *r
	cp.Controls, cp.Hosts, cp.Assets = nil, nil, nil
	rest, err := json.MarshalIndent(&cp, "", "  ")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	for _, l := range []struct {
		key  string
		list any
	}{{"controls", r.Controls}, {"hosts", r.Hosts}, {"assets", r.Assets}} {
		mark := []byte("\n  \"" + l.key + "\": null")
		i := bytes.Index(rest, mark)
		if i < 0 {
			return fmt.Errorf("report: json: no %s in the report", l.key)
		}
		bw.Write(rest[:i+len(mark)-len("null")])
		if err := writeList(bw, reflect.ValueOf(l.list)); err != nil {
			return err
		}
		rest = rest[i+len(mark):]
	}
	bw.Write(rest)
	bw.WriteByte('\n')
	return bw.Flush()
}

// writeList writes a list of the report's top level as MarshalIndent would
// inside it: null for nil, [] when empty, else one element per line block.
func writeList(bw *bufio.Writer, list reflect.Value) error {
	switch {
	case list.IsNil():
		_, err := bw.WriteString("null")
		return err
	case list.Len() == 0:
		_, err := bw.WriteString("[]")
		return err
	}
	bw.WriteByte('[')
	for i := range list.Len() {
		if i > 0 {
			bw.WriteByte(',')
		}
		// By address, as the encoder reaches elements: a MarshalJSON on the
		// pointer is called the same.
		b, err := json.MarshalIndent(list.Index(i).Addr().Interface(), "    ", "  ")
		if err != nil {
			return err
		}
		bw.WriteString("\n    ")
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	_, err := bw.WriteString("\n  ]")
	return err
}
