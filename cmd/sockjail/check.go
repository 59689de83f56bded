package main

// `sockjail check`: validate policy files, for admins and for CI. The
// checking itself is policy.Load; this file only reports.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/sockjail/sockjail/internal/exitcode"
	"github.com/sockjail/sockjail/policy"
)

func init() {
	register(command{
		name:    "check",
		summary: "check policy files; print each error as file:line:column: message",
		run:     runCheck,
	})
}

const checkUsage = `Usage:
  sockjail check [-v] FILE...

Checks each policy FILE ("-" reads stdin) the way 'sockjail run' and
'sockjail serve' would load it: TOML syntax, unknown keys, every value, and
contradictions between keys. Checks that depend on this machine (users,
groups, the uid range of user = "dynamic") are done against this machine.

Each problem is printed on stderr as

  FILE:LINE:COLUMN: message

Exit status: 0 when every file is valid, 1 when any is not (or can't be
read), 64 for a bad command line.

Flags:
`

func runCheck(args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	verbose := fs.Bool("v", false, "print \"FILE: ok\" on stdout for each valid file")
	// The flag package prints a parse error itself; the hint follows it.
	// Usage is silent, since it is also called for -help.
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			io.WriteString(os.Stdout, checkUsage)
			fs.SetOutput(os.Stdout)
			fs.PrintDefaults()
			return exitcode.OK
		}
		fmt.Fprintln(os.Stderr, "sockjail check: hint: run 'sockjail check --help' for the flags")
		return exitcode.Usage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "sockjail check: no policy file given\nsockjail check: hint: sockjail check /etc/sockjail/*.toml")
		return exitcode.Usage
	}
	status := exitcode.OK
	for _, path := range fs.Args() {
		if _, err := loadPolicyArg(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			status = exitcode.Invalid
			continue
		}
		if *verbose {
			fmt.Printf("%s: ok\n", path)
		}
	}
	return status
}

// loadPolicyArg loads a policy named on the command line; "-" is stdin,
// named "(stdin)" in errors.
func loadPolicyArg(path string) (*policy.Policy, error) {
	if path != "-" {
		return policy.Load(path)
	}
	data, err := io.ReadAll(io.LimitReader(os.Stdin, policy.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("(stdin): can't read policy: %w", err)
	}
	return policy.Parse("(stdin)", data)
}
