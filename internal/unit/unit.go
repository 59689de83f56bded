// Package unit writes the systemd unit files that run a program under
// sockjail: a socket unit plus either a per-connection service template
// (Accept=yes, `sockjail run`) or one long-running service (Accept=no,
// `sockjail serve`).
//
// [Generate] makes the units as plain text from a [Config] and touches
// nothing. [Prepare] turns a command line's [Request] into a Config on this
// machine (absolute paths, the policy file, `systemctl --version`), and
// [Install] writes the files; neither reads users or groups, nor reloads
// or otherwise talks to systemd. It targets systemd 252
// (Debian 12) and newer: directives that only newer versions know are written
// only when [Config.SystemdVersion] says they are understood, so that
// `systemd-analyze verify` stays quiet. It does not cover ListenStream= forms
// other than TCP ports and IP addresses (no AF_UNIX paths, no vsock).
package unit

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sockjail/sockjail/policy"
)

// MinSystemdVersion is the oldest systemd whose unit syntax the generated
// files are written for (Debian 12's).
const MinSystemdVersion = 252

// pollLimitVersion is the first systemd release that knows
// PollLimitIntervalSec= and PollLimitBurst= (v255).
const pollLimitVersion = 255

// MaxNameLen bounds NAME. systemd names each Accept=yes instance
// NAME@N-LOCAL:PORT-REMOTE:PORT.service, and with IPv6 addresses that
// suffix takes about 110 bytes of the 255 a unit name may have.
const MaxNameLen = 64

// DefaultUnitDir is where an administrator's own unit files live.
const DefaultUnitDir = "/etc/systemd/system"

// Config describes the units to generate.
type Config struct {
	// Name is the unit name without suffix: NAME.socket, NAME@.service or
	// NAME.service. See [ValidateName].
	Name string
	// Listen holds the addresses to listen on: a port ("31337"), or an IP
	// address and port ("127.0.0.1:31337", "[::1]:31337"). See [ListenStream].
	Listen []string
	// Accept selects one `sockjail run` per connection (true) or one
	// `sockjail serve` for all connections (false).
	Accept bool
	// Sockjail is the absolute path of the sockjail binary in ExecStart=.
	Sockjail string
	// PolicyPath is the absolute path of the policy file, or "" for the
	// embedded default policy.
	PolicyPath string
	// Policy is the policy PolicyPath holds (or the default policy). Its
	// [serve], [connection] and [program] settings shape the units.
	Policy *policy.Policy
	// Program is the program and its arguments, as `sockjail run` and
	// `sockjail serve` take them after "--".
	Program []string
	// Command is the command line that generated the units, quoted into
	// each unit's header comment so that the units can be made again.
	Command []string
	// Dir is where the units will be installed, for the header's
	// `systemd-analyze verify` hint; "" means [DefaultUnitDir].
	Dir string
	// SystemdVersion is the version of the systemd that will load the
	// units; 0 means [MinSystemdVersion].
	SystemdVersion int
}

// File is one generated unit file.
type File struct {
	Name    string // file name, such as "hello.socket"
	Content string
}

// Generate returns the socket unit followed by the service unit for c.
// It reports an error when c is invalid; it never checks that the paths
// exist, since units are often generated on one machine for another.
func Generate(c Config) ([]File, error) {
	if err := ValidateName(c.Name); err != nil {
		return nil, err
	}
	if len(c.Listen) == 0 {
		return nil, errors.New("no address to listen on")
	}
	listen := make([]string, len(c.Listen))
	for i, l := range c.Listen {
		ls, err := ListenStream(l)
		if err != nil {
			return nil, err
		}
		listen[i] = ls
	}
	if !strings.HasPrefix(c.Sockjail, "/") {
		return nil, fmt.Errorf("the sockjail binary's path %q is not absolute", c.Sockjail)
	}
	if c.PolicyPath != "" && !strings.HasPrefix(c.PolicyPath, "/") {
		return nil, fmt.Errorf("the policy path %q is not absolute", c.PolicyPath)
	}
	if c.Policy == nil {
		return nil, errors.New("no policy given")
	}
	if len(c.Program) == 0 || c.Program[0] == "" {
		return nil, errors.New("no program given")
	}
	if c.SystemdVersion == 0 {
		c.SystemdVersion = MinSystemdVersion
	}
	if c.Dir == "" {
		c.Dir = DefaultUnitDir
	}
	g := gen{Config: c, listen: listen}
	return []File{
		{Name: g.socketName(), Content: g.socket()},
		{Name: g.serviceName(), Content: g.service()},
	}, nil
}

