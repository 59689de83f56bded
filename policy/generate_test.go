package policy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sockjail/sockjail/internal/testenv"
)

// TestGeneratedSyscallsCurrent runs the generator and compares its output
// with the committed zsyscalls_amd64.go, so that an x/sys upgrade (new
// syscalls) or an edit of the groups can't go unnoticed.
func TestGeneratedSyscallsCurrent(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		testenv.SkipOrFail(t, "the go command is not in PATH")
	}
	out := filepath.Join(t.TempDir(), "zsyscalls_amd64.go")
	cmd := exec.Command(gobin, "run", "./internal/gen", "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./internal/gen: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("zsyscalls_amd64.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("zsyscalls_amd64.go is out of date: run 'go generate ./policy' and then 'go test ./policy -run TestDocsCurrent -update'")
	}
}
