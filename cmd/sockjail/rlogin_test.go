package main

// Integration tests of rlogin ([terminal] protocol = "rlogin", issue 20):
// the real rlogin client of rsh-redone-client, on a pty, against the real
// binary as `sockjail serve` and as `sockjail run` behind
// systemd-socket-activate, serving the menu program under the real sandbox.

import (
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/relay/termtest"
	"github.com/sockjail/sockjail/internal/rlogin"
	"github.com/sockjail/sockjail/internal/testenv"
)

// rloginClient starts the rlogin client on a cols x rows pty with
// TERM=xterm, logging in to addr as serverUser. It binds a privileged
// source port, as rlogin clients do, so it runs as root (the tests do).
func rloginClient(t *testing.T, addr, serverUser string, cols, rows int) *termtest.Term {
	t.Helper()
	path := testenv.LookTool(t, "rsh-redone-rlogin")
	host, port, _ := net.SplitHostPort(addr)
	return termtest.Client(t, path, cols, rows, "-l", serverUser, "-p", port, host)
}

// TestRloginMenu logs into the menu with the real rlogin client, through
// serve and through run: the menu works as on telnet, TERM, the window
// size, the user names and the speed come from the client's handshake (and
// the program still runs as its own dynamic uid), resizing the client's
// window resizes the program's terminal, and quitting ends the client.
func TestRloginMenu(t *testing.T) {
	bin := interactiveBin(t)
	menu := filepath.Join(bin, "menu")
	const terminal = "protocol = \"rlogin\"\n"
	for _, how := range []string{"serve", "run"} {
		t.Run(how, func(t *testing.T) {
			var s *interactive
			if how == "serve" {
				s, _ = serveMenu(t, bin, interactivePolicy(t, bin, terminal, "0"))
			} else {
				s = serveInteractive(t, bin, terminal, "0", menu)
			}
			term := rloginClient(t, s.addr, "bob", 100, 30)
			t.Logf("prompt after %v", termtest.MenuLogin(t, term, interactiveWait))
			term.Send("t\r")
			out, err := term.Expect("tty=/dev/pts/", interactiveWait)
			if err == nil {
				var rest string
				rest, err = term.Expect("Choice: ", interactiveWait)
				out += rest
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "TERM=xterm size=100x30\r\n") {
				t.Errorf("terminal report %q, want TERM=xterm size=100x30", out)
			}
			// The client's speed is its terminal's: 38400 on a new pty.
			m := regexp.MustCompile(`rlogin user=root server_user=bob speed=38400 uid=(\d+)\r\n`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("rlogin report missing from %q", out)
			}
			if m[1] == "0" {
				t.Errorf("the program runs as root")
			}

			if err := term.Resize(120, 40); err != nil {
				t.Fatal(err)
			}
			// The client sends the new size on SIGWINCH; ask until the
			// program's terminal has it.
			deadline := time.Now().Add(interactiveWait)
			for {
				term.Send("t\r")
				out, err := term.Expect("tty=/dev/pts/", interactiveWait)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(out, "size=120x40") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the resize did not reach the program: %q", out)
				}
				time.Sleep(50 * time.Millisecond)
			}
			term.Send("q\r")
			if _, err := term.Expect("Bye.", interactiveWait); err != nil {
				t.Fatal(err)
			}
			if err := term.Wait(interactiveWait); err != nil {
				t.Logf("rlogin client: %v", err) // it exits 1 when the server closes
			}
			if tr := term.Transcript(); strings.Contains(tr, "\xff\xffss") {
				t.Errorf("a window-size message reached the screen: %q", tr)
			}
			waitLog(t, s, "msg=connection ", func(line string) string {
				if !strings.Contains(line, " status=0 ") || strings.Contains(line, "reason=") {
					return "the session did not end cleanly"
				}
				return ""
			})
		})
	}
}

