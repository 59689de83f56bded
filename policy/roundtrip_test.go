package policy

import (
	"bytes"
	"testing"
)

// TestDefaultRoundTrip checks that the default policy marshals to TOML that
// parses back to an equal policy, with the same hash.
func TestDefaultRoundTrip(t *testing.T) {
	p := Default()
	if p.Source != DefaultSource {
		t.Errorf("Source = %q, want %q", p.Source, DefaultSource)
	}
	data, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	q, err := Parse("shown.toml", data)
	if err != nil {
		t.Fatalf("parsing Marshal output: %v\n%s", err, data)
	}
	if !p.Equal(q) {
		t.Errorf("round trip changed the policy:\nbefore %+v\nafter  %+v", p, q)
	}
	if p.Hash() != q.Hash() {
		t.Errorf("hash changed: %s != %s", p.Hash(), q.Hash())
	}
}

// TestMarshalKeepImplicit: with KeepImplicit, the keys a file left to their
// host-dependent defaults are written as comments, so the file read back
// still leaves them implicit (an unprivileged run without a cgroup then
// logs what it skipped instead of refusing); written keys stay written.
func TestMarshalKeepImplicit(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		set       func(*Policy) // a change made by a caller, not the file
		want      SessionBounds
		proc      bool
	}{
		{"default", "version = 1\n", nil, SessionBounds{}, false},
		{"written", "version = 1\n[limits]\nmemory = \"256MiB\"\ntasks = 64\n[filesystem]\nproc = true\n", nil, SessionBounds{Memory: true, Tasks: true}, true},
		// Left implicit, proc would read back true: it is written.
		{"changed by a caller", "version = 1\n", func(p *Policy) { p.Filesystem.Proc = false }, SessionBounds{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse("in.toml", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if tc.set != nil {
				tc.set(p)
			}
			text, err := p.MarshalCommented(Comments{KeepImplicit: true})
			if err != nil {
				t.Fatal(err)
			}
			q, err := Parse("out.toml", text)
			if err != nil {
				t.Fatalf("%v\n%s", err, text)
			}
			if !q.Equal(p) {
				t.Errorf("read back differs:\n%s", text)
			}
			if q.Limits.Written != tc.want || q.Filesystem.ProcExplicit != tc.proc {
				t.Errorf("read back: written %+v, proc explicit %v; want %+v, %v\n%s", q.Limits.Written, q.Filesystem.ProcExplicit, tc.want, tc.proc, text)
			}
			if plain, _ := p.Marshal(); bytes.Contains(plain, []byte("left implicit")) {
				t.Errorf("Marshal comments out keys")
			}
		})
	}
}
