// Command sockjail serves programs on TCP sockets, confined and with a
// correct flush-then-close.
//
// Each subcommand lives in its own file (run.go, serve.go, check.go, …) and
// registers itself in the commands table from an init function; main only
// picks one and hands it the remaining arguments. The logic lives in the
// importable packages policy, sandbox and internal/...; this package wires
// them together.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/sockjail/sockjail/internal/exitcode"
	// First of sockjail's own packages to initialize: the runtime's
	// start-up for `sockjail run`.
	_ "github.com/sockjail/sockjail/internal/runstart"
)

// command is one subcommand of sockjail.
type command struct {
	name    string
	summary string // one line for `sockjail --help`
	// run executes the subcommand with the arguments after its name and
	// returns the process exit code.
	run func(args []string) int
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("sockjail: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

func main() {
	os.Exit(dispatch(os.Args[1:]))
}

// dispatch runs the subcommand named by args[0] and returns the exit code.
func dispatch(args []string) int {
	// With no subcommand, or a request for help, print the overview.
	if len(args) == 0 {
		usage(os.Stderr)
		return exitcode.Usage
	}
	switch args[0] {
	case "--version":
		return runVersion(args[1:])
	case "-h", "--help", "help":
		// `sockjail help CMD` is `sockjail CMD --help`: one usage, on
		// stdout, from the command's own parser.
		if len(args) > 1 {
			c, ok := commands[args[1]]
			if !ok {
				return fail(exitcode.Usage, fmt.Errorf("unknown command %q", args[1]), "run 'sockjail --help' for the list of commands")
			}
			return c.run([]string{"--help"})
		}
		usage(os.Stdout)
		return exitcode.OK
	}

	// Otherwise hand the arguments to the subcommand.
	c, ok := commands[args[0]]
	if !ok {
		return fail(exitcode.Usage, fmt.Errorf("unknown command %q", args[0]), "run 'sockjail --help' for the list of commands")
	}
	return c.run(args[1:])
}

func usage(w io.Writer) {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("sockjail serves programs on TCP sockets, confined, with a correct flush-then-close.\n\nUsage:\n  sockjail COMMAND [ARGS...]\n\nCommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-8s %s\n", n, commands[n].summary)
	}
	b.WriteString("\nRun 'sockjail COMMAND --help' for a command's flags.\n")
	io.WriteString(w, b.String())
}
