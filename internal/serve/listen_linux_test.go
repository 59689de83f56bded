package serve

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/testenv"
	"golang.org/x/sys/unix"
)

// TestListen checks the --listen forms: each gives a plain TCP (not MPTCP)
// listener whose accepted connections are blocking, close-on-exec fds.
func TestListen(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		dial    string // network for the client
		dialTo  string // host for the client
		domains []int  // acceptable SO_DOMAIN values
	}{
		{"127.0.0.1:0", "tcp4", "127.0.0.1", []int{unix.AF_INET}},
		{"[::1]:0", "tcp6", "::1", []int{unix.AF_INET6}},
		{":0", "tcp4", "127.0.0.1", []int{unix.AF_INET6, unix.AF_INET}},
		{"[::]:0", "tcp4", "127.0.0.1", []int{unix.AF_INET6}},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			l, err := Listen(tc.addr)
			if err != nil {
				if strings.Contains(tc.addr, ":") && errors.Is(err, unix.EADDRNOTAVAIL) {
					testenv.SkipOrFail(t, "no IPv6 loopback: "+err.Error())
				}
				t.Fatal(err)
			}
			defer l.Close()
			var lfd int
			rc, _ := l.ln.SyscallConn()
			rc.Control(func(fd uintptr) { lfd = int(fd) })
			if p, _ := unix.GetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_PROTOCOL); p != unix.IPPROTO_TCP {
				t.Fatalf("listener protocol = %d, want IPPROTO_TCP (%d), never MPTCP (%d)", p, unix.IPPROTO_TCP, unix.IPPROTO_MPTCP)
			}
			_, port, _ := net.SplitHostPort(l.Addr().String())
			c, err := net.Dial(tc.dial, net.JoinHostPort(tc.dialTo, port))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fd, err := l.accept()
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			fl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
			if fl&unix.O_NONBLOCK != 0 {
				t.Errorf("accepted fd is non-blocking (flags %#x); the program needs a blocking stdin", fl)
			}
			fdfl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
			if fdfl&unix.FD_CLOEXEC == 0 {
				t.Errorf("accepted fd is not close-on-exec: it would leak into other sessions' programs")
			}
			if p, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL); p != unix.IPPROTO_TCP {
				t.Errorf("accepted protocol = %d, want TCP", p)
			}
			dom, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
			found := false
			for _, d := range tc.domains {
				found = found || d == dom
			}
			if !found {
				t.Errorf("accepted domain = %d, want one of %v", dom, tc.domains)
			}
			// A blocking read sees the client's bytes.
			c.Write([]byte("hi"))
			buf := make([]byte, 2)
			if n, err := unix.Read(fd, buf); n != 2 || err != nil || string(buf) != "hi" {
				t.Fatalf("read %q, %v", buf[:max(n, 0)], err)
			}
		})
	}
}

func TestListenErrors(t *testing.T) {
	for _, addr := range []string{"31337", "localhost", "127.0.0.1:99999", "127.0.0.1:http2x", "192.0.2.1:0"} {
		if l, err := Listen(addr); err == nil {
			l.Close()
			t.Errorf("Listen(%q) succeeded", addr)
		} else if strings.Contains(err.Error(), "sockjail") || strings.Contains(err.Error(), "--listen") {
			t.Errorf("Listen(%q) error %q names the program or its flag: the command adds those", addr, err)
		}
	}
	// A port in use.
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l2, err := Listen(l.Addr().String()); err == nil {
		l2.Close()
		t.Error("listening twice on the same port succeeded")
	} else if !errors.Is(err, unix.EADDRINUSE) {
		t.Errorf("error %v, want EADDRINUSE", err)
	}
}

func TestAcceptAfterClose(t *testing.T) {
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := l.accept()
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("accept did not return after Close")
	}
}

// helperEnv makes the test binary act as a child started by
// systemd-socket-activate (see TestSystemdListeners).
const helperEnv = "SOCKJAIL_TEST_SYSTEMD_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(systemdHelper())
	}
	os.Exit(m.Run())
}

// systemdHelper takes the listeners passed by systemd-socket-activate,
// prints what it got, and answers one connection with "ok".
func systemdHelper() int {
	ls, err := SystemdListeners()
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	if v := os.Getenv("LISTEN_FDS"); v != "" {
		fmt.Println("error: LISTEN_FDS still set")
		return 1
	}
	fmt.Println("listeners:", len(ls), ls[0].Name, ls[0].Addr())
	fd, err := ls[0].accept()
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	unix.Write(fd, []byte("ok"))
	unix.Shutdown(fd, unix.SHUT_WR)
	buf := make([]byte, 16)
	unix.Read(fd, buf)
	unix.Close(fd)
	return 0
}

// TestSystemdListeners runs the real systemd-socket-activate: without
// --accept it passes a listening socket, which SystemdListeners takes; with
// --accept it passes a connected socket, which SystemdListeners refuses
// with a hint.
func TestSystemdListeners(t *testing.T) {
	ssa := testenv.LookTool(t, "systemd-socket-activate")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, accept := range []bool{false, true} {
		t.Run(fmt.Sprintf("accept=%v", accept), func(t *testing.T) {
			addr := testenv.FreeLoopbackAddr(t)
			_, port, _ := net.SplitHostPort(addr)
			args := []string{"-l", addr, "--fdname=web", "-E", helperEnv + "=1"}
			if accept {
				args = append(args, "--accept")
			}
			args = append(args, self)
			cmd := exec.Command(ssa, args...)
			out := &testenv.LockedBuffer{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			c := dialRetry(t, addr)
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 16)
			n, _ := c.Read(buf)
			c.Close()
			if !accept {
				cmd.Wait()
				if string(buf[:n]) != "ok" {
					t.Fatalf("client got %q, want ok; helper said:\n%s", buf[:n], out)
				}
				if !strings.Contains(out.String(), "listeners: 1 web 127.0.0.1:"+port) {
					t.Fatalf("helper output:\n%s", out)
				}
				return
			}
			// With --accept, systemd-socket-activate stays up; wait for the
			// helper's answer in its output.
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(out.String(), "error:") && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if !strings.Contains(out.String(), "a connected socket, not a listening one") {
				t.Fatalf("helper output:\n%s", out)
			}
		})
	}
}

func dialRetry(t *testing.T, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("connecting to %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNoListenFDs(t *testing.T) {
	t.Setenv("LISTEN_PID", "1")
	t.Setenv("LISTEN_FDS", "1")
	if _, err := SystemdListeners(); !errors.Is(err, ErrNoListenFDs) {
		t.Fatalf("LISTEN_PID of another process: %v, want ErrNoListenFDs", err)
	}
	if os.Getenv("LISTEN_FDS") != "" {
		t.Fatal("LISTEN_FDS not unset")
	}
}
