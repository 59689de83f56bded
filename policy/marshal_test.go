package policy

import (
	"bytes"
	"strings"
	"testing"
)

// TestMarshalCommented checks that comments land above their keys and list
// elements, that no comment text can change what the file says, and that
// the file parses back to the same policy.
func TestMarshalCommented(t *testing.T) {
	p := Default()
	p.Filesystem.ReadOnly = []Path{{Name: "/srv/a"}, {Name: "/srv/b", Optional: true}}
	p.Network.BindTCP = []PortRange{{8080, 8080}, {9000, 9010}}
	tests := []struct {
		name     string
		comments Comments
		want     []string // substrings of the output, in order
		notWant  []string
	}{
		{
			name: "header, table, key and element comments",
			comments: Comments{
				Header: []string{"learned", "", "from 2 sessions"},
				Keys: map[string][]string{
					"filesystem":              {"kept from the base"},
					"filesystem.read_only":    {"what was read"},
					"filesystem.read_only[1]": {"read 3 files, e.g. /srv/b/x"},
					"network.bind_tcp[0]":     {"bound 2 times"},
					"version":                 {"top-level key"},
				},
			},
			want: []string{
				"# learned\n#\n# from 2 sessions\n",
				"# top-level key\nversion = 1\n",
				"\n# kept from the base\n[filesystem]\n",
				"# what was read\nread_only = [\n  \"/srv/a\",\n  # read 3 files, e.g. /srv/b/x\n  \"-/srv/b\",\n]\n",
				"bind_tcp = [\n  # bound 2 times\n  8080,\n  \"9000-9010\",\n]\n",
			},
			notWant: []string{"read_write = [\n"},
		},
		{
			name: "a line break or control character can't end the comment",
			comments: Comments{
				Header: []string{"two\nlines", "bell\a and \r return\x7f"},
				Keys:   map[string][]string{"filesystem.read_only[0]": {"evil\nread_only = [\"/\"]"}},
			},
			want: []string{
				"# two\n# lines\n# bell\\x07 and \\x0d return\\x7f\n",
				"  # evil\n  # read_only = [\"/\"]\n  \"/srv/a\",\n",
			},
		},
		{
			name:     "invalid UTF-8 in a comment",
			comments: Comments{Header: []string{"bad \xff byte"}},
			want:     []string{"# bad \uFFFD byte\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := p.MarshalCommented(tt.comments)
			if err != nil {
				t.Fatal(err)
			}
			text := string(data)
			rest := text
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks (or has out of order) %q:\n%s", w, text)
				}
				rest = rest[i+len(w):]
			}
			for _, w := range tt.notWant {
				if strings.Contains(text, w) {
					t.Errorf("output has %q:\n%s", w, text)
				}
			}
			q, err := Parse("commented.toml", data)
			if err != nil {
				t.Fatalf("parsing the commented file: %v\n%s", err, text)
			}
			if !p.Equal(q) {
				t.Errorf("the commented file parses to another policy:\n%s", text)
			}
		})
	}
}

// TestMarshalCommentedNoComments checks that without comments the output is
// Marshal's, byte for byte, so that Hash is unchanged.
func TestMarshalCommentedNoComments(t *testing.T) {
	p := Default()
	a, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.MarshalCommented(Comments{Keys: map[string][]string{}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("MarshalCommented without comments differs from Marshal:\n%s\n---\n%s", a, b)
	}
}

// TestMarshalCommentedBadPaths checks that a comment that would be lost is
// an error.
func TestMarshalCommentedBadPaths(t *testing.T) {
	p := Default() // read_only has 6 elements
	for _, path := range []string{"", "nosuch", "filesystem.nosuch", "filesystem.read_only[6]", "filesystem.read_only[-1]", "enforce[0]", "program.env[0]"} {
		_, err := p.MarshalCommented(Comments{Keys: map[string][]string{path: {"x"}}})
		if err == nil {
			t.Errorf("comment for %q: no error", path)
		}
	}
}

// TestListKeysHaveElements checks that every key written as a list can take
// element comments.
func TestListKeysHaveElements(t *testing.T) {
	p := Default()
	for _, k := range keys {
		if strings.HasPrefix(k.format(p), "[") && k.elems == nil {
			t.Errorf("%s is a list without elems", k.path)
		}
		if k.elems != nil && k.format(p) != formatList(k.elems(p)) {
			t.Errorf("%s: format and elems disagree", k.path)
		}
	}
}

// FuzzMarshalCommented checks that no comment text can change what a
// policy file says: whatever the comments, the file parses back to the
// same policy. The seed corpus is in testdata/fuzz/FuzzMarshalCommented.
func FuzzMarshalCommented(f *testing.F) {
	f.Add("learned\nfrom 2 sessions", "read 3 files\n\"/\"]\nread_write = [\"/\"", "\x00\r\x1b[2J\x7f\xff")
	f.Fuzz(func(t *testing.T, header, keyComment, elemComment string) {
		p := Default()
		data, err := p.MarshalCommented(Comments{
			Header: []string{header},
			Keys: map[string][]string{
				"filesystem.read_only":    {keyComment},
				"filesystem.read_only[0]": {elemComment},
				"syscalls":                {header, elemComment},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		q, err := Parse("commented.toml", data)
		if err != nil {
			t.Fatalf("the commented file doesn't parse: %v\n%s", err, data)
		}
		if !p.Equal(q) {
			t.Fatalf("the comments changed the policy:\n%s", data)
		}
	})
}
