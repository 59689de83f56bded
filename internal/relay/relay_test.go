package relay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/telnet"
)

// session is one relayed program under test: the relay, the program and
// the client's end of a real loopback TCP connection.
type session struct {
	t      *testing.T
	relay  *Relay
	cmd    *exec.Cmd
	client *net.TCPConn
	cancel context.CancelFunc
	done   chan error // Run's result
}

// tcpPair returns both ends of a loopback TCP connection; the server end
// as a raw fd the relay owns.
func tcpPair(t *testing.T) (client *net.TCPConn, serverFD int) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	// File() dups into a blocking fd, like the fd 0 systemd hands over;
	// the relay must cope without changing its flags.
	f, err := server.File()
	server.Close()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); syscall.Close(fd) })
	return client, fd
}

// start creates the relay, lets negotiate (if set) talk to the client,
// starts argv on the relay's files and runs the relay.
func start(t *testing.T, cfg Config, negotiate func(c *net.TCPConn), argv ...string) *session {
	t.Helper()
	client, fd := tcpPair(t)
	if negotiate != nil {
		go negotiate(client)
	}
	s := startOn(t, fd, cfg, argv...)
	s.client = client
	return s
}

// startOn is start for a connection whose client is not a *net.TCPConn
// of the test's own (a real telnet client, say).
func startOn(t *testing.T, fd int, cfg Config, argv ...string) *session {
	t.Helper()
	r, err := New(cfg, fd, fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if err := r.Negotiate(ctx); err != nil {
		t.Fatalf("Negotiate: %v", err)
	}
	stdin, stdout, stderr, ctty := r.ProgramFiles()
	if ctty != cfg.PTY {
		t.Fatalf("ProgramFiles says controlling tty %v with PTY %v", ctty, cfg.PTY)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, r.Env()...)
	// The relay owns the fds and Run closes them: give exec copies of
	// its own, closed after Start. An *os.File on the relay's own fd
	// would close that number again when collected, by then perhaps
	// another session's pty or socket.
	var copies []*os.File
	fileOf := func(fd int, name string) *os.File {
		c, err := syscall.Dup(fd)
		if err != nil {
			t.Fatal(err)
		}
		syscall.CloseOnExec(c)
		f := os.NewFile(uintptr(c), name)
		copies = append(copies, f)
		return f
	}
	cmd.Stdin = fileOf(stdin, "stdin")
	cmd.Stdout = fileOf(stdout, "stdout")
	if stderr >= 0 {
		cmd.Stderr = fileOf(stderr, "stderr")
	} else {
		cmd.Stderr = os.Stderr
	}
	if ctty {
		// What the sandbox does: a new session with the pty as its
		// controlling terminal.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	}
	err = cmd.Start()
	for _, f := range copies {
		f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	s := &session{t: t, relay: r, cmd: cmd, cancel: cancel, done: make(chan error, 1)}
	finished := make(chan struct{})
	go func() { s.done <- r.Run(ctx); close(finished) }()
	// Close only after Run returned, as the session does.
	t.Cleanup(func() { cancel(); <-finished })
	return s
}

// readUntil reads from the client until want appears, and returns all read.
func (s *session) readUntil(want string) string {
	s.t.Helper()
	var got []byte
	buf := make([]byte, 4096)
	deadline := time.Now().Add(10 * time.Second)
	for !bytes.Contains(got, []byte(want)) {
		n, err := s.read(buf, deadline)
		got = append(got, buf[:n]...)
		if err != nil {
			s.t.Fatalf("waiting for %q: %v; got %q", want, err, got)
		}
	}
	return string(got)
}

// read reads from the client until deadline, retrying in short slices.
// One wakeup of Go's edge-triggered poller is not enough after TCP urgent
// data (rlogin's control bytes): at the urgent mark, a read with a signal
// pending returns EAGAIN although data is there (tcp_recvmsg), the Go
// runtime preempts goroutines with SIGURG, and so the wakeup can be spent
// on a read that found nothing, with no further edge while the program
// waits for the test. Measured: 4 of 600 rlogin sessions stalled so, none
// with GODEBUG=asyncpreemptoff=1.
func (s *session) read(buf []byte, deadline time.Time) (int, error) {
	for {
		slice := time.Now().Add(100 * time.Millisecond)
		if slice.After(deadline) {
			slice = deadline
		}
		s.client.SetReadDeadline(slice)
		n, err := s.client.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) && n == 0 && time.Now().Before(deadline) {
			continue
		}
		return n, err
	}
}

// readAll reads until EOF.
func (s *session) readAll() []byte {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	got, err := io.ReadAll(readerFunc(func(p []byte) (int, error) { return s.read(p, deadline) }))
	if err != nil {
		s.t.Fatalf("reading to EOF: %v (got %q)", err, got)
	}
	return got
}

// readerFunc is an io.Reader made of a function.
type readerFunc func(p []byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// wait returns Run's result and closes the server side of the connection,
// as the session's flush-then-close would.
func (s *session) wait() error {
	s.t.Helper()
	select {
	case err := <-s.done:
		syscall.Shutdown(s.relay.connOut, syscall.SHUT_WR)
		return err
	case <-time.After(20 * time.Second):
		s.t.Fatal("Run did not return")
	}
	return nil
}

func TestPTYPromptEcho(t *testing.T) {
	s := start(t, Config{PTY: true}, nil, "/bin/sh", "-c", `printf 'name? '; read x; echo "hi $x"; tty`)
	s.readUntil("name? ")
	s.client.Write([]byte("bob\r"))
	if err := s.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	out := string(s.readAll())
	// Echo once (by the pty), then the answer, with ONLCR's "\r\n".
	if want := "bob\r\nhi bob\r\n/dev/pts/"; !strings.HasPrefix(out, want) {
		t.Errorf("output %q, want prefix %q", out, want)
	}
	if strings.Count(out, "bob") != 2 {
		t.Errorf("output %q: bob should appear twice (echo and answer)", out)
	}
	if !strings.Contains(out, strings.TrimPrefix(s.relay.TTYName(), "/dev/")) {
		t.Errorf("program's tty %q is not the relay's %q", out, s.relay.TTYName())
	}
}

// telnetClient plays the client's side of the opening negotiation as
// inetutils telnet does, with a window of cols x rows and terminal name.
func telnetClient(t *testing.T, cols, rows byte, name string) func(c *net.TCPConn) {
	return func(c *net.TCPConn) {
		buf := make([]byte, 64)
		var got []byte
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for !bytes.Contains(got, []byte{telnet.IAC, telnet.DO, telnet.OptTTYPE}) {
			n, err := c.Read(buf)
			if err != nil {
				t.Errorf("client: %v", err)
				return
			}
			got = append(got, buf[:n]...)
		}
		c.Write([]byte{telnet.IAC, telnet.DO, telnet.OptEcho, telnet.IAC, telnet.DO, telnet.OptSGA,
			telnet.IAC, telnet.WILL, telnet.OptNAWS, telnet.IAC, telnet.SB, telnet.OptNAWS, 0, cols, 0, rows, telnet.IAC, telnet.SE,
			telnet.IAC, telnet.WILL, telnet.OptTTYPE})
		sendReq := []byte{telnet.IAC, telnet.SB, telnet.OptTTYPE, 1, telnet.IAC, telnet.SE}
		for !bytes.Contains(got, sendReq) {
			n, err := c.Read(buf)
			if err != nil {
				t.Errorf("client: %v", err)
				return
			}
			got = append(got, buf[:n]...)
		}
		c.Write(append(append([]byte{telnet.IAC, telnet.SB, telnet.OptTTYPE, 0}, name...), telnet.IAC, telnet.SE))
		c.SetReadDeadline(time.Time{})
	}
}

func TestTelnetNegotiation(t *testing.T) {
	start0 := time.Now()
	s := start(t, Config{PTY: true, Telnet: telnet.On, Term: "ansi"}, telnetClient(t, 100, 40, "XTERM-256COLOR"),
		"/bin/sh", "-c", `stty size; echo "TERM=$TERM"; od -An -tx1 -N4`)
	if d := time.Since(start0); d > DefaultNegotiateWait {
		t.Errorf("Negotiate took %v though the client answered everything", d)
	}
	if env := s.relay.Env(); len(env) != 1 || env[0] != "TERM=xterm-256color" {
		t.Errorf("Env = %q", env)
	}
	head := s.readUntil("TERM=xterm-256color")
	// 0xFF typed by the user arrives doubled on the wire and single at the
	// program; its echo comes back doubled.
	s.client.Write([]byte{'a', telnet.IAC, telnet.IAC, 'b', '\r', 0})
	if err := s.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	out := head + string(s.readAll())
	if !strings.Contains(out, "40 100\r\n") {
		t.Errorf("stty size did not see 40x100: %q", out)
	}
	if !strings.Contains(out, " 61 ff 62 0a") {
		t.Errorf("program did not get a single 0xff: %q", out)
	}
	if !strings.Contains(out, "a\xff\xffb\r\n") {
		t.Errorf("echo of 0xff not doubled on the wire: %q", out)
	}
}

func TestPassiveRawClientSeesNoNegotiation(t *testing.T) {
	s := start(t, Config{PTY: true, Telnet: telnet.Passive}, nil, "/bin/sh", "-c", `echo hello; read x; echo "got $x"`)
	s.readUntil("hello")
	s.client.Write([]byte("raw\n"))
	if err := s.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	out := string(s.readAll())
	if bytes.ContainsAny([]byte(out), "\xff\x00") {
		t.Errorf("raw client got telnet bytes: %q", out)
	}
	if !strings.HasSuffix(out, "raw\r\ngot raw\r\n") {
		t.Errorf("output %q", out)
	}
}

func TestPassiveAnswersTelnetClient(t *testing.T) {
	s := start(t, Config{PTY: true, Telnet: telnet.Passive}, nil, "/bin/sh", "-c", `read x; stty size`)
	s.client.Write([]byte{telnet.IAC, telnet.DO, telnet.OptEcho, telnet.IAC, telnet.WILL, telnet.OptNAWS,
		telnet.IAC, telnet.SB, telnet.OptNAWS, 0, 132, 0, 43, telnet.IAC, telnet.SE, telnet.IAC, telnet.WILL, telnet.OptLinemode})
	want := []byte{telnet.IAC, telnet.WILL, telnet.OptEcho, telnet.IAC, telnet.DO, telnet.OptNAWS, telnet.IAC, telnet.DONT, telnet.OptLinemode}
	s.readUntil(string(want))
	s.client.Write([]byte("\r\n"))
	if err := s.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if out := string(s.readAll()); !strings.Contains(out, "43 132\r\n") {
		t.Errorf("NAWS not applied: %q", out)
	}
}

func TestWindowChangeSendsSIGWINCH(t *testing.T) {
	s := start(t, Config{PTY: true, Telnet: telnet.On}, telnetClient(t, 80, 24, "vt100"),
		"/bin/sh", "-c", `trap 'stty size; exit 0' WINCH; echo ready; while :; do sleep 0.05; done`)
	s.readUntil("ready")
	s.client.Write([]byte{telnet.IAC, telnet.SB, telnet.OptNAWS, 0, 120, 0, 50, telnet.IAC, telnet.SE})
	if err := s.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if out := string(s.readAll()); !strings.Contains(out, "50 120\r\n") {
		t.Errorf("no SIGWINCH with the new size: %q", out)
	}
}

func TestCRLFPipes(t *testing.T) {
	s := start(t, Config{CRLF: true}, nil, "/bin/sh", "-c", `printf 'a\nb\r\nc\n'; cat`)
	s.readUntil("c\r\n")
	s.client.Write([]byte("x\ny\n"))
	s.client.CloseWrite() // the program's stdin must reach EOF, or cat never ends
	if err := s.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if out := string(s.readAll()); out != "x\r\ny\r\n" {
		t.Errorf("output after the prompt %q", out)
	}
}

func TestTelnetWithoutPTY(t *testing.T) {
	// Without a pty nobody echoes: the relay must not claim ECHO, and CR LF
	// from the client must reach the program as LF.
	s := start(t, Config{Telnet: telnet.On, CRLF: true}, func(c *net.TCPConn) {}, "/bin/sh", "-c", `read x; echo "[$x]"; od -An -tx1 -N2`)
	s.client.Write([]byte{telnet.IAC, telnet.DO, telnet.OptEcho, telnet.IAC, telnet.WONT, telnet.OptNAWS, telnet.IAC, telnet.WONT, telnet.OptTTYPE})
	s.client.Write([]byte("hi\r\n\xff\xff\r\n"))
	if err := s.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	out := string(s.readAll())
	want := string([]byte{telnet.IAC, telnet.DO, telnet.OptNAWS, telnet.IAC, telnet.DO, telnet.OptTTYPE, telnet.IAC, telnet.WONT, telnet.OptEcho}) +
		"[hi]\r\n ff 0a\r\n"
	if out != want {
		t.Errorf("output\n%q, want\n%q", out, want)
	}
}

func TestLineRate(t *testing.T) {
	const rate, n = 4800, 600 // 480 bytes/s: 1.25 s
	s := start(t, Config{LineRate: rate}, nil, "/bin/sh", "-c", `head -c 600 /dev/zero | tr '\0' x`)
	var first time.Time
	var got int
	buf := make([]byte, 1024)
	s.client.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		k, err := s.client.Read(buf)
		if got == 0 && k > 0 {
			first = time.Now()
		}
		got += k
		if err != nil {
			break
		}
		if got == n {
			break
		}
	}
	elapsed := time.Since(first)
	if err := s.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// From the first byte to the last, n-1 byte times.
	want := time.Duration(n-1) * 10 * time.Second / rate
	t.Logf("%d bytes at %d bit/s took %v (ideal %v)", got, rate, elapsed, want)
	if got != n {
		t.Fatalf("got %d bytes, want %d", got, n)
	}
	if elapsed < want*9/10 || elapsed > want*11/10 {
		t.Errorf("took %v, want %v within 10%%", elapsed, want)
	}
}

func TestIdleTimeout(t *testing.T) {
	start0 := time.Now()
	s := start(t, Config{PTY: true, IdleTimeout: 300 * time.Millisecond, IdleMessage: "idle, bye"}, nil,
		"/bin/sh", "-c", `echo hi; sleep 30`)
	s.readUntil("hi")
	err := s.wait()
	d := time.Since(start0)
	if !errors.Is(err, ErrIdle) {
		t.Fatalf("Run = %v, want ErrIdle", err)
	}
	if d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("idle timeout of 300ms fired after %v", d)
	}
	if out := string(s.readAll()); out != "idle, bye\r\n" {
		t.Errorf("idle message %q", out)
	}
}

func TestInputResetsIdle(t *testing.T) {
	// Typing every 100 ms for 1 s, twice the idle timeout: only input
	// resetting the timer keeps the session alive.
	s := start(t, Config{PTY: true, IdleTimeout: 500 * time.Millisecond}, nil,
		"/bin/sh", "-c", `stty -echo; for i in 1 2 3 4 5 6 7 8 9 10; do read x; done; echo done`)
	for range 10 {
		time.Sleep(100 * time.Millisecond)
		s.client.Write([]byte("x\n"))
	}
	if err := s.wait(); err != nil {
		t.Fatalf("Run = %v after typing every 100ms with a 500ms idle timeout", err)
	}
	if out := string(s.readAll()); !strings.HasSuffix(out, "done\r\n") {
		t.Errorf("output %q", out)
	}
}

// TestSlowClientBoundedMemory sends 1 MiB through the pty to a client that
// reads slowly: every byte must arrive, and the relay must not buffer more
// than its fixed buffers (checked by what the Go heap allocated meanwhile).
func TestSlowClientBoundedMemory(t *testing.T) {
	const size = 1 << 20
	s := start(t, Config{PTY: true, Telnet: telnet.On}, func(c *net.TCPConn) {},
		"/bin/sh", "-c", `head -c 1048576 /dev/zero | tr '\0' x`)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var got, reads int
	buf := make([]byte, 16<<10)
	s.client.SetReadBuffer(16 << 10)
	s.client.SetReadDeadline(time.Now().Add(60 * time.Second))
	for {
		n, err := s.client.Read(buf)
		got += bytes.Count(buf[:n], []byte("x"))
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
		if got == size {
			break
		}
		if reads++; reads%4 == 0 {
			time.Sleep(time.Millisecond) // a slow reader
		}
	}
	if err := s.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("1 MiB relayed; Go heap allocated %d bytes meanwhile", alloc)
	if alloc > 256<<10 {
		t.Errorf("heap allocations of %d bytes while relaying 1 MiB: the relay buffers per byte", alloc)
	}
}

func TestClientResetIsHangup(t *testing.T) {
	s := start(t, Config{PTY: true}, nil, "/bin/sh", "-c", `while :; do echo spam; done`)
	s.readUntil("spam")
	s.client.SetLinger(0) // close with RST
	s.client.Close()
	err := s.wait()
	if !errors.Is(err, ErrHangup) {
		t.Fatalf("Run = %v, want ErrHangup", err)
	}
	s.relay.Close()
	// Closing the master hangs up the terminal: the shell gets SIGHUP.
	werr := make(chan error, 1)
	go func() { werr <- s.cmd.Wait() }()
	select {
	case err := <-werr:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGHUP {
			t.Errorf("program ended with %v, want SIGHUP", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("program still runs after the relay closed its pty")
	}
}

func TestContextCancel(t *testing.T) {
	s := start(t, Config{PTY: true}, nil, "/bin/sleep", "30")
	time.Sleep(100 * time.Millisecond)
	s.cancel()
	if err := s.wait(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a cancelled context = %v", err)
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg    Config
		needed bool
		ok     bool
	}{
		{Config{}, false, true},
		{Config{IdleTimeout: time.Second}, false, true},
		{Config{PTY: true}, true, true},
		{Config{Telnet: telnet.Passive}, true, true},
		{Config{CRLF: true}, true, true},
		{Config{LineRate: 2400}, true, true},
		{Config{LineRate: -1}, false, false},
		{Config{PTY: true, Term: "xterm;rm"}, true, false},
		{Config{PTY: true, Term: "VT100"}, true, true},
		{Config{PTY: true, MaxWinSize: 70000}, true, false},
	} {
		if got := tc.cfg.Needed(); got != tc.needed {
			t.Errorf("%+v.Needed() = %v", tc.cfg, got)
		}
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v.Validate() = %v", tc.cfg, err)
		}
	}
}

// TestPassiveClientThatOpens: a telnet client that opens with its own
// offers (BSD and inetutils telnet on port 23) gets TERM and its window
// size from the start in passive mode, without sockjail asking anything.
func TestPassiveClientThatOpens(t *testing.T) {
	opener := func(c *net.TCPConn) {
		c.Write([]byte{telnet.IAC, telnet.DO, telnet.OptSGA, telnet.IAC, telnet.WILL, telnet.OptTTYPE, telnet.IAC, telnet.WILL, telnet.OptNAWS,
			telnet.IAC, telnet.SB, telnet.OptNAWS, 0, 120, 0, 40, telnet.IAC, telnet.SE})
		buf := make([]byte, 64)
		var got []byte
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for !bytes.Contains(got, []byte{telnet.IAC, telnet.SB, telnet.OptTTYPE, 1, telnet.IAC, telnet.SE}) {
			n, err := c.Read(buf)
			if err != nil {
				t.Errorf("client: %v (got % x)", err, got)
				return
			}
			got = append(got, buf[:n]...)
		}
		c.Write(append(append([]byte{telnet.IAC, telnet.SB, telnet.OptTTYPE, 0}, "ANSI"...), telnet.IAC, telnet.SE))
		c.SetReadDeadline(time.Time{})
	}
	s := start(t, Config{PTY: true, Telnet: telnet.Passive}, opener, "/bin/sh", "-c", `echo "$TERM $(stty size)"`)
	if err := s.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if out := string(s.readAll()); !strings.Contains(out, "ansi 40 120\r\n") {
		t.Errorf("output %q, want TERM and size from the client's own offers", out)
	}
}

// TestPassiveRawClientWait: in passive mode a silent raw client waits
// PassiveGrace for the program; one that types at once does not wait.
func TestPassiveRawClientWait(t *testing.T) {
	for _, tc := range []struct {
		name     string
		send     []byte
		min, max time.Duration
	}{
		{"silent", nil, PassiveGrace, PassiveGrace + 200*time.Millisecond},
		{"typing", []byte("hello\n"), 0, PassiveGrace - 10*time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, fd := tcpPair(t)
			if tc.send != nil {
				client.Write(tc.send)
				time.Sleep(10 * time.Millisecond) // on the wire before Negotiate
			}
			r, err := New(Config{PTY: true, Telnet: telnet.Passive}, fd, fd)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			t0 := time.Now()
			if err := r.Negotiate(context.Background()); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(t0); d < tc.min || d > tc.max {
				t.Errorf("Negotiate took %v, want %v..%v", d, tc.min, tc.max)
			}
			if got := string(r.toProg.bytes()); got != string(tc.send) {
				t.Errorf("kept %q for the program, want %q", got, tc.send)
			}
		})
	}
}

// TestClientEOFOnPTY: when the client half-closes, a program reading its
// terminal in canonical mode reads EOF, and one in raw mode gets SIGHUP.
func TestClientEOFOnPTY(t *testing.T) {
	t.Run("canonical", func(t *testing.T) {
		s := start(t, Config{PTY: true}, nil, "/bin/sh", "-c", `cat; echo "cat ended"`)
		s.client.Write([]byte("abc\n"))
		s.client.CloseWrite()
		if err := s.wait(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if out := string(s.readAll()); !strings.HasPrefix(out, "abc\r\nabc\r\n") || !strings.HasSuffix(out, "cat ended\r\n") {
			t.Errorf("output %q", out)
		}
	})
	t.Run("raw", func(t *testing.T) {
		s := start(t, Config{PTY: true}, nil, "/bin/sh", "-c", `stty raw -echo; echo raw; exec sleep 30`)
		s.readUntil("raw")
		s.client.CloseWrite()
		if err := s.wait(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		var ee *exec.ExitError
		if err := s.cmd.Wait(); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGHUP {
			t.Errorf("program ended with %v, want SIGHUP", err)
		}
	})
}
