package sandbox

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/policy"
)

// fixture is what the confinement tests attack: files outside the policy
// that DAC alone would allow (so only Landlock can deny them), and TCP
// listeners on loopback.
type fixture struct {
	probe     string // the helper, the program under test
	dir       string
	secret    string // mode 0644: readable by anyone as far as DAC goes
	writable  string // mode 0666
	otherExec string // an executable outside [filesystem].exec
	owned     string // a file owned by nobody (the program's uid), mode 0600
	unixSock  string // a listening unix socket, mode 0777
	allowed   int    // a listening port the policy allows to connect to
	denied    int    // a listening port it does not
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	probe := cHelper(t, "probe")
	dir, err := os.MkdirTemp("/run", "sockjail-fixture-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	f := &fixture{probe: probe, dir: dir, secret: dir + "/secret", writable: dir + "/writable", otherExec: dir + "/other"}
	must(t, os.WriteFile(f.secret, []byte("secret\n"), 0o644))
	must(t, os.WriteFile(f.writable, nil, 0o666))
	must(t, os.Chmod(f.writable, 0o666))
	b, err := os.ReadFile(probe)
	must(t, err)
	must(t, os.WriteFile(f.otherExec, b, 0o755))
	f.owned = dir + "/owned"
	must(t, os.WriteFile(f.owned, nil, 0o600))
	must(t, os.Chown(f.owned, NobodyID, NobodyID))
	f.unixSock = dir + "/sock"
	ul, err := net.Listen("unix", f.unixSock)
	must(t, err)
	t.Cleanup(func() { ul.Close() })
	os.Chmod(f.unixSock, 0o777)
	f.allowed = testenv.ClosingTCPPort(t)
	f.denied = testenv.ClosingTCPPort(t)
	return f
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// probeResults runs the probe helper with attempts and returns each
// attempt's outcome ("ok", an errno name, or "" if it printed nothing).
func probeResults(t *testing.T, p *policy.Policy, opt Options, probe string, attempts ...string) (map[string]string, Exit) {
	t.Helper()
	r := run(t, p, opt, "", append([]string{probe}, attempts...)...)
	got := map[string]string{}
	for _, l := range lines(r.stdout) {
		k, v, _ := strings.Cut(l, " ")
		got[k] = v
	}
	return got, r.exit
}

// TestConfinement runs one attempt per row under the default policy plus
// one allowed port, and asserts the exact outcome.
func TestConfinement(t *testing.T) {
	testenv.RequireRoot(t)
	f := newFixture(t)
	free := testenv.FreeTCPPort(t)
	p := testPolicy(t, func(p *policy.Policy) {
		p.Network.ConnectTCP = []policy.PortRange{{Lo: uint16(f.allowed), Hi: uint16(f.allowed)}}
	})
	tests := []struct {
		attempt, want, why string
	}{
		{"open-r:" + f.secret, "EACCES", "read outside the policy"},
		{"open-r:/etc/passwd", "ok", "read_only /etc"},
		{"open-w:" + f.writable, "EACCES", "write outside the policy (DAC allows it)"},
		{"open-w:/etc/sockjail-test-file", "EACCES", "write into read_only /etc"},
		{"open-w:/tmp/x", "ok", "private /tmp is writable through the /tmp rule"},
		{"open-w:/var/tmp/x", "ok", "private /var/tmp is writable"},
		{"tmpfs:/tmp", "tmpfs", "private /tmp is a tmpfs"},
		{"tmpfs:/var/tmp", "tmpfs", "private /var/tmp is a tmpfs"},
		{"open-w:/dev/null", "ok", "devices"},
		{"exec:" + f.otherExec, "EACCES", "exec outside [filesystem].exec"},
		{"exec:/usr/bin/true", "ok", "exec in /usr/bin"},
		{fmt.Sprintf("connect:%d", f.allowed), "ok", "connect to the allowed port"},
		{fmt.Sprintf("connect:%d", f.denied), "EACCES", "connect to a listening port not allowed"},
		{fmt.Sprintf("bind:%d", free), "EACCES", "bind"},
		{fmt.Sprintf("tfo:%d", f.denied), "EACCES", "TCP Fast Open sendto to a port not allowed"},
		{"listen-autobind", "EACCES", "listen(2) on an unbound socket (autobind)"},
		{"mptcp", MPTCPErrnoName, "MPTCP socket"},
		{"mptcp-high", MPTCPErrnoName, "MPTCP with garbage in the upper half of the int"},
		{"udp", "EACCES", "UDP socket (Landlock below ABI 10 cannot restrict UDP)"},
		{"tcp6", "ok", "plain TCP sockets"},
		{"unix-connect:" + f.unixSock, "EACCES", "connect to a pathname unix socket outside"},
		{"socketpair", "ok", "socketpair"},
		{"setuid0", "EPERM", "setuid(0)"},
		{"clone3", "ENOSYS", "clone3 falls back to clone"},
		{"clone-newuser", "EPERM", "clone(CLONE_NEWUSER)"},
		{"unshare-user", "EPERM", "unshare(CLONE_NEWUSER)"},
		{"kill:1", "EPERM", "signal the PID namespace's init (Landlock signal scope)"},
		{"ptrace:1", "EPERM", "ptrace the PID namespace's init"},
		{"chmod:" + f.owned, "EPERM", "chmod of a file outside the policy that another uid (nobody) owns: the session's own uid owns nothing there"},
		{"limits", "1024/1024 256/256 600/600 4294967296/4294967296 1073741824/1073741824 0/0", "rlimits from [limits]"},
	}
	var attempts []string
	for _, tt := range tests {
		attempts = append(attempts, tt.attempt)
	}
	got, exit := probeResults(t, p, Options{}, f.probe, append(attempts, "ids")...)
	if exit != (Exit{}) {
		t.Errorf("probe exit: %v", exit)
	}
	for _, tt := range tests {
		if g := got[tt.attempt]; g != tt.want {
			t.Errorf("%s (%s): got %q, want %q", tt.attempt, tt.why, g, tt.want)
		}
	}
	// As root, user = "" is a dynamic uid of the session's own, with the
	// equal gid and no supplementary groups.
	var uid, gid, groups uint32
	if _, err := fmt.Sscanf(got["ids"], "%d %d %d", &uid, &gid, &groups); err != nil || !p.Program.DynamicUIDs.Contains(uid) || gid != uid || groups != 0 {
		t.Errorf("ids: got %q, want a uid from dynamic_uids %s, the same gid and no groups", got["ids"], p.Program.DynamicUIDs)
	}
	// The rlimits were applied to the program only.
	var nofile unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &nofile)
	if nofile.Cur == 1024 && nofile.Max == 1024 {
		t.Errorf("the test process's own RLIMIT_NOFILE is 1024/1024: the limits leaked")
	}
	// Nothing the program wrote into its /tmp reached the host's.
	if _, err := os.Stat("/tmp/x"); err == nil {
		t.Errorf("/tmp/x exists on the host")
	}
}

// TestConfinementNamedUser: a user the policy names is shared with
// everything else that runs as it, so the metadata guard refuses chmod on
// its files outside the policy (EACCES: Landlock up to ABI 7 has no right
// for it), and the ids are that user's.
func TestConfinementNamedUser(t *testing.T) {
	testenv.RequireRoot(t)
	f := newFixture(t)
	p := testPolicy(t, func(p *policy.Policy) { p.Program.User = "nobody" })
	got, exit := probeResults(t, p, Options{}, f.probe, "chmod:"+f.owned, "ids")
	if exit != (Exit{}) {
		t.Errorf("probe exit: %v", exit)
	}
	for attempt, want := range map[string]string{"chmod:" + f.owned: "EACCES", "ids": "65534 65534 0"} {
		if got[attempt] != want {
			t.Errorf("%s: got %q, want %q", attempt, got[attempt], want)
		}
	}
}

// MPTCPErrnoName is the name of MPTCPErrno as the probe helper prints it.
var MPTCPErrnoName = unix.ErrnoName(MPTCPErrno)

// TestForeignABIsKill checks that no i386 (int 0x80) or x32 syscall gets
// through: the filter is written for x86-64 numbers and kills the program
// with SIGSYS. Where this host faults on the instruction before any
// syscall (its unconfined control dies of SIGSEGV), the sandboxed program
// must die of the same fault: testenv.ForeignSyscallWant.
func TestForeignABIsKill(t *testing.T) {
	testenv.RequireRoot(t)
	probe := cHelper(t, "probe")
	for _, attempt := range []string{"int80", "x32"} {
		t.Run(attempt, func(t *testing.T) {
			control := probeControl(t, probe, attempt)
			want, err := testenv.ForeignSyscallWant(control)
			if err != nil {
				t.Fatalf("unconfined %s %s: %v", probe, attempt, err)
			}
			got, exit := probeResults(t, testPolicy(t, nil), Options{}, probe, attempt)
			if exit.Signal == 0 || unix.SignalName(exit.Signal) != want || len(got) != 0 {
				t.Errorf("exit %v, output %v; want killed by %s, no output (the unconfined control on this host gave %s)", exit, got, want, control)
			}
		})
	}
}

// probeControl runs the probe helper's attempt unconfined and returns its
// outcome: the probe's answer ("ok" or an errno name), or the name of the
// signal that killed it.
func probeControl(t *testing.T, probe, attempt string) string {
	t.Helper()
	out, err := exec.Command(probe, attempt).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return unix.SignalName(ws.Signal())
		}
	}
	if err != nil {
		t.Fatalf("unconfined %s %s: %v", probe, attempt, err)
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), attempt+" ")
}

