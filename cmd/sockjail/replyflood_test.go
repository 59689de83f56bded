package main

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// aytFlood is the pattern of the audit's crash of serve (issue 21, item 3):
// two ARE-YOU-THERE, whose answers are 9 bytes for 2, and a TIMING-MARK.
var aytFlood = []byte{255, 246, 255, 246, 255, 253, 6}

// TestServeTelnetReplyFlood is the audit's crash of `sockjail serve`:
// clients with a small receive buffer that never read send AYT and
// TIMING-MARK over and over, in writes that end on IAC, while another
// caller uses the menu. In each telnet mode (on, passive, and on without
// a pty), serve must stay up, and the live session must go on and end
// normally. Before the fix, the relay's reply queue outgrew its room and
// the panic ended serve with every session.
func TestServeTelnetReplyFlood(t *testing.T) {
	bin := interactiveBin(t)
	for _, tc := range []struct{ name, terminal, ready string }{
		{"on", "telnet = true", "Choice: "},
		{"passive", `telnet = "passive"`, "Choice: "},
		// On pipes the menu's prompt waits in its stdio buffer: the
		// relay's first offer says the session is live.
		{"pipes", "telnet = true\npty = false", "\xff\xfd\x18"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, srv := serveMenu(t, bin, interactivePolicy(t, bin, tc.terminal, "0"))
			live := s.dial(t)
			expectText(t, live, tc.ready)

			// Half never read; half read a trickle, so that the reply
			// queue drains and refills many times (each refill walks its
			// free room down to a few bytes, where the crash was).
			const flooders, floodFor = 6, 4 * time.Second
			var wg sync.WaitGroup
			for i := range flooders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					flood(t, s.addr, floodFor, i%2 == 1)
				}()
			}
			wg.Wait()

			if err := srv.Process.Signal(syscall.Signal(0)); err != nil || srv.ProcessState != nil {
				t.Fatalf("sockjail serve died under the flood: %v\n%s", err, s.stderr.String())
			}
			if strings.Contains(s.stderr.String(), "panic") {
				t.Fatalf("serve panicked:\n%s", s.stderr.String())
			}
			// The live session goes on to its normal end.
			live.Write([]byte("q\r\n"))
			expectText(t, live, "Bye.")
			live.SetReadDeadline(time.Now().Add(interactiveWait))
			if rest, err := readToEOF(live); err != nil {
				t.Fatalf("live session after Bye: %v (%q)", err, rest)
			}
		})
	}
}

// flood connects with a small receive buffer and sends aytFlood in writes
// that end on IAC, for d; it never reads, or with trickle reads 64 bytes
// every 5 ms.
func flood(t *testing.T, addr string, d time.Duration, trickle bool) {
	dialer := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
		})
	}}
	dialer.SetMultipathTCP(false)
	c, err := dialer.Dial("tcp4", addr)
	if err != nil {
		t.Errorf("flooder: %v", err)
		return
	}
	defer c.Close()
	chunk := bytes.Repeat(aytFlood, 64)
	chunk = append(chunk, aytFlood[:5]...) // ends on an IAC
	end := time.Now().Add(d)
	if trickle {
		go func() {
			buf := make([]byte, 64)
			for time.Now().Before(end) {
				c.SetReadDeadline(end)
				if _, err := c.Read(buf); err != nil {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	for time.Now().Before(end) {
		c.SetWriteDeadline(end)
		if _, err := c.Write(chunk); err != nil {
			return // the window closed: serve stopped reading, as it should
		}
	}
}

// expectText reads c until want appears.
func expectText(t *testing.T, c *net.TCPConn, want string) {
	t.Helper()
	var got []byte
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(interactiveWait))
	for !bytes.Contains(got, []byte(want)) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("waiting for %q: %v (got %q)", want, err, got)
		}
	}
}
