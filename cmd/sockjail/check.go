package main

// `sockjail check`: validate policy files, for admins and for CI. The
// checking itself is policy.Load; this file only reports.

import (
	"fmt"
	"io"
	"os"

	"github.com/sockjail/sockjail/internal/exitcode"
	"github.com/sockjail/sockjail/internal/users"
	"github.com/sockjail/sockjail/policy"
)

func init() {
	register(command{
		name:    "check",
		summary: "check policy files; print each error as file:line:column: message",
		run:     runCheck,
	})
}

const checkDescription = `Checks each policy FILE ("-" reads stdin) the way 'sockjail run' and
'sockjail serve' would load it: TOML syntax, unknown keys, every value, and
contradictions between keys. Checks that depend on this machine (users,
groups, the uid range of user = "dynamic") are done against this machine.

Each problem is printed on stderr as

  FILE:LINE:COLUMN: message

Exit status: 0 when every file is valid, 1 when any is not (or can't be
read), 64 for a bad command line.`

func runCheck(args []string) int {
	c := newCLI("check", []string{"sockjail check [-v] FILE..."}, checkDescription)
	verbose := c.flags.Bool("v", false, "print \"FILE: ok\" on stdout for each valid file")
	files, _, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(files) == 0 {
		return c.usageError("no policy file given", "sockjail check /etc/sockjail/*.toml")
	}
	status := exitcode.OK
	for _, path := range files {
		// Each problem is a line of its own, FILE:LINE:COLUMN: message,
		// the format editors and CI read; not an error of the command.
		p, err := loadPolicyArg(path)
		if err == nil {
			err = p.CheckHost(users.Host{})
		}
		if err != nil {
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
