package runstart

import "testing"

func TestProcs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  string
		want int
	}{
		{"run", []string{"sockjail", "run", "--", "prog"}, "", 1},
		{"run with the operator's value", []string{"sockjail", "run", "--", "prog"}, "4", 0},
		{"serve", []string{"sockjail", "serve", "--listen", ":1"}, "", 0},
		{"run as an argument, not the subcommand", []string{"sockjail", "check", "run"}, "", 0},
		{"no subcommand", []string{"sockjail"}, "", 0},
		{"no arguments at all", nil, "", 0},
	} {
		if got := procs(tc.args, tc.env); got != tc.want {
			t.Errorf("%s: procs(%q, %q) = %d, want %d", tc.name, tc.args, tc.env, got, tc.want)
		}
	}
}
