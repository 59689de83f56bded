package main

// Escape attempts through syscall families that Landlock does not mediate
// (issue 21): unix datagram sockets from socketpair(2), socket triples
// that Landlock's TCP rules miss, the interface ioctls, inotify, and every
// syscall that changes a file's metadata. Each runs in the three modes of
// escape_test.go, with a bare control that shows the attempt works
// unconfined; testdata/escape/README.md has the table.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockjail/sockjail/internal/escapetest"
	"github.com/sockjail/sockjail/policy"
	"github.com/sockjail/sockjail/sandbox"
)

// escBare runs argv unconfined as escapetest.UnprivUID and returns its output.
func escBare(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command("setpriv", append(escapetest.Setpriv(escapetest.UnprivUID)[1:], argv...)...).Output()
	if err != nil {
		t.Fatalf("unconfined %v: %v", argv, err)
	}
	return string(out)
}

// escDatagramSink is a pathname unix datagram socket, mode 0666, that a
// process outside the sandbox reads, as journald's or an sd_notify socket.
type escDatagramSink struct {
	path string
	got  chan string
}

func newEscDatagramSink(t *testing.T, path string) *escDatagramSink {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); os.Remove(path) })
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	s := &escDatagramSink{path: path, got: make(chan string, 64)}
	go func() {
		buf := make([]byte, 256)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			s.got <- string(buf[:n])
		}
	}()
	return s
}

// received reports whether token arrived within a moment (local delivery
// is immediate; the wait covers scheduling).
func (s *escDatagramSink) received(token string) bool {
	deadline := time.After(500 * time.Millisecond)
	for {
		select {
		case g := <-s.got:
			if g == token {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

// TestEscapeUnixDatagram: a datagram socket from socketpair(2) reaches a
// pathname socket outside the policy by sendto(2) or connect(2) (the audit
// delivered a line to a 0666 socket in all three modes). Below Landlock ABI
// 9, while socket(AF_UNIX) is refused, the sandbox refuses datagram
// socketpairs too (EACCES at step=socketpair): SOCK_DGRAM, and SOCK_RAW,
// which AF_UNIX turns into SOCK_DGRAM. Stream and seqpacket pairs stay: a
// connected stream socket can't connect again (EISCONN), a seqpacket one
// sends to its peer whatever address it is given.
func TestEscapeUnixDatagram(t *testing.T) {
	e := escapetest.Setup(t)
	sink := newEscDatagramSink(t, filepath.Join(e.Root, "sock", "d"))
	attempt := func(mode string) []string {
		target := sink.path
		if mode == "stream" {
			target = e.Vars["unixsock"] // a stream listener
		}
		return []string{filepath.Join(e.Bin, "dgram"), mode, target}
	}
	t.Run("bare", func(t *testing.T) {
		for _, mode := range []string{"sendto", "connect", "raw"} {
			token := fmt.Sprintf("bare-%s-%d", mode, time.Now().UnixNano())
			out := escBare(t, append(attempt(mode), token)...)
			if _, err := escapetest.Verify("dgram-"+mode, "ok", out, 0); err != nil || !sink.received(token) {
				t.Errorf("unconfined %s: %v, datagram received: false", mode, err)
			}
		}
	})
	for _, m := range escapetest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			for _, c := range []struct{ mode, want, step string }{
				{"sendto", "EACCES", "socketpair"},
				{"connect", "EACCES", "socketpair"},
				{"raw", "EACCES", "socketpair"},
				{"seqpacket", "ok", ""},
				{"stream", "EISCONN", "connect"},
			} {
				token := fmt.Sprintf("%s-%s-%d", m.Name, c.mode, time.Now().UnixNano())
				s, out, code := e.Run(t, m, "default", nil, append(attempt(c.mode), token))
				arrived := sink.received(token)
				r, err := escapetest.Verify("dgram-"+c.mode, c.want, out, code)
				if err == nil && c.step != "" {
					err = escapetest.Step(c.step)(m.Name, "default", r.Fields)
				}
				if err != nil || arrived {
					t.Errorf("%s: %v, datagram received: %v\nsockjail's log:\n%s", s.Desc, err, arrived, s.Stderr.String())
				}
			}
			// The policy that turns the abstract scope off asks for
			// unix sockets: then datagrams get through, and the log
			// line says pathname sockets are not restricted.
			token := fmt.Sprintf("%s-abstract-%d", m.Name, time.Now().UnixNano())
			s, out, code := e.Run(t, m, "abstract", nil, append(attempt("sendto"), token))
			if _, err := escapetest.Verify("dgram-sendto", "ok", out, code); err != nil || !sink.received(token) || !strings.Contains(s.Stderr.String(), "pathname unix sockets") {
				t.Errorf("%s: want ok, the datagram and a log line about pathname unix sockets: %v\nsockjail's log:\n%s", s.Desc, err, s.Stderr.String())
			}
		})
	}
}

// TestEscapeSocketTriples: sockets whose (family, type, protocol) Landlock's
// TCP rules don't cover get EPROTONOSUPPORT from the filter, under the
// default policy and under the one that allows a TCP port. This kernel has
// no SCTP or SMC, so for those the kernel alone would give the same answer:
// sandbox/seccomp_sim_test.go checks the filter itself for every number.
// Raw and inet seqpacket sockets exist here and show the filter's answer
// (unconfined: EPERM for an unprivileged raw socket, ESOCKTNOSUPPORT).
func TestEscapeSocketTriples(t *testing.T) {
	e := escapetest.Setup(t)
	triples := []struct{ name, family, typ, proto string }{
		{"sctp", "2", "1", "132"},
		{"sctp6-seqpacket", "10", "5", "132"},
		{"smc", "2", "1", "256"},
		{"raw", "2", "3", "1"},
		{"seqpacket", "2", "5", "0"},
	}
	argv := func(i int) []string {
		c := triples[i]
		return []string{filepath.Join(e.Bin, "triple"), c.name, c.family, c.typ, c.proto}
	}
	t.Run("bare", func(t *testing.T) {
		for i, c := range triples {
			out, err := exec.Command(argv(i)[0], argv(i)[1:]...).Output()
			if err != nil {
				t.Fatal(err)
			}
			r := escapetest.ParseResult(strings.TrimSpace(string(out)))
			if c.name == "raw" && r.Fields["result"] != "ok" {
				t.Errorf("unconfined as root, a raw socket: %q", r.Raw)
			}
			t.Logf("unconfined as root: %s", r.Raw)
		}
	})
	for _, m := range escapetest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			for _, pol := range []string{"default", "connect"} {
				for i, c := range triples {
					s, out, code := e.Run(t, m, pol, nil, argv(i))
					if _, err := escapetest.Verify("triple-"+c.name, "EPROTONOSUPPORT", out, code); err != nil {
						t.Errorf("%s: %v\nsockjail's log:\n%s", s.Desc, err, s.Stderr.String())
					}
				}
			}
		})
	}
}

