package buildflags

import (
	"os"
	"strings"
	"testing"
)

// TestMakefileAgrees checks that `make build` passes Release.
func TestMakefileAgrees(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	want := "GO_BUILD_FLAGS := " + strings.Join(Release, " ") + "\n"
	if !strings.Contains(string(mk), want) {
		t.Errorf("the Makefile does not define %q", strings.TrimSpace(want))
	}
}