// TestRloginHandshakeStall: a client that starts the handshake and stalls
// is cut at the handshake's deadline, refused, and no program is started
// for it; one that sends something else is refused at once. Stalled
// clients hold at most max_per_source slots of their source, so a flood
// of them from one address leaves a caller from another served.
func TestRloginHandshakeStall(t *testing.T) {
	bin := interactiveBin(t)
	s, srv := serveMenu(t, bin, interactivePolicy(t, bin, "protocol = \"rlogin\"\n[serve]\nmax_per_source = 2\n", "0"))
	bad := s.dial(t)
	bad.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	if n, err := bad.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("a client that isn't rlogin got %d bytes (%v)", n, err)
	}
	waitLog(t, s, "first byte is 0x47, not NUL", func(string) string { return "" })

	// Two stalled handshakes take the source's two slots; a third from the
	// same address is refused at once.
	start := time.Now()
	var stalled []*net.TCPConn
	for range 2 {
		c := dialFrom(t, "127.0.0.1", s.addr)
		t.Cleanup(func() { c.Close() })
		c.Write([]byte("\x00mallory\x00mallo"))
		stalled = append(stalled, c)
	}
	// Both are live (in their handshake) before the third comes: ask
	// serve's SIGUSR1 listing until it shows them.
	deadline := time.Now().Add(interactiveWait)
	for !strings.Contains(s.stderr.String(), "msg=sessions live=2 ") {
		if time.Now().After(deadline) {
			t.Fatalf("the stalled clients are not listed as live")
		}
		srv.Process.Signal(syscall.SIGUSR1)
		time.Sleep(50 * time.Millisecond)
	}
	third := dialFrom(t, "127.0.0.1", s.addr)
	defer third.Close()
	third.Write([]byte("\x00mallory\x00mallo"))
	waitLog(t, s, "reason=max-per-source", func(string) string { return "" })

	// A caller from elsewhere is served meanwhile.
	caller := dialFrom(t, "127.0.0.2", s.addr)
	defer caller.Close()
	caller.Write([]byte("\x00carol\x00carol\x00vt100/2400\x00"))
	got := make([]byte, 0, 64)
	buf := make([]byte, 64)
	for !strings.Contains(string(got), "Welcome") {
		n, err := caller.Read(buf)
		if err != nil {
			t.Fatalf("the caller from elsewhere: %v after %q", err, got)
		}
		got = append(got, buf[:n]...)
	}
	if got[0] != 0 {
		t.Errorf("the handshake's answer is 0x%02x, want NUL", got[0])
	}

	for _, c := range stalled {
		n, err := c.Read(make([]byte, 1))
		if n != 0 || err == nil {
			t.Errorf("a stalled handshake got %d bytes (%v)", n, err)
		}
	}
	// Generous bounds: the deadline, and not more than a busy machine's
	// few seconds past it.
	took := time.Since(start)
	if took < rlogin.HandshakeTimeout-time.Second || took > rlogin.HandshakeTimeout+20*time.Second {
		t.Errorf("cut after %v, want about %v", took, rlogin.HandshakeTimeout)
	}
	lines := waitLog(t, s, "reason=rlogin-handshake", func(line string) string {
		if strings.Count(s.stderr.String(), "not complete after 10s (14 bytes)") < 2 {
			return "want both stalled clients' lines"
		}
		return ""
	})
	for _, line := range lines {
		if strings.Contains(line, " pid=") || strings.Contains(line, "msg=connection ") {
			t.Errorf("a program was started for a failed handshake: %s", line)
		}
	}
}

// waitLog waits until a log line of s containing marker passes check (""
// is a pass), and returns every line containing marker.
func waitLog(t *testing.T, s *interactive, marker string, check func(string) string) []string {
	t.Helper()
	deadline := time.Now().Add(interactiveWait)
	for {
		var lines []string
		why := "no line with " + marker
		for _, line := range strings.Split(s.stderr.String(), "\n") {
			if strings.Contains(line, marker) {
				lines = append(lines, line)
				if why != "" {
					why = check(line)
				}
			}
		}
		if why == "" {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q", why, lines)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