// TestEscapeInterfaces: the socket ioctls that list the host's interfaces
// answer for the socket's network namespace, and the connection on fd 0 is
// the host's, so no namespace of the program's would hide them (the audit
// listed eth0 and its address). The filter refuses them: EACCES at
// step=ioctl, in every mode.
func TestEscapeInterfaces(t *testing.T) {
	e := escapetest.Setup(t)
	prog := filepath.Join(e.Bin, "ifconf")
	t.Run("bare", func(t *testing.T) {
		for _, mode := range []string{"socket", "name", "index"} {
			if _, err := escapetest.Verify("ifconf-"+mode, "ok", escBare(t, prog, mode), 0); err != nil {
				t.Errorf("unconfined: %v", err)
			}
		}
		// lo has no neighbour entry: the kernel's answer, not EACCES.
		if r := escapetest.ParseResult(strings.TrimSpace(escBare(t, prog, "arp"))); r.Fields["result"] == "EACCES" {
			t.Errorf("unconfined SIOCGARP: %q", r.Raw)
		}
	})
	for _, m := range escapetest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			for _, mode := range []string{"fd0", "socket", "name", "index", "arp"} {
				s, out, code := e.Run(t, m, "default", nil, []string{prog, mode})
				r, err := escapetest.Verify("ifconf-"+mode, "EACCES", out, code)
				if err == nil {
					err = escapetest.Step("ioctl")(m.Name, "default", r.Fields)
				}
				if err != nil {
					t.Errorf("%s: %v\nsockjail's log:\n%s", s.Desc, err, s.Stderr.String())
				}
			}
		})
	}
}

