package main

// `sockjail policy show|syscalls|reference`: print the effective policy,
// the syscall groups and the policy reference. The text comes from package
// policy, which also generates docs/policy.md and docs/syscalls.md, so the
// command and the documents always agree.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sockjail/sockjail/internal/exitcode"
	"github.com/sockjail/sockjail/policy"
)

func init() {
	register(command{
		name:    "policy",
		summary: "print the effective policy (show), the syscall groups (syscalls) or the key reference (reference)",
		run:     runPolicy,
	})
}

const policyUsage = `Usage:
  sockjail policy show [FILE]
  sockjail policy syscalls [--markdown] [@GROUP]
  sockjail policy reference

show       Prints the effective policy of FILE ("-" reads stdin) as TOML:
           every key, with the defaults filled in. Without FILE it prints the
           embedded default policy, the one 'sockjail run' uses without
           --policy. The output is itself a valid policy file: a good start
           for writing one. The first lines name the source and the
           policy's SHA-256 (equal for equal policies).
syscalls   Lists the syscall groups a policy's [syscalls] allow and deny can
           name, with what each is for. With @GROUP, prints the group's
           syscalls one per line, included groups expanded. --markdown
           prints the table of every group, as in docs/syscalls.md.
reference  Prints the reference of every key, as in docs/policy.md.

Exit status: 0 on success, 1 when FILE is invalid (errors as
FILE:LINE:COLUMN: message on stderr), 64 for a bad command line.
`

func runPolicy(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "sockjail policy: missing subcommand\nsockjail policy: hint: run 'sockjail policy --help'")
		return exitcode.Usage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		io.WriteString(os.Stdout, policyUsage)
		return exitcode.OK
	case "show":
		return runPolicyShow(args[1:])
	case "syscalls":
		return runPolicySyscalls(args[1:])
	case "reference":
		return runPolicyReference(args[1:])
	}
	fmt.Fprintf(os.Stderr, "sockjail policy: unknown subcommand %q\nsockjail policy: hint: run 'sockjail policy --help'\n", args[0])
	return exitcode.Usage
}

// policyFlags parses a policy subcommand's flags; ok is false when the
// command is done (help printed, or a usage error) and code is its status.
func policyFlags(fs *flag.FlagSet, args []string) (ok bool, code int) {
	fs.SetOutput(os.Stderr)
	// The flag package prints a parse error itself; the hint follows it.
	// Usage is silent, since it is also called for -help.
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			io.WriteString(os.Stdout, policyUsage)
			return false, exitcode.OK
		}
		fmt.Fprintln(os.Stderr, "sockjail policy: hint: run 'sockjail policy --help'")
		return false, exitcode.Usage
	}
	return true, 0
}

func runPolicyShow(args []string) int {
	fs := flag.NewFlagSet("policy show", flag.ContinueOnError)
	if ok, code := policyFlags(fs, args); !ok {
		return code
	}
	var p *policy.Policy
	switch fs.NArg() {
	case 0:
		p = policy.Default()
	case 1:
		var err error
		if p, err = loadPolicyArg(fs.Arg(0)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return exitcode.Invalid
		}
	default:
		fmt.Fprintln(os.Stderr, "sockjail policy show: give at most one FILE\nsockjail policy show: hint: run 'sockjail check' to check several")
		return exitcode.Usage
	}
	data, err := p.Marshal()
	if err != nil {
		fmt.Fprintf(os.Stderr, "sockjail policy show: %v\n", err)
		return exitcode.Internal
	}
	fmt.Printf("# sockjail policy from %s, effective: every key, defaults filled in\n", p.Source)
	fmt.Printf("# sha256 %s\n", p.Hash())
	os.Stdout.Write(data)
	return exitcode.OK
}

func runPolicySyscalls(args []string) int {
	fs := flag.NewFlagSet("policy syscalls", flag.ContinueOnError)
	markdown := fs.Bool("markdown", false, "print the table of every group, as in docs/syscalls.md")
	if ok, code := policyFlags(fs, args); !ok {
		return code
	}
	switch {
	case *markdown && fs.NArg() == 0:
		os.Stdout.Write(policy.SyscallsMarkdown())
	case fs.NArg() == 0:
		var b strings.Builder
		for _, g := range policy.SyscallGroups() {
			desc, _ := policy.GroupDescription(g)
			fmt.Fprintf(&b, "%-16s %s\n", g, desc)
		}
		io.WriteString(os.Stdout, b.String())
	case fs.NArg() == 1 && !*markdown:
		group := fs.Arg(0)
		if !strings.HasPrefix(group, "@") {
			group = "@" + group
		}
		members, err := policy.GroupMembers(group)
		if err != nil {
			fmt.Fprintf(os.Stderr, "sockjail policy syscalls: %v\n", err)
			return exitcode.Usage
		}
		io.WriteString(os.Stdout, strings.Join(members, "\n")+"\n")
	default:
		fmt.Fprintln(os.Stderr, "sockjail policy syscalls: give at most one @GROUP, and not with --markdown\nsockjail policy syscalls: hint: run 'sockjail policy --help'")
		return exitcode.Usage
	}
	return exitcode.OK
}

func runPolicyReference(args []string) int {
	fs := flag.NewFlagSet("policy reference", flag.ContinueOnError)
	if ok, code := policyFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "sockjail policy reference: takes no arguments")
		return exitcode.Usage
	}
	os.Stdout.Write(policy.ReferenceMarkdown())
	return exitcode.OK
}
