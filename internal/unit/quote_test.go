package unit

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/sockjail/sockjail/internal/testenv"
)

func TestExecLine(t *testing.T) {
	cases := []struct {
		argv []string
		want string
	}{
		{[]string{"/usr/bin/hello"}, "/usr/bin/hello"},
		{[]string{"/bin/x", "--a=b", "c,d:e", "f@g+h"}, "/bin/x --a=b c,d:e f@g+h"},
		{[]string{"/bin/x", "two words"}, `/bin/x "two words"`},
		{[]string{"/bin/x", ""}, `/bin/x ""`},
		{[]string{"/bin/x", ";"}, `/bin/x \;`},
		{[]string{"/bin/x", "a;b"}, `/bin/x "a;b"`},
		{[]string{"/bin/x", "100%"}, `/bin/x "100%%"`},
		{[]string{"/bin/x", "%i"}, `/bin/x "%%i"`},
		{[]string{"/bin/x", "$HOME", "${X}"}, `/bin/x "$$HOME" "$${X}"`},
		{[]string{"/bin/x", `say "hi"`}, `/bin/x "say \"hi\""`},
		{[]string{"/bin/x", `back\slash`}, `/bin/x "back\\slash"`},
		{[]string{"/bin/x", "it's"}, `/bin/x "it's"`},
		{[]string{"/bin/x", "a\nb\tc\x01"}, `/bin/x "a\nb\tc\x01"`},
		{[]string{"/opt/my dir/x"}, `"/opt/my dir/x"`},
		{[]string{"/bin/x", "héllo"}, `/bin/x "héllo"`},
	}
	for _, tc := range cases {
		if got := ExecLine(tc.argv); got != tc.want {
			t.Errorf("ExecLine(%q) = %s, want %s", tc.argv, got, tc.want)
		}
	}
}

// TestShellQuoteRoundTrip hands ShellQuote's output to a real bash and
// checks that bash splits it back into the same arguments.
func TestShellQuoteRoundTrip(t *testing.T) {
	bash := testenv.LookTool(t, "bash")
	argv := []string{"plain", "", "two words", "it's", `"dq"`, "$HOME", "`id`", "a\nb", "tab\there", `back\slash`, "*", "~", "100%", "é", ";", "&&", "x\x7fy", "'\\'"}
	script := `for a in "$@"; do printf '%s\0' "$a"; done`
	line := "set -- " + ShellQuote(argv) + "\n" + script
	out, err := exec.Command(bash, "-c", line).Output()
	if err != nil {
		t.Fatalf("bash: %v (line %q)", err, line)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if len(got) != len(argv) {
		t.Fatalf("bash split %q into %d args %q, want %d", line, len(got), got, len(argv))
	}
	for i := range argv {
		if got[i] != argv[i] {
			t.Errorf("arg %d: bash got %q, want %q", i, got[i], argv[i])
		}
	}
	if bytes.ContainsAny([]byte(ShellQuote(argv)), "\n\r") {
		t.Errorf("ShellQuote output spans lines: %q", ShellQuote(argv))
	}
}
