package policy

import (
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
