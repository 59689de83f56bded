// Package mantest checks generated manual pages in tests: that the
// committed copy is current, and that man(1) renders it without warnings.
package mantest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sockjail/sockjail/internal/testenv"
)

// CheckCurrent compares a generated page with the committed file at path,
// or rewrites the file when update is set; regen is the command that does
// that.
func CheckCurrent(t testing.TB, path string, want []byte, update bool, regen string) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v\nregenerate with: %s", err, regen)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date\nregenerate with: %s", path, regen)
	}
}

// CheckRenders renders page with man(1) and groff, warnings on, and fails
// on any warning.
func CheckRenders(t testing.TB, page []byte) {
	t.Helper()
	man := testenv.LookTool(t, "man")
	f := filepath.Join(t.TempDir(), "page")
	if err := os.WriteFile(f, page, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(man, "--warnings", "-E", "UTF-8", "-l", "-Tutf8", f)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MAN_KEEP_FORMATTING=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("man --warnings -l: %v\n%s", err, stderr.String())
	}
	// grotty marks bold by overstriking ("N\bN"); keep the last of each.
	plain := regexp.MustCompile(".\b").ReplaceAllString(string(out), "")
	if !strings.Contains(plain, "\nNAME\n") {
		t.Fatalf("the rendered page has no NAME section:\n%s", out)
	}
}