// ValidateName reports whether name can be the prefix of a socket and a
// service unit: systemd's unit name characters (ASCII letters, digits, ":",
// "-", "_", ".", "\"), no "@" (the template marker), and at most MaxNameLen
// bytes.
func ValidateName(name string) error {
	if name == "" {
		return errors.New("the unit name is empty")
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("the unit name %q is longer than %d bytes (systemd adds the connection's addresses to it for each instance)", name, MaxNameLen)
	}
	if name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("the unit name %q must not start with %q", name, name[0])
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == ':', c == '-', c == '_', c == '.', c == '\\':
		default:
			return fmt.Errorf("the unit name %q holds %q; use letters, digits and \":-_.\\\" only (systemd-escape(1) turns any string into a valid name)", name, string(rune(c)))
		}
	}
	for _, suffix := range []string{".socket", ".service"} {
		if strings.HasSuffix(name, suffix) {
			return fmt.Errorf("give the unit name without its suffix: %q", strings.TrimSuffix(name, suffix))
		}
	}
	return nil
}

// ListenStream returns the ListenStream= value for a --listen argument: a
// port (systemd then listens on all IPv6 and IPv4 addresses), or an IP
// address and port. A host name is refused, since systemd binds before any
// name service is up and does not resolve names here.
func ListenStream(s string) (string, error) {
	if p, err := parsePort(s); err == nil {
		return strconv.Itoa(int(p)), nil
	}
	if strings.HasPrefix(s, ":") {
		// ":31337", as `sockjail serve --listen` takes it: every address.
		p, err := parsePort(s[1:])
		if err != nil {
			return "", fmt.Errorf("listen address %q: %w", s, err)
		}
		return strconv.Itoa(int(p)), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return "", fmt.Errorf("listen address %q is neither a port nor IP:PORT ([IPv6]:PORT); systemd does not resolve host names", s)
	}
	if ap.Port() == 0 {
		return "", fmt.Errorf("listen address %q: port 0 is not a fixed port", s)
	}
	if ap.Addr().Zone() != "" {
		return "", fmt.Errorf("listen address %q: zones are not supported; use BindToDevice= in a drop-in", s)
	}
	return ap.String(), nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a port number between 1 and 65535", s)
	}
	return uint16(n), nil
}

// gen holds one generation's validated input.
type gen struct {
	Config
	listen []string
}

func (g gen) socketName() string { return g.Name + ".socket" }

func (g gen) serviceName() string {
	if g.Accept {
		return g.Name + "@.service"
	}
	return g.Name + ".service"
}

// header is the comment each unit starts with: what made it and how to
// check it.
func (g gen) header(b *strings.Builder, file string) {
	fmt.Fprintf(b, "# %s: generated by 'sockjail unit'. Regenerate it rather than editing it;\n", file)
	fmt.Fprintf(b, "# put local changes into a drop-in (systemctl edit %s).\n", file)
	fmt.Fprintf(b, "#   %s\n", ShellQuote(g.Command))
	fmt.Fprintf(b, "# Check both units with:\n")
	fmt.Fprintf(b, "#   systemd-analyze verify %s %s\n",
		ShellQuote([]string{g.Dir + "/" + g.socketName()}), ShellQuote([]string{g.Dir + "/" + g.serviceName()}))
	b.WriteString("\n")
}

// programLabel names the program for Description=: specifiers escaped, and
// control characters and backslashes, which could end the line or continue
// it into the next, replaced by "?".
func (g gen) programLabel() string {
	label := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return '?'
		}
		return r
	}, g.Program[0])
	return strings.ReplaceAll(label, "%", "%%")
}

