package main

// `sockjail probe`: what this machine offers, and what a policy would
// enforce on it. The probing is sandbox.Probe and sandbox.PlanPolicy; this
// file only prints.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sockjail/sockjail/internal/exitcode"
	"github.com/sockjail/sockjail/policy"
	"github.com/sockjail/sockjail/sandbox"
)

func init() {
	register(command{
		name:    "probe",
		summary: "report this machine's Landlock, seccomp and namespaces, and what a policy would enforce",
		run:     runProbe,
	})
}

const probeDescription = `Reports what this machine offers sockjail: the Landlock ABI, seccomp and the
filter actions the kernel supports, user, mount and PID namespaces (for the
uid running probe: run it as the service's user), the cgroup version and
controllers and whether sockjail can create session cgroups, and pidfd.
Then it says what the policy (FILE, or the embedded default) would
enforce here, and what would make a strict policy refuse to start programs.

Exit status: 0 when the policy can be enforced, 69 when a strict policy
would refuse, 78 when the policy can't be loaded, 64 for a bad command line.`

// probeOutput is the --json document.
type probeOutput struct {
	Machine sandbox.ProbeReport `json:"machine"`
	Policy  string              `json:"policy"`
	Enforce policy.Enforce      `json:"enforce"`
	Plan    *sandbox.Plan       `json:"plan,omitempty"`
	Error   string              `json:"error,omitempty"`
}

func runProbe(args []string) int {
	c := newCLI("probe", []string{"sockjail probe [--policy FILE] [--json]"}, probeDescription)
	policyPath := c.flags.String("policy", "", "the policy `FILE` to plan (default: the embedded default policy)")
	asJSON := c.flags.Bool("json", false, "print JSON instead of text")
	operands, _, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(operands) != 0 {
		return c.usageError(fmt.Sprintf("unexpected argument %q", operands[0]))
	}
	opts, err := sandbox.OptionsFromEnv(os.Getenv)
	if err != nil {
		return fail(exitcode.Usage, err)
	}

	out := probeOutput{Machine: sandbox.Probe(opts), Policy: policy.DefaultSource}
	code = exitcode.OK
	p := policy.Default()
	if *policyPath != "" {
		out.Policy = *policyPath
		p, err = policy.Load(*policyPath)
	}
	if err != nil {
		out.Error = err.Error()
		code = exitcode.Config
	} else {
		out.Enforce = p.Enforce
		plan, err := sandbox.PlanPolicy(p, opts)
		if err != nil {
			out.Error = err.Error()
			code = exitcode.Config
		} else {
			out.Plan = &plan
			if len(plan.Refused) > 0 {
				code = exitcode.Refused
			}
		}
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
	} else {
		printProbe(os.Stdout, out)
	}
	return code
}

// sessionBounds describes what bounds a session's totals.
func sessionBounds(r sandbox.Report) string {
	var parts []string
	if r.MemoryMax != 0 {
		parts = append(parts, "memory "+policy.Size(r.MemoryMax).String())
	}
	if r.TasksMax != 0 {
		parts = append(parts, fmt.Sprintf("tasks %d", r.TasksMax))
	}
	if r.CPUQuota != 0 {
		parts = append(parts, fmt.Sprintf("cpu %d%%", r.CPUQuota))
	}
	if len(parts) == 0 {
		return "no memory, tasks or CPU bound (cgroup " + r.Cgroup + ")"
	}
	how := "cgroup " + r.Cgroup
	if r.Cgroup == sandbox.CgroupUnit {
		how = "the systemd unit's cgroup"
	}
	return strings.Join(parts, ", ") + " (" + how + ")"
}

func printProbe(w io.Writer, o probeOutput) {
	m := o.Machine
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Machine (kernel %s, euid %d)\n", m.Kernel, m.EUID)
	ll := fmt.Sprintf("ABI %d", m.LandlockABI)
	if m.LandlockABI != m.KernelLandlockABI {
		ll += fmt.Sprintf(" (kernel: %d)", m.KernelLandlockABI)
	}
	if m.LandlockABI == 0 {
		ll = "not available"
	}
	fmt.Fprintf(&b, "  landlock:           %s\n", ll)
	fmt.Fprintf(&b, "  seccomp:            %s (actions: %s)\n", yes(m.Seccomp), strings.Join(m.SeccompActions, ", "))
	userns := yes(m.UserNS)
	if m.UserNSErr != "" {
		userns += " (" + m.UserNSErr + ")"
	}
	fmt.Fprintf(&b, "  user namespaces:    %s\n", userns)
	fmt.Fprintf(&b, "  mount namespaces:   %s\n", yes(m.MountNS))
	fmt.Fprintf(&b, "  pid namespaces:     %s\n", yes(m.PIDNS))
	cg := m.CgroupVersion
	if len(m.CgroupControllers) > 0 {
		cg += " (" + strings.Join(m.CgroupControllers, ", ") + ")"
	}
	fmt.Fprintf(&b, "  cgroups:            %s\n", cg)
	fmt.Fprintf(&b, "  session cgroups:    %s (%s)\n", yes(m.CgroupCreate), m.Cgroup)
	fmt.Fprintf(&b, "  pidfd:              %s\n", yes(m.Pidfd))
	if len(m.Simulated) > 0 {
		fmt.Fprintf(&b, "  simulated:          %s\n", strings.Join(m.Simulated, ", "))
	}
	fmt.Fprintf(&b, "\nPolicy %s (enforce = %q)\n", o.Policy, o.Enforce)
	if o.Error != "" {
		fmt.Fprintf(&b, "  cannot load: %s\n", o.Error)
		io.WriteString(w, b.String())
		return
	}
	r := o.Plan.Report
	fmt.Fprintf(&b, "  landlock:      ABI %d, tcp rules %s, scopes [%s]\n", r.LandlockABI, yes(r.LandlockNet), strings.Join(r.Scopes, " "))
	fmt.Fprintf(&b, "  seccomp:       %d rules, %d BPF instructions\n", r.SeccompRules, r.SeccompBPF)
	user := fmt.Sprintf("uid %d gid %d", r.UID, r.GID)
	if r.Dynamic {
		user = "dynamic uid/gid per connection"
	}
	fmt.Fprintf(&b, "  user:          %s\n", user)
	fmt.Fprintf(&b, "  private /tmp:  %s\n", r.Tmp)
	fmt.Fprintf(&b, "  pid namespace: %s\n", yes(r.PIDNS))
	fmt.Fprintf(&b, "  fresh /proc:   %s\n", yes(r.Proc))
	shm := "no"
	if r.Shm > 0 {
		shm = policy.Size(r.Shm).String()
	}
	fmt.Fprintf(&b, "  /dev/shm:      %s\n", shm)
	fmt.Fprintf(&b, "  session:       %s\n", sessionBounds(r))
	for _, s := range r.Skipped {
		fmt.Fprintf(&b, "  not enforced:  %s\n", s)
	}
	if len(o.Plan.Refused) > 0 {
		fmt.Fprintf(&b, "\nREFUSED: with enforce = \"strict\" no program would start:\n")
		for _, s := range o.Plan.Refused {
			fmt.Fprintf(&b, "  - %s\n", s)
		}
	} else {
		fmt.Fprintf(&b, "\nOK: programs would start with the protections above.\n")
	}
	io.WriteString(w, b.String())
}