// TestPrivateTmpIsolation runs two sandboxes at once: neither sees the
// other's /tmp, and the host sees neither.
func TestPrivateTmpIsolation(t *testing.T) {
	testenv.RequireRoot(t)
	p := testPolicy(t, nil)
	s := mustNew(t, p, []string{"sh", "-c", `mktemp >/dev/null && mktemp -p /var/tmp >/dev/null && echo ready; read go; ls -A /tmp /var/tmp | wc -l`}, Options{})
	type sess struct {
		proc *Process
		in   *os.File
		out  *os.File
	}
	start := func() sess {
		inR, inW := pipe(t)
		outR, outW := pipe(t)
		proc, err := s.Start(StartConfig{Stdin: int(inR.Fd()), Stdout: int(outW.Fd()), Stderr: int(outW.Fd()), Env: []string{"PATH=/usr/bin:/bin"}})
		must(t, err)
		inR.Close()
		outW.Close()
		t.Cleanup(func() { proc.Close() })
		return sess{proc, inW, outR}
	}
	a, b := start(), start()
	// Both have created their files before either lists.
	for _, x := range []sess{a, b} {
		buf := make([]byte, 6)
		if _, err := io.ReadFull(x.out, buf); err != nil || string(buf) != "ready\n" {
			t.Fatalf("read %q, %v", buf, err)
		}
	}
	for _, x := range []sess{a, b} {
		io.WriteString(x.in, "go\n")
		x.in.Close()
		out, _ := io.ReadAll(x.out)
		// "/tmp:", one file, "", "/var/tmp:", one file.
		if got := strings.TrimSpace(string(out)); got != "5" {
			t.Errorf("ls -A /tmp /var/tmp | wc -l = %q, want 5: only the session's own two files", got)
		}
		if exit, err := x.proc.Wait(); err != nil || exit.Code != 0 {
			t.Errorf("exit %v %v", exit, err)
		}
	}
}