// perSourceGaps names what the policy's per-source limits do that systemd's
// MaxConnectionsPerSource=, which counts each whole source address, can't.
func perSourceGaps(p *policy.Policy) []string {
	var gaps []string
	if v6 := p.Serve.SourcePrefixV6; v6 != 0 && v6 != 128 {
		gaps = append(gaps, fmt.Sprintf("each IPv6 address counts, not each /%d (source_prefix_v6)", v6))
	}
	if v4 := p.Serve.SourcePrefixV4; v4 != 0 && v4 != 32 {
		gaps = append(gaps, fmt.Sprintf("each IPv4 address counts, not each /%d (source_prefix_v4)", v4))
	}
	if len(p.Serve.LimitExempt) > 0 {
		gaps = append(gaps, "limit_exempt's ranges are limited too")
	}
	return gaps
}

func (g gen) socket() string {
	p := g.Policy
	var b strings.Builder
	g.header(&b, g.socketName())
	b.WriteString("[Unit]\n")
	fmt.Fprintf(&b, "Description=sockjail socket for %s\n", g.programLabel())
	b.WriteString("\n[Socket]\n")
	for _, l := range g.listen {
		fmt.Fprintf(&b, "ListenStream=%s\n", l)
	}
	if g.Accept {
		b.WriteString("Accept=yes\n")
		b.WriteString("# Connections at once, in all and per source address, as the policy's\n")
		b.WriteString("# [serve] max_connections and max_per_source say; systemd accepts and\n")
		b.WriteString("# closes any beyond these.\n")
		fmt.Fprintf(&b, "MaxConnections=%d\n", p.Serve.MaxConnections)
		if p.Serve.MaxPerSource > 0 {
			fmt.Fprintf(&b, "MaxConnectionsPerSource=%d\n", p.Serve.MaxPerSource)
			if gaps := perSourceGaps(p); len(gaps) > 0 {
				b.WriteString("# MaxConnectionsPerSource= counts each source address on its own, so\n")
				b.WriteString("# here, unlike under --accept=no:\n")
				for _, gap := range gaps {
					fmt.Fprintf(&b, "# - %s.\n", gap)
				}
			}
		}
		b.WriteString("# systemd fails a socket for good once TriggerLimitBurst= activations\n")
		b.WriteString("# arrive within TriggerLimitIntervalSec=, and every connection counts,\n")
		b.WriteString("# refused ones too (systemd issue 15633): a port scan or a flood would\n")
		b.WriteString("# switch the service off until someone restarts the socket. The limits\n")
		b.WriteString("# above already bound what a flood can start, so the trigger limit is off.\n")
		b.WriteString("TriggerLimitIntervalSec=0\n")
		b.WriteString("TriggerLimitBurst=0\n")
		if g.SystemdVersion >= pollLimitVersion {
			b.WriteString("# A poll limit pauses accepting for the rest of the interval instead of\n")
			b.WriteString("# failing the socket, so a flood slows the service down but cannot stop it.\n")
			b.WriteString("PollLimitIntervalSec=2s\n")
			fmt.Fprintf(&b, "PollLimitBurst=%d\n", pollBurst(p))
		}
	} else {
		b.WriteString("Accept=no\n")
		b.WriteString("# sockjail serve accepts the connections itself and applies the policy's\n")
		b.WriteString("# [serve] limits, so systemd watches this socket only while serve is not\n")
		b.WriteString("# running: connections can't trigger it, only a serve that keeps failing.\n")
		b.WriteString("TriggerLimitIntervalSec=2s\n")
		b.WriteString("TriggerLimitBurst=20\n")
	}
	if p.Connection.NoDelay {
		b.WriteString("NoDelay=yes\n")
	}
	if ka := time.Duration(p.Connection.KeepAlive); ka > 0 {
		b.WriteString("KeepAlive=yes\n")
		fmt.Fprintf(&b, "KeepAliveTimeSec=%s\n", systemdSeconds(ka))
	}
	b.WriteString("\n[Install]\nWantedBy=sockets.target\n")
	return b.String()
}

// pollBurst allows twice the connections the socket may hold at once per
// 2 s before pausing: enough for legitimate bursts.
func pollBurst(p *policy.Policy) int {
	n := 2 * p.Serve.MaxConnections
	if n < 20 {
		n = 20
	}
	return n
}

// closeBound is the longest sockjail may spend closing a connection after
// its program ended: flush, delay, then lingering.
func closeBound(p *policy.Policy) time.Duration {
	c := p.Connection
	return time.Duration(c.FlushTimeout) + time.Duration(c.CloseDelay) + time.Duration(c.LingerMax)
}

