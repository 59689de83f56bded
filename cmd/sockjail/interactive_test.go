package main

// Integration tests of interactive sessions (issue 8): the real sockjail
// binary as `sockjail run` behind the real systemd-socket-activate
// (--accept --inetd, the shape of a systemd Accept=yes unit), serving the
// menu program of testdata/programs/menu under the real sandbox, with real
// clients: the inetutils telnet client on a pty, and raw TCP.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/sockjail/sockjail/internal/proctest"
	"github.com/sockjail/sockjail/internal/relay/termtest"
	"github.com/sockjail/sockjail/internal/telnet"
	"github.com/sockjail/sockjail/internal/testenv"
)

// interactive is one listener serving one program through `sockjail run`.
type interactive struct {
	addr   string
	ssa    *exec.Cmd
	stderr *testenv.LockedBuffer // systemd-socket-activate's and sockjail's logs
}

// interactiveBin builds the menu program once per test into a directory
// outside /tmp (the sandbox replaces /tmp with a private tmpfs) that the
// sandboxed user can read.
func interactiveBin(t *testing.T) string {
	t.Helper()
	dir := srvDir(t, "sockjail-interactive-")
	termtest.BuildMenu(t, dir)
	return dir
}

// srvDir makes a scratch directory under /srv, outside /tmp (the sandbox
// replaces /tmp with a private tmpfs), that a sandboxed user can read, and
// removes it after the test.
func srvDir(t *testing.T, prefix string) string {
	t.Helper()
	testenv.RequireRoot(t)
	if err := os.MkdirAll("/srv", 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/srv", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// interactivePolicy writes the menu policy with terminal (the [terminal]
// table's lines) and idle, checks it, and returns its path.
func interactivePolicy(t *testing.T, bin, terminal, idle string) string {
	t.Helper()
	sj := testenv.Sockjail(t)
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := template.ParseFiles(filepath.Join(root, "testdata/programs/menu/policy.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var pol bytes.Buffer
	if err := tmpl.Execute(&pol, map[string]string{"bin": bin, "terminal": terminal, "idle_timeout": idle}); err != nil {
		t.Fatal(err)
	}
	polPath := filepath.Join(bin, "policy-"+strconv.Itoa(os.Getpid())+"-"+strings.ReplaceAll(t.Name(), "/", "_")+".toml")
	if err := os.WriteFile(polPath, pol.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sj, "check", polPath).CombinedOutput(); err != nil {
		t.Fatalf("sockjail check %s: %v\n%s\n%s", polPath, err, out, pol.String())
	}

	return polPath
}

// serveInteractive writes the menu policy with terminal (the [terminal]
// table's lines) and idle, and serves argv with it on a fresh port.
func serveInteractive(t *testing.T, bin, terminal, idle string, argv ...string) *interactive {
	t.Helper()
	return runUnderSocketActivate(t, interactivePolicy(t, bin, terminal, idle), argv...)
}

// runUnderSocketActivate serves argv with `sockjail run --policy polPath`
// behind systemd-socket-activate --accept --inetd on a fresh port.
func runUnderSocketActivate(t *testing.T, polPath string, argv ...string) *interactive {
	t.Helper()
	ssaPath := testenv.LookTool(t, "systemd-socket-activate")
	sj := testenv.Sockjail(t)

	// A free port: systemd-socket-activate cannot report the one it got.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	args := append([]string{"-l", addr, "--accept", "--inetd", sj, "run", "--policy", polPath, "--"}, argv...)
	s := &interactive{addr: addr, stderr: &testenv.LockedBuffer{}}
	s.ssa = exec.Command(ssaPath, args...)
	s.ssa.Env = os.Environ()
	s.ssa.Stderr = s.stderr
	if err := s.ssa.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.ssa.Process.Kill()
		s.ssa.Wait()
		if t.Failed() {
			t.Logf("systemd-socket-activate and sockjail stderr:\n%s", s.stderr.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.stderr.String(), "Listening on") {
		if time.Now().After(deadline) {
			t.Fatalf("systemd-socket-activate does not listen: %s", s.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

// telnet starts the inetutils telnet client on a cols x rows pty with
// TERM=xterm, connected to s.
func (s *interactive) telnet(t *testing.T, cols, rows int) *termtest.Term {
	t.Helper()
	telnetPath := testenv.LookTool(t, "telnet")
	host, port, _ := net.SplitHostPort(s.addr)
	return termtest.Client(t, telnetPath, cols, rows, host, port)
}

// serveMenu runs `sockjail serve` on a fresh port with the menu under
// polPath, and returns once it accepts connections, with its process.
func serveMenu(t *testing.T, bin, polPath string) (*interactive, *exec.Cmd) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	stderr := &testenv.LockedBuffer{}
	srv := exec.Command(testenv.Sockjail(t), "serve", "--listen", addr, "--policy", polPath, "--", filepath.Join(bin, "menu"))
	srv.Stderr = stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
		if t.Failed() {
			t.Logf("sockjail serve stderr:\n%s", stderr.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp4", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sockjail serve does not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &interactive{addr: addr, stderr: stderr}, srv
}

// dial connects a raw TCP client.
func (s *interactive) dial(t *testing.T) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	d.SetMultipathTCP(false)
	c, err := d.Dial("tcp4", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(60 * time.Second))
	return c.(*net.TCPConn)
}

const interactiveWait = 10 * time.Second

// TestInteractiveTelnetMenu logs into the menu with the real telnet client:
// the prompt shows without any input, typed characters echo exactly once,
// Enter is one newline, TERM and the window size come from the client, the
// program runs on its own pty, and quitting closes the connection cleanly.
func TestInteractiveTelnetMenu(t *testing.T) {
	bin := interactiveBin(t)
	s := serveInteractive(t, bin, "telnet = true", "0", filepath.Join(bin, "menu"))
	term := s.telnet(t, 100, 30)
	t.Logf("prompt after %v", termtest.MenuLogin(t, term, interactiveWait))
	term.Send("t\r")
	out, err := term.Expect("\n", interactiveWait) // the echo line
	if err == nil {
		out, err = term.Expect("tty=/dev/pts/", interactiveWait)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "TERM=xterm size=100x30") {
		t.Errorf("terminal report %q, want TERM=xterm size=100x30", out)
	}
	term.Send("\r")
	term.Send("q\r")
	out, err = term.Expect("Bye.", interactiveWait)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "No such choice."); n != 1 {
		t.Errorf("an empty line gave %d answers, want 1: %q", n, out)
	}
	bye := time.Now()
	if _, err := term.Expect("Connection closed by foreign host.", interactiveWait); err != nil {
		t.Fatal(err)
	}
	t.Logf("connection closed %v after the program's last words", time.Since(bye))
	if tr := term.Transcript(); strings.Contains(tr, "\xff") {
		t.Errorf("telnet showed raw IAC bytes: %q", tr)
	}
}

// TestInteractiveCurses runs dialog(1), a curses program, behind telnet: it
// must size itself from the window the client's terminal has.
func TestInteractiveCurses(t *testing.T) {
	dialog := testenv.LookTool(t, "dialog")
	bin := interactiveBin(t)
	s := serveInteractive(t, bin, "telnet = true", "0", dialog, "--print-maxsize", "--stdout")
	term := s.telnet(t, 91, 33)
	if _, err := term.Expect("MaxSize: 33, 91", interactiveWait); err != nil {
		t.Fatal(err)
	}
	if _, err := term.Expect("Connection closed by foreign host.", interactiveWait); err != nil {
		t.Fatal(err)
	}
}

// TestInteractivePassiveRaw: a raw client (what nc does) under
// telnet = "passive" gets the program's output and not one negotiation
// byte.
func TestInteractivePassiveRaw(t *testing.T) {
	bin := interactiveBin(t)
	s := serveInteractive(t, bin, `telnet = "passive"`, "0", filepath.Join(bin, "menu"))
	c := s.dial(t)
	r := bufio.NewReader(c)
	var got []byte
	for !bytes.HasSuffix(got, []byte("Choice: ")) {
		b, err := r.ReadByte()
		if err != nil {
			t.Fatalf("before the prompt: %v; got %q", err, got)
		}
		got = append(got, b)
	}
	c.Write([]byte("q\n"))
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading to EOF: %v", err)
	}
	got = append(got, rest...)
	if i := bytes.IndexAny(got, "\xff\x00"); i >= 0 {
		t.Errorf("raw client got a telnet byte at %d: %q", i, got)
	}
	if !strings.HasPrefix(string(got), "Welcome to the sockjail test BBS.\r\n") || !strings.HasSuffix(string(got), "q\r\nBye.\r\n") {
		t.Errorf("raw client got %q", got)
	}
}

// TestInteractive0xFF: 0xFF bytes a telnet client sends (as IAC IAC)
// arrive single at the program.
func TestInteractive0xFF(t *testing.T) {
	bin := interactiveBin(t)
	s := serveInteractive(t, bin, "telnet = true", "0", filepath.Join(bin, "menu"))
	c := s.dial(t)
	// Refuse what sockjail asks for, so that it starts the program at once.
	c.Write([]byte{telnet.IAC, telnet.WONT, telnet.OptNAWS, telnet.IAC, telnet.WONT, telnet.OptTTYPE,
		telnet.IAC, telnet.DO, telnet.OptEcho, telnet.IAC, telnet.DO, telnet.OptSGA})
	r := bufio.NewReader(c)
	readUntil := func(want string) string {
		var got []byte
		for !bytes.Contains(got, []byte(want)) {
			b, err := r.ReadByte()
			if err != nil {
				t.Fatalf("waiting for %q: %v; got %q", want, err, got)
			}
			got = append(got, b)
		}
		return string(got)
	}
	readUntil("Choice: ")
	c.Write([]byte("h\r\n"))
	readUntil("Bytes: ")
	c.Write([]byte{'a', telnet.IAC, telnet.IAC, 'b', telnet.IAC, telnet.IAC, '\r', 0})
	out := readUntil("Choice: ")
	if !strings.Contains(out, "hex: 61 ff 62 ff\r\n") {
		t.Errorf("program got other bytes than 61 ff 62 ff: %q", out)
	}
	// The pty's echo of 0xFF comes back doubled, as telnet requires.
	if !strings.Contains(out, "a\xff\xffb\xff\xff\r\n") {
		t.Errorf("echo of 0xFF not doubled: %q", out)
	}
}

// TestInteractiveLineRate: with line_rate = 2400, 1,200 bytes take 5 s
// (10 bits per byte), within 10%. The clock starts at the first byte: how
// long a session takes to start depends on the host (fork and exec cost
// differ fourfold between hosts of this kind) and on its load, not on the
// line rate, so the 1,199 bytes after the first must take 4.996 s.
func TestInteractiveLineRate(t *testing.T) {
	bin := interactiveBin(t)
	s := serveInteractive(t, bin, "line_rate = 2400", "0", filepath.Join(bin, "menu"), "bytes", "1200")
	connected := time.Now()
	c := s.dial(t)
	first := make([]byte, 1)
	if _, err := io.ReadFull(c, first); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rest, err := io.ReadAll(c)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	got := append(first, rest...)
	want := time.Duration(len(got)-1) * 10 * time.Second / 2400
	t.Logf("1200 bytes at 2400 bit/s: the first %v after connecting, the rest %v later (want %v)", start.Sub(connected), elapsed, want)
	if len(got) != 1200 || strings.Trim(string(got), "x") != "" {
		t.Fatalf("got %d bytes %q", len(got), got)
	}
	if elapsed < want*9/10 || elapsed > want*11/10 {
		t.Errorf("the bytes after the first took %v, want %v within 10%%", elapsed, want)
	}
}

// TestInteractiveIdleTimeout: a session nobody types into ends after
// idle_timeout with the idle message, and the log says why.
func TestInteractiveIdleTimeout(t *testing.T) {
	bin := interactiveBin(t)
	s := serveInteractive(t, bin, `pty = true
idle_message = "No input for a second, goodbye."`, "1s", filepath.Join(bin, "menu"))
	c := s.dial(t)
	start := time.Now()
	got, err := io.ReadAll(c)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("reading to EOF: %v (got %q)", err, got)
	}
	t.Logf("silent session ended after %v", elapsed)
	if !strings.HasSuffix(string(got), "Choice: No input for a second, goodbye.\r\n") {
		t.Errorf("client got %q", got)
	}
	if elapsed < time.Second || elapsed > 4*time.Second {
		t.Errorf("a 1s idle timeout ended the session after %v", elapsed)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.stderr.String(), "killed=idle-timeout") {
		if time.Now().After(deadline) {
			t.Fatalf("the log does not say the session ended for idleness:\n%s", s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInteractiveSlowClient1MiB: 1 MiB through the pty to a client that
// first stalls, then reads slowly; every byte arrives and sockjail's memory
// stays bounded.
//
// The connection is handed to `sockjail run` directly (the inetd shape)
// with a 32 KiB send buffer, and the client reads with a 64 KiB window, so
// that the kernel cannot take the whole MiB off sockjail's hands (on
// loopback it otherwise grows the send buffer to megabytes). During the stall the program could write the MiB in
// milliseconds: a relay that buffered instead of pushing back would grow
// by most of it.
func TestInteractiveSlowClient1MiB(t *testing.T) {
	const size = 1 << 20
	bin := interactiveBin(t)
	polPath := interactivePolicy(t, bin, "pty = true", "0")

	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{Timeout: 10 * time.Second}
	d.SetMultipathTCP(false)
	nc, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*net.TCPConn)
	defer c.Close()
	c.SetReadBuffer(64 << 10)
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	sc.(*net.TCPConn).SetWriteBuffer(32 << 10)
	sf, err := sc.(*net.TCPConn).File()
	sc.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	// Go's poller made the description non-blocking; systemd's is not.
	if err := syscall.SetNonblock(int(sf.Fd()), false); err != nil {
		t.Fatal(err)
	}
	stderr := &testenv.LockedBuffer{}
	cmd := exec.Command(testenv.Sockjail(t), "run", "--policy", polPath, "--", filepath.Join(bin, "menu"), "bytes", strconv.Itoa(size))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = sf, sf, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sf.Close()
	var waitErr error
	done := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(done) }()
	defer func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("sockjail stderr:\n%s", stderr.String())
		}
	}()

	pid := cmd.Process.Pid
	rss := func(field string) int {
		t.Helper()
		v, err := proctest.StatusKB(pid, field)
		if err != nil {
			t.Fatalf("reading sockjail's %s: %v", field, err)
		}
		return v
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	buf := make([]byte, 16<<10)
	got := 0
	read := func() {
		n, err := c.Read(buf)
		got += bytes.Count(buf[:n], []byte("x"))
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
	}
	read() // the program runs and the relay relays
	before := rss("RssAnon")
	time.Sleep(2 * time.Second)
	stalled := rss("RssAnon")
	for got < size-64<<10 {
		read()
		time.Sleep(time.Millisecond)
	}
	// sockjail still runs while the last 64 KiB wait: its peak so far.
	hwm := rss("VmHWM")
	rest, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	got += bytes.Count(rest, []byte("x"))
	t.Logf("sockjail RssAnon %d KiB, after a 2 s stall %d KiB; VmHWM %d KiB", before, stalled, hwm)
	if got != size {
		t.Errorf("got %d bytes of %d", got, size)
	}
	if stalled-before > 256 {
		t.Errorf("sockjail's anonymous memory grew by %d KiB while the client stalled: the relay buffers instead of pushing back", stalled-before)
	}
	// Loose: Go collects garbage only past a 4 MiB heap.
	if hwm > 32<<10 {
		t.Errorf("sockjail's peak RSS %d KiB", hwm)
	}
	select {
	case <-done:
		if waitErr != nil {
			t.Errorf("sockjail run: %v", waitErr)
		}
	case <-time.After(interactiveWait):
		t.Error("sockjail run did not end after the program's output was delivered")
	}
}

// TestInteractiveCRLF: crlf = true without a pty sends the program's "\n"
// as "\r\n", through pipes.
func TestInteractiveCRLF(t *testing.T) {
	bin := interactiveBin(t)
	s := serveInteractive(t, bin, "crlf = true", "0", filepath.Join(bin, "menu"), "size")
	got, err := io.ReadAll(s.dial(t))
	if err != nil {
		t.Fatal(err)
	}
	want := " size=unknown (stdin is not a terminal)\r\ntty=none\r\n"
	if !strings.HasPrefix(string(got), "TERM=") || !strings.HasSuffix(string(got), want) || strings.Count(string(got), "\n") != 2 {
		t.Errorf("got %q, want TERM=...%q", got, want)
	}
}

// TestInteractiveServeConcurrent: `sockjail serve` relays several telnet
// sessions at once, each to its own program on its own pty.
func TestInteractiveServeConcurrent(t *testing.T) {
	const clients = 4
	bin := interactiveBin(t)
	s, _ := serveMenu(t, bin, interactivePolicy(t, bin, "telnet = true", "0"))

	terms := make([]*termtest.Term, clients)
	for i := range terms {
		terms[i] = s.telnet(t, 80+i, 24+i)
	}
	for i, term := range terms {
		if _, err := term.Expect("Choice: ", interactiveWait); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}
	// Interleave the sessions: each must see only its own answers.
	for i, term := range terms {
		term.Send("n\r")
		if _, err := term.Expect("Name: ", interactiveWait); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}
	for i, term := range terms {
		term.Send(fmt.Sprintf("user%d\r", i))
	}
	for i, term := range terms {
		out, err := term.Expect("!", interactiveWait)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		if want := fmt.Sprintf("user%d\r\nHello, user%d!", i, i); out != want {
			t.Errorf("client %d saw %q, want %q", i, out, want)
		}
		term.Send("t\r")
		out, err = term.Expect("tty=", interactiveWait)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		if want := fmt.Sprintf("size=%dx%d", 80+i, 24+i); !strings.Contains(out, want) {
			t.Errorf("client %d: %q, want %s", i, out, want)
		}
		term.Send("q\r")
	}
	for i, term := range terms {
		if _, err := term.Expect("Connection closed by foreign host.", interactiveWait); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}
}

// TestInteractiveSocat serves the menu on a pty behind socat, which hands
// sockjail a socketpair, or with `pipes` two pipes (so the relay reads one
// fd and writes another, neither a socket).
func TestInteractiveSocat(t *testing.T) {
	socat := testenv.LookTool(t, "socat")
	bin := interactiveBin(t)
	polPath := interactivePolicy(t, bin, "pty = true", "0")
	for _, opts := range []string{"", ",pipes"} {
		t.Run("exec"+opts, func(t *testing.T) {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().(*net.TCPAddr)
			ln.Close()
			stderr := &testenv.LockedBuffer{}
			exe := fmt.Sprintf("EXEC:%s run --policy %s -- %s%s", testenv.Sockjail(t), polPath, filepath.Join(bin, "menu"), opts)
			cmd := exec.Command(socat, fmt.Sprintf("TCP4-LISTEN:%d,bind=127.0.0.1,reuseaddr", addr.Port), exe)
			cmd.Stderr = stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				cmd.Process.Kill()
				cmd.Wait()
				if t.Failed() {
					t.Logf("socat and sockjail stderr:\n%s", stderr.String())
				}
			})
			var c net.Conn
			deadline := time.Now().Add(10 * time.Second)
			for c == nil {
				if c, err = net.Dial("tcp4", addr.String()); err != nil {
					if time.Now().After(deadline) {
						t.Fatalf("socat does not listen: %v", err)
					}
					c = nil
					time.Sleep(20 * time.Millisecond)
				}
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(interactiveWait))
			r := bufio.NewReader(c)
			var got []byte
			for !bytes.HasSuffix(got, []byte("Choice: ")) {
				b, err := r.ReadByte()
				if err != nil {
					t.Fatalf("before the prompt: %v; got %q", err, got)
				}
				got = append(got, b)
			}
			c.Write([]byte("t\nq\n"))
			rest, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			// Typed ahead: the pty echoes both lines at once, then the
			// program answers them.
			if !strings.HasPrefix(string(rest), "t\r\nq\r\n") || !strings.Contains(string(rest), "tty=/dev/pts/") ||
				!strings.HasSuffix(string(rest), "Choice: Bye.\r\n") {
				t.Errorf("got %q", rest)
			}
		})
	}
}

// TestInteractiveHalfClose: when the client half-closes, a program reading
// its terminal in raw mode (a curses program, say) gets SIGHUP, as from a
// modem hang-up, and what it writes while handling it still reaches the
// client; one in canonical mode reads EOF.
func TestInteractiveHalfClose(t *testing.T) {
	bin := interactiveBin(t)
	for _, tc := range []struct{ name, script, first, last string }{
		// stty raw turns off output processing too: bare "\n".
		{"raw", `stty raw -echo; trap 'echo got SIGHUP; exit 0' HUP; echo ready; while :; do sleep 0.05; done`, "ready\n", "got SIGHUP\n"},
		{"canonical", `echo ready; cat; echo cat saw EOF`, "ready\r\n", "ready\r\ncat saw EOF\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serveInteractive(t, bin, "pty = true", "0", "/bin/sh", "-c", tc.script)
			c := s.dial(t)
			r := bufio.NewReader(c)
			first, err := r.ReadString('\n')
			if err != nil || !strings.HasPrefix(first, "ready") {
				t.Fatalf("first line %q, %v", first, err)
			}
			c.CloseWrite()
			rest, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			// The whole foreground group gets SIGHUP: sh may report its
			// sleep's "Hangup" before the trap runs.
			if got := first + string(rest); !strings.HasPrefix(got, tc.first) || !strings.HasSuffix(got, tc.last) {
				t.Errorf("got %q, want %q ... %q", got, tc.first, tc.last)
			}
		})
	}
}
