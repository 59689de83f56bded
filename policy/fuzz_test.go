package policy

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics, and that whatever it accepts
// marshals to a file it accepts again as an equal policy: the effective
// policy `sockjail policy show` prints is never rejected by `check`, and
// never means something else. The seed corpus is in
// testdata/fuzz/FuzzParse; the example policies are added at run time.
func FuzzParse(f *testing.F) {
	f.Add(defaultTOML)
	examples, _ := filepath.Glob("../testdata/policies/*.toml")
	for _, path := range examples {
		if data, err := os.ReadFile(path); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.toml", data)
		if err != nil {
			if p != nil {
				t.Fatalf("Parse returned a policy and an error")
			}
			if _, ok := err.(ErrorList); !ok {
				t.Fatalf("error is %T, not ErrorList", err)
			}
			return
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		q, err := Parse("fuzz.toml", out)
		if err != nil {
			t.Fatalf("Parse rejects its own Marshal output: %v\ninput:\n%q\noutput:\n%s", err, data, out)
		}
		if !p.Equal(q) {
			t.Fatalf("round trip changed the policy\ninput:\n%q\nfirst:  %+v\nsecond: %+v", data, p, q)
		}
		if p.Hash() != q.Hash() {
			t.Fatalf("round trip changed the hash")
		}
		if _, err := p.Syscalls.Resolve(); err != nil {
			t.Fatalf("Resolve fails on a parsed policy: %v", err)
		}
	})
}