// TestEscapeInotify: inotify_add_watch on a directory outside the policy
// reports the names and accesses of the files in it, and Landlock doesn't
// mediate inotify. The default policy denies inotify_add_watch (EPERM, the
// policy's errno); a policy that allows it again gets it, and the session's
// log line says what that opens.
func TestEscapeInotify(t *testing.T) {
	e := escapetest.Setup(t)
	argv := []string{filepath.Join(e.Bin, "inotify"), e.Vars["secretdir"]}
	def := policy.Default()
	deny := slices.DeleteFunc(slices.Clone(def.Syscalls.Deny), func(s string) bool { return s == "inotify_add_watch" })
	if len(deny) == len(def.Syscalls.Deny) {
		t.Fatalf("the default policy does not deny inotify_add_watch: %v", def.Syscalls.Deny)
	}
	allow := filepath.Join(e.Root, "policies", "inotify.toml")
	escapetest.WriteFile(t, allow, fmt.Sprintf("version = 1\n[syscalls]\ndeny = [%s]\n", `"`+strings.Join(deny, `", "`)+`"`), 0o644)
	e.Policies["inotify"] = allow

	t.Run("bare", func(t *testing.T) {
		if _, err := escapetest.Verify("inotify-watch", "ok", escBare(t, argv...), 0); err != nil {
			t.Errorf("unconfined: %v", err)
		}
	})
	for _, m := range escapetest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			deniedUnlessNoted(t, e, m, argv, "inotify-watch", "EPERM", "add_watch", "inotify", "inotify_add_watch reports")
		})
	}
}

// escMetadataCalls are the calls of metaall.c: every x86-64 syscall that
// changes a file's metadata (sandbox/seccomp_sim_test.go checks the list
// against the kernel's table) and the two attribute ioctls.
var escMetadataCalls = []string{
	"chmod", "fchmod", "fchmodat", "fchmodat2",
	"chown", "fchown", "lchown", "fchownat",
	"utime", "utimes", "futimesat", "utimensat",
	"setxattr", "lsetxattr", "fsetxattr", "setxattrat",
	"removexattr", "lremovexattr", "fremovexattr", "removexattrat",
	"file_setattr", "ioctl-setflags", "ioctl-fssetxattr",
}

// escByDescriptor reports whether metaall makes call on a descriptor it
// opens read-only first.
func escByDescriptor(call string) bool {
	return slices.Contains([]string{"fchmod", "fchown", "fsetxattr", "fremovexattr", "ioctl-setflags", "ioctl-fssetxattr"}, call)
}

// escMetadataFile creates a file in the secret directory (outside the
// default policy, read-only under "read") owned by uid, with the xattr
// the remove calls remove, and returns it with its stat.
func escMetadataFile(t *testing.T, e *escapetest.Env, name string, uid int) (string, unix.Stat_t) {
	t.Helper()
	f := filepath.Join(e.Vars["secretdir"], name)
	escapetest.WriteFile(t, f, "a file the program's uid owns\n", 0o600)
	t.Cleanup(func() { os.Remove(f) })
	if err := os.Chown(f, uid, uid); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(f, "user.sockjail", []byte("0"), 0); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(f, &st); err != nil {
		t.Fatal(err)
	}
	// A change within the same clock tick would keep ctime: let one
	// pass, so that ctime shows any change that went through.
	time.Sleep(10 * time.Millisecond)
	return f, st
}