// TestProgramAlwaysRunnable checks that a script outside every policy path
// (like the seed's /opt/octoi-helloworld.sh) runs under the default policy:
// the program and its #! interpreter get read+execute automatically.
func TestProgramAlwaysRunnable(t *testing.T) {
	testenv.RequireRoot(t)
	dir, err := os.MkdirTemp("/run", "sockjail-opt-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	for _, tt := range []struct{ name, shebang string }{
		{"direct.sh", "#!/bin/bash"},
		{"env.sh", "#!/usr/bin/env bash"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			script := filepath.Join(dir, tt.name)
			must(t, os.WriteFile(script, []byte(tt.shebang+"\necho Hello World\n"), 0o755))
			p := testPolicy(t, func(p *policy.Policy) {
				// Even with nothing executable: the program and its
				// interpreters are added.
				p.Filesystem.Exec = nil
			})
			r := run(t, p, Options{}, "", script)
			if r.stdout != "Hello World\n" || r.exit != (Exit{}) {
				t.Errorf("stdout %q stderr %q exit %v", r.stdout, r.stderr, r.exit)
			}
		})
	}
	if _, err := os.Stat("/opt/octoi-helloworld.sh"); err == nil {
		r := run(t, testPolicy(t, nil), Options{}, "", "/opt/octoi-helloworld.sh")
		if !strings.Contains(r.stdout, "Hello World") {
			t.Errorf("/opt/octoi-helloworld.sh: stdout %q stderr %q exit %v", r.stdout, r.stderr, r.exit)
		}
	}
}

// TestBindAllowed: with a bind_tcp port, bind+listen on it works, another
// port is refused, and the report says that listen(2)'s autobind is not
// covered.
func TestBindAllowed(t *testing.T) {
	testenv.RequireRoot(t)
	probe := cHelper(t, "probe")
	allowed, other := testenv.FreeTCPPort(t), testenv.FreeTCPPort(t)
	p := testPolicy(t, func(p *policy.Policy) {
		p.Network.BindTCP = []policy.PortRange{{Lo: uint16(allowed), Hi: uint16(allowed)}}
	})
	got, exit := probeResults(t, p, Options{}, probe, fmt.Sprintf("bind-listen:%d", allowed), fmt.Sprintf("bind-listen:%d", other))
	if exit != (Exit{}) || got[fmt.Sprintf("bind-listen:%d", allowed)] != "ok" || got[fmt.Sprintf("bind-listen:%d", other)] != "EACCES" {
		t.Errorf("exit %v, results %v; want the allowed port ok, the other EACCES", exit, got)
	}
	s := mustNew(t, p, []string{"true"}, Options{})
	if !slices.ContainsFunc(s.Report().Skipped, func(m string) bool { return strings.Contains(m, "listen(2)") }) {
		t.Errorf("Skipped = %q, want the listen autobind note", s.Report().Skipped)
	}
}
