package policy

import "testing"

// The hand-written validators replaced regular expressions (whose
// compilation was a tenth of a millisecond of every run's start); these
// cases pin the shapes the expressions accepted.
func TestValueShapes(t *testing.T) {
	sizes := []struct {
		in           string
		digits, unit string
		ok           bool
	}{
		{"64MiB", "64", "MiB", true},
		{"64 MiB", "64", "MiB", true},
		{"0", "0", "", true},
		{"12B", "12", "B", true},
		{"64  MiB", "", "", false},
		{" 64MiB", "", "", false},
		{"MiB", "", "", false},
		{"1.5GiB", "", "", false},
		{"4G B", "", "", false},
		{"-1", "", "", false},
		{"", "", "", false},
		{"64MiB ", "", "", false},
		{"64Mi1B", "", "", false},
	}
	for _, c := range sizes {
		d, u, ok := splitSize(c.in)
		if d != c.digits || u != c.unit || ok != c.ok {
			t.Errorf("splitSize(%q) = %q, %q, %v; want %q, %q, %v", c.in, d, u, ok, c.digits, c.unit, c.ok)
		}
	}

	envNames := map[string]bool{
		"LANG": true, "_": true, "a1_B2": true, "_9": true,
		"": false, "9A": false, "A-B": false, "A B": false, "Ä": false, "A=B": false,
	}
	for in, want := range envNames {
		if got := validEnvName(in); got != want {
			t.Errorf("validEnvName(%q) = %v, want %v", in, got, want)
		}
	}

	long := "x"
	for len(long) < 64 {
		long += "y"
	}
	terms := map[string]bool{
		"xterm-256color": true, "vt100": true, "screen.linux": true, "a+b_c": true, "9": true, long: true,
		"": false, "-x": false, ".x": false, "x y": false, "x/y": false, long + "z": false, "é": false,
	}
	for in, want := range terms {
		if got := validTerm(in); got != want {
			t.Errorf("validTerm(%q) = %v, want %v", in, got, want)
		}
	}
}
