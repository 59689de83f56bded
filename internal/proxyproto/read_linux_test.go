package proxyproto

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// socketPair returns a connected pair of the given kind: "unix" (an AF_UNIX
// socketpair) or "tcp" (a real loopback TCP connection). The first fd is the
// server side, a blocking raw descriptor as sockjail hands it to a program;
// the second is the client side as a *os.File.
func socketPair(t *testing.T, kind string) (int, *os.File) {
	t.Helper()
	switch kind {
	case "unix":
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fds[0]) })
		f := os.NewFile(uintptr(fds[1]), "client")
		t.Cleanup(func() { f.Close() })
		return fds[0], f
	case "tcp":
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		// Take the server side out of Go's poller as a blocking fd, the
		// way serve hands it to a program.
		sf, err := s.(*net.TCPConn).File()
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		fd, err := unix.Dup(int(sf.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		sf.Close()
		t.Cleanup(func() { unix.Close(fd) })
		cf, err := c.(*net.TCPConn).File()
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		t.Cleanup(func() { cf.Close() })
		return fd, cf
	}
	panic(kind)
}

// readAll reads the server side to EOF with blocking reads.
func readAll(t *testing.T, fd int) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("reading the stream after the header: %v", err)
		}
		if n == 0 {
			return out
		}
		out = append(out, buf[:n]...)
	}
}

// TestReadExact checks, on AF_UNIX and TCP sockets, that Read returns what
// Parse returns and leaves every byte after the header in the socket:
// whether the header and the stream arrive in one segment or one byte at a
// time.
func TestReadExact(t *testing.T) {
	payload := make([]byte, 3000)
	rand.Read(payload)
	for _, kind := range []string{"unix", "tcp"} {
		for _, dribble := range []bool{false, true} {
			for _, tc := range parseCases() {
				if tc.err != nil {
					continue
				}
				name := kind + "/" + tc.name
				if dribble {
					name += "/dribble"
				}
				t.Run(name, func(t *testing.T) {
					fd, client := socketPair(t, kind)
					stream := append(append([]byte{}, tc.in...), payload...)
					wrote := make(chan struct{})
					defer func() { <-wrote }()
					go func() {
						defer close(wrote)
						if dribble {
							for i := range len(tc.in) + 20 {
								client.Write(stream[i : i+1])
								time.Sleep(100 * time.Microsecond)
							}
							client.Write(stream[len(tc.in)+20:])
						} else {
							client.Write(stream)
						}
						closeWrite(client)
					}()
					h, err := Read(fd, 5*time.Second, tc.mode)
					checkResult(t, h, err, tc)
					if rest := readAll(t, fd); !bytes.Equal(rest, payload) {
						t.Fatalf("stream after the header: got %d bytes (first %q), want the %d payload bytes", len(rest), clip(rest, 20), len(payload))
					}
				})
			}
		}
	}
}

func closeWrite(f *os.File) {
	unix.Shutdown(int(f.Fd()), unix.SHUT_WR)
}

// TestReadErrors feeds every invalid case through a real socket; the peer
// then closes its side, so a truncated header ends as ErrTruncated.
func TestReadErrors(t *testing.T) {
	for _, tc := range parseCases() {
		if tc.err == nil {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			fd, client := socketPair(t, "tcp")
			client.Write(tc.in)
			closeWrite(client)
			_, err := Read(fd, 5*time.Second, tc.mode)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error = %v, want one wrapping %v", err, tc.err)
			}
		})
	}
}

// TestReadTimeout: a header that never completes is bounded by the timeout,
// and a client that sends nothing too.
func TestReadTimeout(t *testing.T) {
	for _, sent := range []string{"", "PROXY TCP4 1.2", "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\x01"} {
		fd, client := socketPair(t, "tcp")
		client.Write([]byte(sent))
		start := time.Now()
		_, err := Read(fd, 200*time.Millisecond, ModeAny)
		el := time.Since(start)
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("sent %q: error = %v, want ErrTimeout", sent, err)
		}
		if el < 200*time.Millisecond || el > 5*time.Second {
			t.Fatalf("sent %q: timed out after %v, want about 200ms", sent, el)
		}
	}
}

// TestReadNoHeaderFailsFast: a client that speaks first without a header is
// refused as soon as its first bytes arrive, not after the timeout.
func TestReadNoHeaderFailsFast(t *testing.T) {
	fd, client := socketPair(t, "tcp")
	client.Write([]byte("GET /"))
	start := time.Now()
	_, err := Read(fd, 10*time.Second, ModeAny)
	if !errors.Is(err, ErrNoHeader) {
		t.Fatalf("error = %v, want ErrNoHeader", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("took %v: waited for the timeout instead of failing on the first bytes", el)
	}
}

// TestReadReset: a peer reset inside the header is ErrTruncated.
func TestReadReset(t *testing.T) {
	fd, client := socketPair(t, "tcp")
	client.Write([]byte("PROXY TCP4 "))
	// SO_LINGER {1, 0} makes close send RST.
	unix.SetsockoptLinger(int(client.Fd()), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	client.Close()
	_, err := Read(fd, 5*time.Second, ModeAny)
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("error = %v, want ErrTruncated", err)
	}
}

// TestReadLeavesFlags: Read must not switch the descriptor to non-blocking,
// since the program shares its open file description.
func TestReadLeavesFlags(t *testing.T) {
	fd, client := socketPair(t, "tcp")
	before, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if before&unix.O_NONBLOCK != 0 {
		t.Fatal("test setup: server fd is non-blocking")
	}
	client.Write([]byte("PROXY UNKNOWN\r\nhello"))
	if _, err := Read(fd, 5*time.Second, ModeAny); err != nil {
		t.Fatal(err)
	}
	after, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if after != before {
		t.Fatalf("file status flags changed from %#x to %#x", before, after)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(os.NewFile(uintptr(mustDup(t, fd)), "s"), buf); err != nil || string(buf) != "hello" {
		t.Fatalf("stream = %q, %v; want hello", buf, err)
	}
}

func mustDup(t *testing.T, fd int) int {
	n, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestReadBadMode(t *testing.T) {
	fd, _ := socketPair(t, "unix")
	if _, err := Read(fd, time.Second, ""); err == nil {
		t.Fatal("empty mode accepted")
	}
}

// TestReadNothingSent: a peer that closes (FIN or reset) before sending a
// byte, as a plain TCP health check does, is ErrNothingSent (and
// ErrTruncated); one that sent part of a header is ErrTruncated only.
func TestReadNothingSent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		send    string
		reset   bool
		nothing bool
	}{
		{name: "fin", nothing: true},
		{name: "reset", reset: true, nothing: true},
		{name: "partial fin", send: "PROXY TCP4 "},
		{name: "partial reset", send: "\r\n\r\n\x00", reset: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd, client := socketPair(t, "tcp")
			if tc.send != "" {
				client.Write([]byte(tc.send))
			}
			if tc.reset {
				unix.SetsockoptLinger(int(client.Fd()), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
			}
			client.Close()
			_, err := Read(fd, 5*time.Second, ModeAny)
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("error = %v, want ErrTruncated", err)
			}
			if got := errors.Is(err, ErrNothingSent); got != tc.nothing {
				t.Fatalf("error = %v: ErrNothingSent %v, want %v", err, got, tc.nothing)
			}
		})
	}
}
