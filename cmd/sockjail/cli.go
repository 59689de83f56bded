package main

// What every subcommand shares on the command line: one parser for flags,
// help and the program after "--", and one way to report an error.
//
//   - -h, --help and `sockjail help CMD` print the command's usage on
//     stdout and exit 0;
//   - a usage error prints the usage on stderr, then the error, and exits
//     64;
//   - every other error is "sockjail: error: MESSAGE", with any hints as
//     "sockjail: hint: HINT" lines after it.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/sockjail/sockjail/internal/exitcode"
)

// cli is one subcommand's command line.
type cli struct {
	flags *flag.FlagSet
	// synopsis holds the lines after "Usage:", without indentation.
	synopsis []string
	// description follows the synopsis in the help: what the command
	// does, its exit status.
	description string
	// program is set for commands that take "-- PROGRAM [ARGS...]".
	program bool
}

// newCLI returns the command line of the subcommand name ("run",
// "policy show"). Its flags are added to c.flags before c.parse.
func newCLI(name string, synopsis []string, description string) *cli {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// The flag package would print its errors and the usage itself, to
	// stderr even for -h; parse does both, each where it belongs.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &cli{flags: fs, synopsis: synopsis, description: description}
}

// withProgram makes the command take "-- PROGRAM [ARGS...]".
func (c *cli) withProgram() *cli {
	c.program = true
	return c
}

// name is the subcommand's name, as in "sockjail NAME".
func (c *cli) name() string { return c.flags.Name() }

// usage writes the command's help to w.
func (c *cli) usage(w io.Writer) {
	var b strings.Builder
	b.WriteString("Usage:\n")
	for _, l := range c.synopsis {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	if d := strings.TrimSpace(c.description); d != "" {
		fmt.Fprintf(&b, "\n%s\n", d)
	}
	hasFlags := false
	c.flags.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		b.WriteString("\nFlags:\n")
		c.flags.SetOutput(&b)
		c.flags.PrintDefaults()
		c.flags.SetOutput(io.Discard)
	}
	io.WriteString(w, b.String())
}

// parse parses args: the flags, then the operands; for a command that
// takes a program, everything after the first "--" is the program and its
// arguments, and there must be one. ok is false when the command is done:
// help was printed (code 0) or a usage error (code 64).
func (c *cli) parse(args []string) (operands, program []string, code int, ok bool) {
	flagArgs := args
	dash := slices.Index(args, "--")
	if c.program && dash >= 0 {
		flagArgs, program = args[:dash], args[dash+1:]
	}
	if err := c.flags.Parse(flagArgs); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.usage(os.Stdout)
			return nil, nil, exitcode.OK, false
		}
		return nil, nil, c.usageError(err.Error()), false
	}
	operands = c.flags.Args()
	if c.program {
		synopsis := c.synopsis[0]
		switch {
		case len(operands) > 0:
			return nil, nil, c.usageError(fmt.Sprintf("unexpected argument %q before \"--\"", operands[0]),
				"put the program after \"--\": "+synopsis), false
		case len(program) == 0:
			return nil, nil, c.usageError("no program given", synopsis), false
		}
	}
	return operands, program, exitcode.OK, true
}

// usageError prints the usage, then msg and the hints, on stderr and
// returns the usage error's exit code.
func (c *cli) usageError(msg string, hints ...string) int {
	c.usage(os.Stderr)
	io.WriteString(os.Stderr, "\n")
	return fail(exitcode.Usage, errors.New(msg), hints...)
}

// fail prints err as "sockjail: error: …" and each hint as
// "sockjail: hint: …" on stderr, and returns code. Errors from the
// packages carry their context but not the program's name; this is the
// one place that adds it.
func fail(code int, err error, hints ...string) int {
	var b strings.Builder
	fmt.Fprintf(&b, "sockjail: error: %v\n", err)
	writeHints(&b, hints)
	io.WriteString(os.Stderr, b.String())
	return code
}

// hint prints "sockjail: hint: …" lines on stderr, for a next step after
// a success (systemctl daemon-reload after writing units).
func hint(hints ...string) {
	var b strings.Builder
	writeHints(&b, hints)
	io.WriteString(os.Stderr, b.String())
}

func writeHints(b *strings.Builder, hints []string) {
	for _, h := range hints {
		fmt.Fprintf(b, "sockjail: hint: %s\n", h)
	}
}

// stringList is a repeatable string flag (--listen A --listen B).
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }
