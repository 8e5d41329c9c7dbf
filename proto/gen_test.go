package proto

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Versions of the code generators; `make proto` installs the same ones.
const (
	protocGenGo     = "google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12"
	protocGenGoGRPC = "google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2"
)

var protoFiles = []string{"plugin/v1/plugin.proto", "ingest/v1/ingest.proto"}

// TestGeneratedCodeIsCurrent regenerates the Go code into a scratch folder
// and compares it with what is committed.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		t.Fatal("protoc is not installed; install Debian's protobuf-compiler (make test does this via .ci/run) to check the generated code")
	}
	tools, err := filepath.Abs("../tools/bin")
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{protocGenGo, protocGenGoGRPC} {
		name := filepath.Base(strings.Split(pkg, "@")[0])
		if _, err := os.Stat(filepath.Join(tools, name)); err == nil {
			continue
		}
		cmd := exec.Command("go", "install", pkg)
		cmd.Env = append(os.Environ(), "GOBIN="+tools)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("install %s: %v\n%s", pkg, err, out)
		}
	}
	out := t.TempDir()
	args := []string{"-I", ".", "--go_out=" + out, "--go_opt=paths=source_relative",
		"--go-grpc_out=" + out, "--go-grpc_opt=paths=source_relative"}
	cmd := exec.Command(protoc, append(args, protoFiles...)...)
	cmd.Env = append(os.Environ(), "PATH="+tools+string(os.PathListSeparator)+os.Getenv("PATH"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, b)
	}
	err = filepath.Walk(out, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, path)
		want, _ := os.ReadFile(path)
		got, rerr := os.ReadFile(rel)
		if rerr != nil {
			t.Errorf("%s is not committed; run make proto", rel)
			return nil
		}
		if !bytes.Equal(normalise(got), normalise(want)) {
			t.Errorf("%s is stale; run make proto and commit the result", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// normalise drops the protoc version line, which differs between machines
// without changing the code.
func normalise(b []byte) []byte {
	var keep [][]byte
	for _, line := range bytes.Split(b, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("// \tprotoc ")) || bytes.HasPrefix(line, []byte("// - protoc ")) {
			continue
		}
		keep = append(keep, line)
	}
	return bytes.Join(keep, []byte("\n"))
}
