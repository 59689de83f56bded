package manpage

import (
	"flag"
	"path/filepath"
	"testing"

	"github.com/sockjail/sockjail/internal/manpage/mantest"
)

var update = flag.Bool("update", false, "rewrite docs/man/sockjail.toml.5 from the code")

// TestPolicyPageCurrent fails when the committed sockjail.toml(5) differs
// from what the policy reference generates.
func TestPolicyPageCurrent(t *testing.T) {
	mantest.CheckCurrent(t, filepath.Join("..", "..", "docs", "man", "sockjail.toml.5"), PolicyPage(), *update,
		"go test ./internal/manpage -run TestPolicyPageCurrent -update")
}

func TestPolicyPageRenders(t *testing.T) {
	mantest.CheckRenders(t, PolicyPage())
}

func TestText(t *testing.T) {
	for _, tc := range []struct{ md, want string }{
		{"one\ntwo", ".PP\none two\n"},
		{"a `--flag` b", ".PP\na \\fB\\-\\-flag\\fR b\n"},
		{"- x\n  y\n- z", ".IP \\(bu 2\nx y\n.IP \\(bu 2\nz\n"},
		{".dot first", ".PP\n\\&.dot first\n"},
		{`back\slash`, ".PP\nback\\eslash\n"},
		{"odd ` tick", ".PP\nodd ` tick\n"},
		{"p1\n\np2", ".PP\np1\n.PP\np2\n"},
		{"  $ cmd -x\n  out", ".PP\n.RS 4\n.nf\n$ cmd \\-x\nout\n.fi\n.RE\n"},
		{"Codes:\n  1 one\n  2 two", ".PP\nCodes:\n.PP\n.RS 4\n.nf\n1 one\n2 two\n.fi\n.RE\n"},
		{"show   Prints\n       more\nlist   Lists", ".TP\n\\fBshow\\fR\nPrints more\n.TP\n\\fBlist\\fR\nLists\n"},
	} {
		p := &Page{}
		p.Text(tc.md)
		if got := p.b.String(); got != tc.want {
			t.Errorf("Text(%q) = %q, want %q", tc.md, got, tc.want)
		}
	}
}