// stopMargin is the time systemd gives sockjail beyond its own bounds before
// it SIGKILLs what is left.
const stopMargin = 10 * time.Second

func (g gen) service() string {
	p := g.Policy
	var b strings.Builder
	g.header(&b, g.serviceName())

	b.WriteString("[Unit]\n")
	if g.Accept {
		fmt.Fprintf(&b, "Description=sockjail: %s for connection %%i\n", g.programLabel())
		b.WriteString("# Failed instances are garbage too: one per connection would pile up.\n")
		b.WriteString("CollectMode=inactive-or-failed\n")
	} else {
		fmt.Fprintf(&b, "Description=sockjail serve: %s\n", g.programLabel())
		fmt.Fprintf(&b, "Requires=%s\nAfter=%s\n", g.socketName(), g.socketName())
	}

	b.WriteString("\n[Service]\n")
	argv := []string{g.Sockjail}
	if g.Accept {
		argv = append(argv, "run")
	} else {
		argv = append(argv, "serve")
	}
	if g.PolicyPath != "" {
		argv = append(argv, "--policy", g.PolicyPath)
	}
	argv = append(argv, "--")
	argv = append(argv, g.Program...)
	if g.Accept {
		b.WriteString("# \"-\": the program's exit status is the connection's business, not a\n")
		b.WriteString("# failure of the unit.\n")
		fmt.Fprintf(&b, "ExecStart=-%s\n", ExecLine(argv))
		b.WriteString("# One connection, one goroutine at a time: the Go runtime starts\n")
		b.WriteString("# cheaper with one P (sockjail's docs/design.md, issue 18).\n")
		b.WriteString("Environment=GOMAXPROCS=1\n")
		b.WriteString("StandardInput=socket\n")
		b.WriteString("StandardOutput=socket\n")
		b.WriteString("# sockjail's one log line per connection; never the client's socket.\n")
		b.WriteString("StandardError=journal\n")
		b.WriteString("# sockjail ends the program's tree and bounds the close phase itself;\n")
		b.WriteString("# systemd only steps in if sockjail overruns those bounds.\n")
		fmt.Fprintf(&b, "TimeoutStopSec=%s\n", systemdSeconds(closeBound(p)+stopMargin))
		if md := time.Duration(p.Connection.MaxDuration); md > 0 {
			fmt.Fprintf(&b, "RuntimeMaxSec=%s\n", systemdSeconds(md+closeBound(p)+stopMargin))
		}
	} else {
		b.WriteString("Type=notify\n")
		fmt.Fprintf(&b, "ExecStart=%s\n", ExecLine(argv))
		b.WriteString("# serve rereads the policy on SIGHUP (systemctl reload); the shell's kill\n")
		b.WriteString("# needs no package beyond the essential ones.\n")
		b.WriteString("ExecReload=/bin/sh -c \"kill -HUP $$MAINPID\"\n")
		b.WriteString("StandardOutput=journal\n")
		b.WriteString("StandardError=journal\n")
		b.WriteString("# SIGTERM goes to serve alone, which reports not ready and goes on\n")
		b.WriteString("# serving for [serve] drain_delay, then stops accepting and gives running\n")
		b.WriteString("# sessions [serve] stop_timeout to finish; whatever is left when\n")
		b.WriteString("# TimeoutStopSec= runs out gets SIGKILL.\n")
		b.WriteString("KillMode=mixed\n")
		stop := time.Duration(p.Serve.DrainDelay) + time.Duration(p.Serve.StopTimeout) + closeBound(p) + stopMargin
		fmt.Fprintf(&b, "TimeoutStopSec=%s\n", systemdSeconds(stop))
	}

	g.bounds(&b)
	b.WriteString("\n")
	if p.Program.User == "" {
		b.WriteString("# sockjail starts unprivileged, as a transient user, and confines the\n")
		b.WriteString("# program in user and mount namespaces of its own.\n")
		b.WriteString("DynamicUser=yes\n")
	} else {
		fmt.Fprintf(&b, "# The policy names the user (%q): sockjail starts as root, builds the\n", p.Program.User)
		b.WriteString("# sandbox and drops to that user before the program runs.\n")
	}
	b.WriteString("\n")
	b.WriteString("# Deliberately absent: RestrictNamespaces= and SystemCallFilter= (sockjail\n")
	b.WriteString("# creates namespaces and loads the program's seccomp filter itself),\n")
	b.WriteString("# PrivateDevices= (it would hide devices a policy grants, such as a serial\n")
	b.WriteString("# line), and settings that would confine the program beyond its policy\n")
	b.WriteString("# (MemoryDenyWriteExecute=, RestrictAddressFamilies=).\n")
	b.WriteString("NoNewPrivileges=yes\n")
	if g.Accept {
		comment(&b, "More of systemd's hardening works with sockjail ("+strings.Join(Hardening, "=, ")+
			"=), but systemd sets it up again for every connection: it made each connection"+
			" two to four times slower in sockjail's tests, and sockjail's sandbox already keeps"+
			" the program from what it protects. Add it in a drop-in if you want it;"+
			" the serve units (--accept=no) have it.")
	} else {
		b.WriteString("# Hardening that leaves sockjail's sandbox working, set up once for all\n")
		b.WriteString("# connections.\n")
		for _, d := range Hardening {
			b.WriteString(d + "=yes\n")
		}
	}
	return b.String()
}

