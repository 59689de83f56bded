package buildflags

import (
	"os"
	"strings"
	"testing"
)

// TestMakefileAgrees checks that `make build` builds with Tags and LinkerFlags.
func TestMakefileAgrees(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"GO_TAGS := " + Tags + "\n",
		"GO_LDFLAGS := " + LinkerFlags + "\n",
		"GO_BUILD_FLAGS := -tags=$(GO_TAGS) -ldflags=$(GO_LDFLAGS)\n",
	} {
		if !strings.Contains(string(mk), want) {
			t.Errorf("the Makefile does not define %q", strings.TrimSpace(want))
		}
	}
}
