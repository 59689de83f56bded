package policy

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/policy.md and docs/syscalls.md from the code")

// TestDocsCurrent fails when the committed reference documents differ from
// what the code generates.
func TestDocsCurrent(t *testing.T) {
	for _, doc := range []struct {
		file string
		gen  func() []byte
	}{
		{"policy.md", ReferenceMarkdown},
		{"syscalls.md", SyscallsMarkdown},
	} {
		path := filepath.Join("..", "docs", doc.file)
		want := doc.gen()
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v\nregenerate with: go test ./policy -run TestDocsCurrent -update", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("docs/%s is out of date\nregenerate with: go test ./policy -run TestDocsCurrent -update", doc.file)
		}
	}
}