// bounds writes how the session's memory, tasks and CPU are bounded:
// per connection by the instance's own cgroup (Accept=yes), or by the
// cgroups serve creates for each session in the subtree systemd delegates
// to it.
func (g gen) bounds(b *strings.Builder) {
	l := g.Policy.Limits
	if !g.Accept {
		b.WriteString("\n# serve bounds each session ([limits] memory, tasks, cpu_quota) in a cgroup\n")
		b.WriteString("# of its own, below the service's, which systemd hands it here.\n")
		b.WriteString("Delegate=yes\n")
		return
	}
	if l.Memory.Unlimited && l.Tasks.Unlimited && l.CPUQuota.Unlimited {
		return
	}
	b.WriteString("\n# Each connection is an instance with a cgroup of its own: these bound it,\n")
	b.WriteString("# from the policy's [limits] memory (kernel memory included, no swap),\n")
	b.WriteString("# tasks and cpu_quota.\n")
	if !l.Memory.Unlimited {
		fmt.Fprintf(b, "MemoryMax=%d\n", l.Memory.Value)
		b.WriteString("MemorySwapMax=0\n")
	}
	if !l.Tasks.Unlimited {
		fmt.Fprintf(b, "TasksMax=%d\n", l.Tasks.Value)
	}
	if !l.CPUQuota.Unlimited {
		fmt.Fprintf(b, "CPUQuota=%d%%\n", l.CPUQuota.Value)
	}
}

// Hardening lists the boolean hardening directives that the serve service
// sets beyond NoNewPrivileges=. Each restricts only what no policy can grant
// the program anyway, and sockjail's user, mount and PID namespaces work
// under all of them. The per-connection template leaves them out: systemd
// builds them anew for every instance, at a cost of tens of milliseconds.
// The slice is read-only.
//
// ProtectControlGroups= is not among them: it makes /sys/fs/cgroup
// read-only, delegated subtree included, and serve creates each session's
// cgroup there. ProtectKernelTunables= and ProtectKernelLogs= are not
// either: they
// mount over files in /proc (sysrq-trigger, kmsg, kcore), and the kernel
// then refuses the fresh procfs of every session in sockjail's user
// namespace ("mount too revealing"), so programs would lose /proc/self. The
// session's own /proc has none of those files (subset=pid), and seccomp
// refuses syslog(2).
var Hardening = []string{
	"LockPersonality",
	"RestrictRealtime",
	"RestrictSUIDSGID",
	"ProtectKernelModules",
	"ProtectHostname",
}

// comment writes text as "# " lines of at most 76 columns.
func comment(b *strings.Builder, text string) {
	line := "#"
	for _, w := range strings.Fields(text) {
		if len(line)+1+len(w) > 76 && line != "#" {
			b.WriteString(line + "\n")
			line = "#"
		}
		line += " " + w
	}
	b.WriteString(line + "\n")
}

// systemdSeconds writes d as a systemd time span in whole seconds, rounded
// up so that a bound is never shortened.
func systemdSeconds(d time.Duration) string {
	s := (d + time.Second - 1) / time.Second
	return strconv.FormatInt(int64(s), 10) + "s"
}
