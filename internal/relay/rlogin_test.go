package relay

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockjail/sockjail/internal/rlogin"
)

// readUrgent waits for the TCP urgent byte the relay sends the client.
func readUrgent(t *testing.T, c *net.TCPConn) byte {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var b [1]byte
		var n int
		var rerr error
		raw.Control(func(fd uintptr) {
			n, _, rerr = unix.Recvfrom(int(fd), b[:], unix.MSG_OOB|unix.MSG_DONTWAIT)
		})
		if rerr == nil && n == 1 {
			return b[0]
		}
		// EINVAL: no urgent data announced yet; EAGAIN: announced, not
		// arrived.
		if rerr != unix.EINVAL && rerr != unix.EAGAIN {
			t.Fatalf("reading urgent data: %v", rerr)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no urgent byte within 10s")
	return 0
}

func windowMsg(rows, cols int) []byte {
	return []byte{0xff, 0xff, 's', 's', byte(rows >> 8), byte(rows), byte(cols >> 8), byte(cols), 0, 0, 0, 0}
}

// TestRloginSession plays an rlogin client against a shell on the relay's
// pty: the handshake's answer and the window request come first, the
// handshake sets TERM and the variables, the window-size message resizes
// the pty, and the program's flow-control changes and output flush reach
// the client as urgent bytes.
func TestRloginSession(t *testing.T) {
	script := `echo "env: $TERM|$SOCKJAIL_RLOGIN_USER|$SOCKJAIL_RLOGIN_SERVER_USER|$SOCKJAIL_TERM_SPEED"; read x; stty size
stty -ixon; echo raw; read x; stty ixon; echo cooked; read x; echo waiting; read x; echo not interrupted`
	handshake := func(c *net.TCPConn) {
		c.Write([]byte("\x00alice\x00bob\x00xterm-256color/19200\x00"))
	}
	s := start(t, Config{PTY: true, Rlogin: true}, handshake, "/bin/sh", "-c", script)
	if got := s.readUntil("\x00"); got != "\x00" {
		t.Fatalf("the handshake's answer: %q, want one NUL first", got)
	}
	if b := readUrgent(t, s.client); b != rlogin.ControlWindow {
		t.Fatalf("urgent byte 0x%02x, want the window request 0x80", b)
	}
	if out := s.readUntil("\r\n"); !strings.Contains(out, "env: xterm-256color|alice|bob|19200") {
		t.Errorf("program saw %q", out)
	}
	// Each urgent byte is read before the output around it. The pty
	// reports a status change ahead of output written before it, so the
	// mark may come before "41 123"; and a plain read that starts at an
	// unread mark drops the urgent byte (without SO_OOBINLINE). A real
	// client reads it on SIGURG, before its reader gets there.
	s.client.Write(append(windowMsg(41, 123), '\r'))
	if b := readUrgent(t, s.client); b != rlogin.ControlNoStop {
		t.Fatalf("after stty -ixon: urgent byte 0x%02x, want NOSTOP 0x10", b)
	}
	if out := s.readUntil("raw\r\n"); !strings.Contains(out, "41 123\r\n") {
		t.Errorf("stty size said %q, want the window size 41 123", out)
	}
	s.client.Write([]byte("\r"))
	if b := readUrgent(t, s.client); b != rlogin.ControlDoStop {
		t.Fatalf("after stty ixon: urgent byte 0x%02x, want DOSTOP 0x20", b)
	}
	s.readUntil("cooked\r\n")
	s.client.Write([]byte("\r"))
	s.readUntil("waiting\r\n")
	// ^C: the line discipline signals the foreground and flushes its
	// output, which the client must be told to flush too. The shell waits
	// in its own read, not in a child: dash starts a child with vfork, and
	// a SIGINT in that window is taken by the child's shell handler before
	// exec, so "sleep 20" would outlive the ^C now and then.
	s.client.Write([]byte{3})
	if b := readUrgent(t, s.client); b&rlogin.ControlFlushWrite == 0 {
		t.Fatalf("after ^C: urgent byte 0x%02x, want FLUSHWRITE 0x02", b)
	}
	if err := s.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if out := string(s.readAll()); strings.Contains(out, "not interrupted") {
		t.Errorf("^C did not interrupt: %q", out)
	}
}

// TestRloginTermFallback: a terminal type that isn't one falls back to
// the policy's term, and control bytes in a user name keep it out of the
// environment.
func TestRloginTermFallback(t *testing.T) {
	handshake := func(c *net.TCPConn) {
		c.Write([]byte("\x00ev\x1bil\x00bob\x00$(reboot)/fast\x00"))
	}
	s := start(t, Config{PTY: true, Rlogin: true, Term: "ansi"}, handshake, "/bin/sh", "-c",
		`echo "env: $TERM|${SOCKJAIL_RLOGIN_USER-unset}|$SOCKJAIL_RLOGIN_SERVER_USER|${SOCKJAIL_TERM_SPEED-unset}"`)
	if out := s.readUntil("unset\r\n"); !strings.Contains(out, "env: ansi|unset|bob|unset") {
		t.Errorf("program saw %q", out)
	}
}

// TestRloginHandshakeRefused: a client that isn't rlogin, leaves, or
// stalls in the handshake gets an error wrapping rlogin.ErrHandshake from
// Negotiate, at once or at the deadline, and nothing is sent to it.
func TestRloginHandshakeRefused(t *testing.T) {
	const wait = 300 * time.Millisecond
	tests := []struct {
		name  string
		send  string
		close bool
		err   string
	}{
		{"http", "GET / HTTP/1.0\r\n\r\n", false, "first byte is 0x47"},
		{"stalled", "\x00alice\x00bo", false, "not complete after 300ms (9 bytes)"},
		{"silent", "", false, "not complete after 300ms (0 bytes)"},
		{"gone", "\x00alice", true, "closed the connection after 6 bytes"},
		{"user name flood", "\x00" + strings.Repeat("a", 10000), false, "longer than 64 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, fd := tcpPair(t)
			r, err := New(Config{PTY: true, Rlogin: true, HandshakeWait: wait}, fd, fd)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			client.Write([]byte(tt.send))
			if tt.close {
				client.CloseWrite()
			}
			start := time.Now()
			err = r.Negotiate(context.Background())
			took := time.Since(start)
			if !errors.Is(err, rlogin.ErrHandshake) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Negotiate: %v, want rlogin.ErrHandshake with %q", err, tt.err)
			}
			if strings.Contains(tt.err, "not complete") && took < wait {
				t.Errorf("gave up after %v, before the %v deadline", took, wait)
			}
			client.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if n, _ := client.Read(make([]byte, 1)); n != 0 {
				t.Errorf("the client got a byte")
			}
		})
	}
}
