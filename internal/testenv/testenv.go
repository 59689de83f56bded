// Package testenv holds helpers shared by sockjail's tests.
package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/buildflags"
	"github.com/sockjail/sockjail/internal/exitcode"
)

// NoSkipEnv names the environment variable that turns skips for missing
// kernel features or tools into failures. .ci/run sets it, because the CI
// machine has every feature and a skip there would hide a broken test.
const NoSkipEnv = "SOCKJAIL_NO_SKIP"

// SkipOrFail skips the test with reason, or fails it when NoSkipEnv is set.
// Use it only for a missing kernel feature, privilege or external tool.
func SkipOrFail(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(NoSkipEnv) != "" {
		t.Fatalf("cannot run (and %s is set, so this is a failure): %s", NoSkipEnv, reason)
	}
	t.Skip(reason)
}

// RequireRoot skips or fails unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "needs root")
	}
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Sockjail builds the real sockjail binary once per test process and returns
// its path. Integration tests drive this binary, never an in-process stand-in.
func Sockjail(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sockjail-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "sockjail")
		root, err := ModuleRoot()
		if err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command("go", append(append([]string{"build"}, buildflags.Release...), "-o", buildPath, "./cmd/sockjail")...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/sockjail: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

var (
	debOnce sync.Once
	debPath string
	debErr  error
)

// SockjailDeb builds sockjail's Debian package from the Sockjail binary,
// once per test process, with internal/packaging/build-deb (what `make
// deb` runs, without its lintian check), and returns its path.
func SockjailDeb(t testing.TB) string {
	t.Helper()
	bin := Sockjail(t)
	debOnce.Do(func() {
		root, err := ModuleRoot()
		if err != nil {
			debErr = err
			return
		}
		cmd := exec.Command(filepath.Join(root, "internal", "packaging", "build-deb"), bin, filepath.Dir(bin))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			debErr = fmt.Errorf("internal/packaging/build-deb: %v\n%s", err, stderr.String())
			return
		}
		debPath = strings.TrimSpace(string(out))
	})
	if debErr != nil {
		t.Fatal(debErr)
	}
	return debPath
}

// ModuleRoot returns the directory holding sockjail's go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// LookTool returns the path of an external tool (socat, haproxy, …), or
// skips (fails under NoSkipEnv) when it is not installed.
func LookTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		SkipOrFail(t, name+" is not installed")
	}
	return p
}

// FreeLoopbackAddr returns "127.0.0.1:PORT" with a TCP port that nothing
// listened on a moment ago, for a server a test starts itself. The port is
// outside the kernel's ephemeral range: a port the kernel hands out for
// listen(":0") is also one it hands to outgoing connections, and these
// tests make thousands, so between this check and the server's bind one of
// them took the port now and then (EADDRINUSE in CI). No port is returned
// twice in one test process.
func FreeLoopbackAddr(t testing.TB) string {
	t.Helper()
	lo, hi := nonEphemeralPorts()
	portsMu.Lock()
	defer portsMu.Unlock()
	for try := 0; try < 1000; try++ {
		port := lo + rand.IntN(hi-lo)
		if portsGiven[port] {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			continue
		}
		l.Close()
		portsGiven[port] = true
		return addr
	}
	t.Fatalf("no free loopback TCP port in %d..%d", lo, hi)
	return ""
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// nonEphemeralPorts returns the larger of the port ranges below and above
// the kernel's ephemeral range (net.ipv4.ip_local_port_range), without the
// privileged ports and 1024..9999, where services listen.
func nonEphemeralPorts() (lo, hi int) {
	elo, ehi := 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			a, err1 := strconv.Atoi(f[0])
			z, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && a <= z {
				elo, ehi = a, z
			}
		}
	}
	const floor, top = 10000, 65536
	below, above := elo-floor, top-(ehi+1)
	if below >= above && below > 0 {
		return floor, elo
	}
	if above > 0 {
		return ehi + 1, top
	}
	return floor, top // the whole range is ephemeral: nothing better
}

// FreeTCPPort is FreeLoopbackAddr's port.
func FreeTCPPort(t testing.TB) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(FreeLoopbackAddr(t))
	n, _ := strconv.Atoi(port)
	return n
}

// PlainTCPListener listens on a loopback port the kernel picks, with plain
// TCP rather than MPTCP, as sockjail's own listeners do. The caller closes it.
func PlainTCPListener(t testing.TB) net.Listener {
	t.Helper()
	lc := net.ListenConfig{}
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TCPPair returns both ends of a loopback TCP connection: the client's,
// and the accepted end as a file for a child's fd 0 and 1, as systemd's
// Accept=yes hands it (plain TCP, not MPTCP, and blocking). Both are closed
// when the test ends; a test whose child must own the connection closes the
// server file itself once the child has started.
func TCPPair(t testing.TB) (client *net.TCPConn, server *os.File) {
	t.Helper()
	ln := PlainTCPListener(t)
	defer ln.Close()
	d := net.Dialer{Timeout: 10 * time.Second}
	d.SetMultipathTCP(false)
	c, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f, err := sc.(*net.TCPConn).File()
	sc.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	// Go's poller made the shared open file description non-blocking;
	// a program reading its stdin must see a blocking socket.
	if err := syscall.SetNonblock(int(f.Fd()), false); err != nil {
		t.Fatal(err)
	}
	return c.(*net.TCPConn), f
}

// ClosingTCPPort serves a plain-TCP (not MPTCP, as sockjail's own listeners)
// loopback port that accepts each connection and closes it at once, for
// connect attempts that only need to succeed or be denied. It returns the
// port; the listener closes when the test ends.
func ClosingTCPPort(t testing.TB) int {
	t.Helper()
	ln := PlainTCPListener(t)
	t.Cleanup(func() { ln.Close() })
	go AcceptAndClose(ln)
	return ln.Addr().(*net.TCPAddr).Port
}

// AcceptAndClose accepts connections on ln and closes each at once, until
// ln is closed.
func AcceptAndClose(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// LineBackend serves a loopback port that answers each connection's first
// line with "ok LINE", for programs under test that connect somewhere. It
// returns the port; the listener closes when the test ends.
func LineBackend(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				io.WriteString(c, "ok "+line)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// LockedBuffer collects a process's output (its stderr, say) while the test
// reads it from another goroutine.
type LockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ExitStatus returns the status of a command from its Run, Output or Wait
// error, as a shell reports it: 0 for nil, the exit code, or 128+N when
// signal N killed it (as sockjail reports its program's death). An error
// that is not an exit status (the command did not start) is returned.
func ExitStatus(err error) (int, error) {
	var ee *exec.ExitError
	if err == nil {
		return 0, nil
	}
	if !errors.As(err, &ee) {
		return 0, err
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return exitcode.SignalBase + int(ws.Signal()), nil
	}
	return ee.ExitCode(), nil
}
