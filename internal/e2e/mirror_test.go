package e2e

import "testing"

// TestMirrorParsing checks that the mirror debootstrap uses is read from
// both of apt's source formats, skipping other suites, deb-src and
// disabled entries.
func TestMirrorParsing(t *testing.T) {
	oneLine := []struct{ in, want string }{
		{"deb http://m.example/debian bookworm main\n", "http://m.example/debian"},
		{"# deb http://x/ bookworm main\ndeb-src http://s/ bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://m/ bookworm main contrib\n", "http://m/"},
		{"deb http://sec/ bookworm-security main\n", ""},
		{"deb [ trusted=yes ] http://m2/ bookworm main\n", "http://m2/"},
	}
	for _, tc := range oneLine {
		if got := oneLineMirror(tc.in); got != tc.want {
			t.Errorf("oneLineMirror(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	deb822 := []struct{ in, want string }{
		{"Types: deb\n# a comment\nURIs: http://m/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://sec/\nSuites: bookworm-security\n", "http://m/debian"},
		{"Types: deb-src\nURIs: http://src/\nSuites: bookworm\n\nTypes: deb deb-src\nURIs: http://both/\nSuites: bookworm\n", "http://both/"},
		{"Enabled: no\nTypes: deb\nURIs: http://off/\nSuites: bookworm\n", ""},
		{"Types: deb\nURIs: http://tr/\nSuites: trixie\n", ""},
	}
	for _, tc := range deb822 {
		if got := deb822Mirror(tc.in); got != tc.want {
			t.Errorf("deb822Mirror(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