// TestEscapeMetadataSyscalls runs every metadata syscall on a file the
// program's uid owns (in root mode nobody's, which a policy names; the
// unprivileged uid's otherwise), in every mode, outside the policy (default) and under a
// read-only rule ("read"). Landlock has no right for any of them. The
// chown family is outside the default policy (EPERM); every other call
// must fail with EACCES, from the filter (step=call) or, for a descriptor
// call outside the policy, from Landlock at open. The file's ctime must
// not move. The audit's file_setattr (469, newer than libseccomp 2.5.4)
// set flags on such a file.
func TestEscapeMetadataSyscalls(t *testing.T) {
	e := escapetest.Setup(t)
	prog := filepath.Join(e.Bin, "metaall")
	t.Run("bare", func(t *testing.T) {
		for _, call := range escMetadataCalls {
			f, before := escMetadataFile(t, e, "meta-bare-"+call, escapetest.UnprivUID)
			r := escapetest.ParseResult(strings.TrimSpace(escBare(t, prog, call, f)))
			var after unix.Stat_t
			unix.Stat(f, &after)
			switch {
			case r.Fields["result"] == "ok" && after.Ctim != before.Ctim:
			case r.Fields["result"] == "ENOSYS" || r.Fields["result"] == "EOPNOTSUPP" || r.Fields["result"] == "ENOTTY":
				// A kernel or file system without the call: the
				// sandbox's answer below doesn't depend on it.
				t.Logf("unconfined %s: %s on this host", call, r.Raw)
			default:
				t.Errorf("unconfined %s: %q, ctime moved: %v", call, r.Raw, after.Ctim != before.Ctim)
			}
		}
	})
	for _, m := range escapetest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			for _, pol := range []string{"default", "read"} {
				runPol, uid := pol, escapetest.ProgramUID(m.Name, pol)
				if uid == escapetest.DynamicUID {
					// As root, user = "" is a uid of the session's
					// own, which owns nothing outside it: the guard
					// is for a user that the policy names and shares.
					runPol, uid = escNamedUserPolicy(t, e, pol, "nobody"), sandbox.NobodyID
				}
				for _, call := range escMetadataCalls {
					f, before := escMetadataFile(t, e, fmt.Sprintf("meta-%s-%s-%s", m.Name, runPol, call), uid)
					want, step := "EACCES", "call"
					if pol == "default" && escByDescriptor(call) {
						step = "open" // Landlock, before the call
					} else if strings.Contains(call, "chown") {
						want = "EPERM" // @chown is outside the default policy
					}
					s, out, code := e.Run(t, m, runPol, nil, []string{prog, call, f})
					var after unix.Stat_t
					if err := unix.Stat(f, &after); err != nil {
						t.Fatal(err)
					}
					r, err := escapetest.Verify("meta-"+call, want, out, code)
					if err == nil {
						err = escapetest.Step(step)(m.Name, pol, r.Fields)
					}
					if err == nil && (after.Ctim != before.Ctim || after.Mode != before.Mode || after.Uid != before.Uid) {
						err = fmt.Errorf("the file changed: mode %o→%o, uid %d→%d, ctime %v→%v", before.Mode, after.Mode, before.Uid, after.Uid, before.Ctim, after.Ctim)
					}
					if err != nil {
						t.Errorf("%s: %v\nsockjail's log:\n%s", s.Desc, err, s.Stderr.String())
					}
				}
			}
		})
	}
}

// TestEscapeOtherProcesses: prlimit64, setpriority and sched_setaffinity on
// sockjail's own pid. The kernel asks only for the same uid, and Landlock's
// scopes cover signals and ptrace, not these. With a PID namespace
// sockjail is out of sight (ESRCH at step=get); without one (the
// unprivileged-no-userns mode) it runs as the program's uid, and the filter
// refuses changing any process but the caller (EPERM at step=set), where
// main let the program lower sockjail's own limits.
func TestEscapeOtherProcesses(t *testing.T) {
	e := escapetest.Setup(t)
	prog := filepath.Join(e.Bin, "prio")
	modes := []string{"prlimit", "nice", "affinity"}
	t.Run("bare", func(t *testing.T) {
		sleeper := exec.Command("setpriv", append(escapetest.Setpriv(escapetest.UnprivUID)[1:], "sleep", "60")...)
		if err := sleeper.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
		pid := fmt.Sprint(sleeper.Process.Pid)
		// Until setpriv has changed its ids and exec'd sleep, the
		// process is root's.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if b, _ := os.ReadFile("/proc/" + pid + "/comm"); strings.TrimSpace(string(b)) == "sleep" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the sleeper did not start")
			}
		}
		for _, mode := range modes {
			if _, err := escapetest.Verify("prio-"+mode, "ok", escBare(t, prog, mode, pid), 0); err != nil {
				t.Errorf("unconfined, another process of the same uid: %v", err)
			}
		}
	})
	for _, m := range escapetest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			want, step := "ESRCH", "get"
			if slices.Contains(m.Env, "SOCKJAIL_TEST_NO_USERNS=1") {
				want, step = "EPERM", "set"
			}
			for _, mode := range modes {
				s, out, code := e.Run(t, m, "default", nil, []string{prog, mode, "{supervisor}"})
				r, err := escapetest.Verify("prio-"+mode, want, out, code)
				if err == nil {
					err = escapetest.Step(step)(m.Name, "default", r.Fields)
				}
				if err != nil {
					t.Errorf("%s: %v\nsockjail's log:\n%s", s.Desc, err, s.Stderr.String())
				}
			}
		})
	}
}
