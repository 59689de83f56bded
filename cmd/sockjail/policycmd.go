package main

// `sockjail policy show|syscalls|reference`: print the effective policy,
// the syscall groups and the policy reference. The text comes from package
// policy, which also generates docs/policy.md and docs/syscalls.md, so the
// command and the documents always agree.

import (
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

// policySynopsis and policyDescription are the help of `sockjail policy`
// and of each of its subcommands.
var policySynopsis = []string{
	"sockjail policy show [FILE]",
	"sockjail policy syscalls [--markdown] [@GROUP]",
	"sockjail policy reference",
}

const policyDescription = `show       Prints the effective policy of FILE ("-" reads stdin) as TOML:
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
FILE:LINE:COLUMN: message on stderr), 64 for a bad command line.`

// newPolicyCLI is the command line of `sockjail policy SUBCOMMAND`; they
// share one help.
func newPolicyCLI(sub string) *cli {
	return newCLI("policy "+sub, policySynopsis, policyDescription)
}

func runPolicy(args []string) int {
	c := newPolicyCLI("")
	sub, rest := "", []string(nil)
	if len(args) > 0 {
		sub, rest = args[0], args[1:]
	}
	switch sub {
	case "show":
		return runPolicyShow(rest)
	case "syscalls":
		return runPolicySyscalls(rest)
	case "reference":
		return runPolicyReference(rest)
	case "help":
		c.usage(os.Stdout)
		return exitcode.OK
	case "":
		return c.usageError("missing subcommand")
	}
	// -h and --help, or a flag where the subcommand belongs.
	if _, _, code, ok := c.parse(args); !ok {
		return code
	}
	return c.usageError(fmt.Sprintf("unknown subcommand %q", sub))
}

func runPolicyShow(args []string) int {
	c := newPolicyCLI("show")
	files, _, code, ok := c.parse(args)
	if !ok {
		return code
	}
	var p *policy.Policy
	switch len(files) {
	case 0:
		p = policy.Default()
	case 1:
		var err error
		if p, err = loadPolicyArg(files[0]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return exitcode.Invalid
		}
	default:
		return c.usageError("give at most one FILE", "run 'sockjail check' to check several")
	}
	data, err := p.Marshal()
	if err != nil {
		return fail(exitcode.Internal, err)
	}
	fmt.Printf("# sockjail policy from %s, effective: every key, defaults filled in\n", p.Source)
	fmt.Printf("# sha256 %s\n", p.Hash())
	os.Stdout.Write(data)
	return exitcode.OK
}

func runPolicySyscalls(args []string) int {
	c := newPolicyCLI("syscalls")
	markdown := c.flags.Bool("markdown", false, "print the table of every group, as in docs/syscalls.md")
	groups, _, code, ok := c.parse(args)
	if !ok {
		return code
	}
	switch {
	case *markdown && len(groups) == 0:
		os.Stdout.Write(policy.SyscallsMarkdown())
	case len(groups) == 0:
		var b strings.Builder
		for _, g := range policy.SyscallGroups() {
			desc, _ := policy.GroupDescription(g)
			fmt.Fprintf(&b, "%-16s %s\n", g, desc)
		}
		io.WriteString(os.Stdout, b.String())
	case len(groups) == 1 && !*markdown:
		group := groups[0]
		if !strings.HasPrefix(group, "@") {
			group = "@" + group
		}
		members, err := policy.GroupMembers(group)
		if err != nil {
			return c.usageError(err.Error(), "'sockjail policy syscalls' lists the groups")
		}
		io.WriteString(os.Stdout, strings.Join(members, "\n")+"\n")
	default:
		return c.usageError("give at most one @GROUP, and not with --markdown")
	}
	return exitcode.OK
}

func runPolicyReference(args []string) int {
	c := newPolicyCLI("reference")
	operands, _, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(operands) != 0 {
		return c.usageError("policy reference takes no arguments")
	}
	os.Stdout.Write(policy.ReferenceMarkdown())
	return exitcode.OK
}
