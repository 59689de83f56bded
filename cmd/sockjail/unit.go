package main

// `sockjail unit`: write the systemd units that serve a program through
// sockjail. The work (paths, the policy, the units, writing them) is
// internal/unit's; this file reads the flags and reports.

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/sockjail/sockjail/internal/exitcode"
	"github.com/sockjail/sockjail/internal/unit"
)

func init() {
	register(command{
		name:    "unit",
		summary: "write systemd socket and service units that serve a program through sockjail",
		run:     runUnit,
	})
}

const unitDescription = `Writes the two systemd units that serve PROGRAM on a TCP port through sockjail:

  --accept=yes (default)  NAME.socket with Accept=yes, and the template
                          NAME@.service: systemd accepts each connection and
                          starts 'sockjail run' for it with the connection as
                          stdin and stdout.
  --accept=no             NAME.socket with Accept=no, and NAME.service running
                          'sockjail serve' (Type=notify), which accepts the
                          connections itself; faster per connection.

The units take MaxConnections=, MaxConnectionsPerSource= (per address:
systemd has no IPv6 prefixes or exemptions), NoDelay= and
KeepAlive= from the policy, run sockjail as a transient user
(DynamicUser=yes) unless the policy's [program] user is set, and keep
systemd's trigger limit from switching the socket off under a port scan.
PROGRAM goes into ExecStart= by its absolute path: a bare name is looked up
in PATH now, a relative path made absolute. Without --dir the units are
printed to stdout, each after a "# ---- FILE ----" line. Then, as root:

  sockjail unit --name hello --listen 31337 --policy /etc/sockjail/hello.toml \\
      --dir /etc/systemd/system -- /usr/local/bin/hello
  systemctl daemon-reload
  systemctl enable --now hello.socket`

// acceptFlag is a boolean flag spelled yes/no as in unit files, true/false
// accepted too.
type acceptFlag bool

func (a *acceptFlag) String() string {
	if a != nil && bool(*a) {
		return "yes"
	}
	return "no"
}

func (a *acceptFlag) Set(s string) error {
	switch strings.ToLower(s) {
	case "yes", "true", "1", "on":
		*a = true
	case "no", "false", "0", "off":
		*a = false
	default:
		return fmt.Errorf("want yes or no, not %q", s)
	}
	return nil
}

func runUnit(args []string) int {
	c := newCLI("unit", []string{
		"sockjail unit --name NAME --listen PORT|ADDR [--policy FILE] [--accept=yes|no]",
		"              [--dir DIR] -- PROGRAM [ARGS...]",
	}, unitDescription).withProgram()
	var (
		name       string
		listen     stringList
		policyPath string
		accept     = acceptFlag(true)
		dir        string
		sockjail   string
		version    int
	)
	fs := c.flags
	fs.StringVar(&name, "name", "", "unit `NAME`: writes NAME.socket and NAME@.service (NAME.service with --accept=no)")
	fs.Var(&listen, "listen", "`PORT` or ADDR:PORT to listen on (127.0.0.1:31337, [::1]:31337); repeatable")
	fs.StringVar(&policyPath, "policy", "", "policy `FILE`, checked now and named in ExecStart= by its absolute path (default: the embedded default policy)")
	fs.Var(&accept, "accept", "let systemd accept each connection (`yes|no`): yes starts one 'sockjail run' per connection, no one 'sockjail serve' for all")
	fs.StringVar(&dir, "dir", "", "write the units into `DIR` (for example /etc/systemd/system) instead of printing them")
	fs.StringVar(&sockjail, "sockjail", "", "absolute `PATH` of sockjail in ExecStart= (default: this binary)")
	fs.IntVar(&version, "systemd-version", 0, "`N`: write for this systemd version (default: the installed one, at least 252)")
	_, program, code, ok := c.parse(args)
	if !ok {
		return code
	}
	switch {
	case name == "":
		return c.usageError("--name is required", "for example --name hello gives hello.socket")
	case len(listen) == 0:
		return c.usageError("--listen is required", "for example --listen 31337 or --listen 127.0.0.1:31337")
	}
	cfg, err := unit.Prepare(unit.Request{
		Name:           name,
		Listen:         listen,
		Accept:         bool(accept),
		Sockjail:       sockjail,
		PolicyPath:     policyPath,
		Program:        program,
		Command:        append([]string{"sockjail", "unit"}, args...),
		Dir:            dir,
		SystemdVersion: version,
	})
	var pe *unit.PrepareError
	if errors.As(err, &pe) {
		switch pe.Part {
		case unit.PartProgram:
			return c.usageError(err.Error(), "give the program's absolute path")
		case unit.PartSockjail:
			return fail(exitcode.OSError, err, "give it with --sockjail PATH")
		case unit.PartPolicy:
			return fail(exitcode.Config, err, fmt.Sprintf("'sockjail check %s' explains what is wrong", policyPath))
		}
	}
	if err != nil {
		return fail(exitcode.OSError, err)
	}
	files, err := unit.Generate(cfg)
	if err != nil {
		return c.usageError(err.Error())
	}

	if dir == "" {
		for _, f := range files {
			fmt.Fprintf(os.Stdout, "# ---- %s ----\n%s", f.Name, f.Content)
		}
		return exitcode.OK
	}
	written, err := unit.Install(cfg.Dir, files)
	for _, p := range written {
		fmt.Fprintf(os.Stderr, "sockjail: wrote %s\n", p)
	}
	if err != nil {
		return fail(exitcode.OSError, err)
	}
	hint(fmt.Sprintf("systemctl daemon-reload && systemctl enable --now %s.socket", name))
	return exitcode.OK
}
