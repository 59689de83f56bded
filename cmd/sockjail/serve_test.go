package main

// Integration tests of `sockjail serve` (issue 5). They drive the real
// binary with real TCP clients, the real systemd-socket-activate and a real
// HAProxy in front, and the real sandbox around the served programs.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/exitcode"
	"github.com/sockjail/sockjail/internal/proctest"
	"github.com/sockjail/sockjail/internal/serve"
	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/policy"
	"golang.org/x/sys/unix"
)

// serveProc is a running `sockjail serve`.
type serveProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string // the first listener's address
	logs *logLines
	done chan struct{}
	err  error // valid after done
}

// logLines collects the JSON log lines of a process's stderr.
type logLines struct {
	mu    sync.Mutex
	lines []map[string]any
	raw   []string
	ch    chan struct{} // closed and replaced on every line
}

func newLogLines(r io.Reader) *logLines {
	l := &logLines{ch: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var m map[string]any
			json.Unmarshal(sc.Bytes(), &m)
			l.mu.Lock()
			l.lines = append(l.lines, m)
			l.raw = append(l.raw, sc.Text())
			close(l.ch)
			l.ch = make(chan struct{})
			l.mu.Unlock()
		}
	}()
	return l
}

// wait returns the first line from index from on that matches, waiting up
// to timeout for it.
func (l *logLines) wait(t *testing.T, timeout time.Duration, match func(map[string]any) bool) map[string]any {
	t.Helper()
	if m := l.find(timeout, match); m != nil {
		return m
	}
	t.Fatalf("no matching log line within %v; log:\n%s", timeout, l.String())
	return nil
}

func (l *logLines) find(timeout time.Duration, match func(map[string]any) bool) map[string]any {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		for _, m := range l.lines {
			if m != nil && match(m) {
				l.mu.Unlock()
				return m
			}
		}
		ch := l.ch
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			return nil
		}
	}
}

func (l *logLines) count(match func(map[string]any) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.lines {
		if m != nil && match(m) {
			n++
		}
	}
	return n
}

// save writes the whole log to $SOCKJAIL_TEST_LOGDIR/TESTNAME.log when that
// variable is set, for a failure too long to read in the test output.
func (l *logLines) save(t *testing.T) {
	dir := os.Getenv("SOCKJAIL_TEST_LOGDIR")
	if dir == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	p := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".log")
	os.WriteFile(p, []byte(strings.Join(l.raw, "\n")+"\n"), 0o644)
	t.Logf("whole serve log in %s", p)
}

// errors counts the distinct error= values of the log lines.
func (l *logLines) errors() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for _, m := range l.lines {
		if e, ok := m["error"].(string); ok {
			out[e]++
		}
	}
	return out
}

// String returns the log, its last 40 lines when it is longer.
func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	raw := l.raw
	prefix := ""
	if len(raw) > 40 {
		prefix = fmt.Sprintf("(%d earlier lines)\n", len(raw)-40)
		raw = raw[len(raw)-40:]
	}
	return prefix + strings.Join(raw, "\n")
}

func msgIs(msg string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["msg"] == msg }
}

func refusedFor(reason string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["msg"] == "connection refused" && m["reason"] == reason }
}

// startServe starts `sockjail serve --log-format json [args] -- argv` and
// waits until it listens.
func startServe(t *testing.T, args []string, argv ...string) *serveProc {
	t.Helper()
	bin := testenv.Sockjail(t)
	full := append([]string{"serve", "--log-format", "json"}, args...)
	full = append(full, "--")
	full = append(full, argv...)
	cmd := exec.Command(bin, full...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = os.Stdout
	s := &serveProc{t: t, cmd: cmd, logs: newLogLines(stderr), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-s.done
			}
		}
		if t.Failed() {
			t.Logf("serve log:\n%s", s.logs)
			s.logs.save(t)
		}
	})
	ready := s.logs.find(20*time.Second, func(m map[string]any) bool { return m["msg"] == "serving" })
	if ready == nil {
		select {
		case <-s.done:
			t.Fatalf("serve exited before listening (%v); log:\n%s", s.err, s.logs)
		default:
			t.Fatalf("serve did not start listening; log:\n%s", s.logs)
		}
	}
	if l, ok := ready["listen"].([]any); ok && len(l) > 0 {
		s.addr, _ = l[0].(string)
	}
	return s
}

// exitCode waits for serve to exit and returns its status.
func (s *serveProc) exitCode(timeout time.Duration) int {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		s.t.Fatalf("serve did not exit within %v; log:\n%s", timeout, s.logs)
	}
	code, err := testenv.ExitStatus(s.err)
	if err != nil {
		s.t.Fatalf("serve: %v", err)
	}
	return code
}

func (s *serveProc) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

// dialFrom connects to addr from the loopback address src ("" = any), so
// that tests can be several clients.
func dialFrom(t testing.TB, src, addr string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("connecting from %s to %s: %v", src, addr, err)
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	return c.(*net.TCPConn)
}

// readLine reads one line.
func readLine(t testing.TB, c net.Conn) string {
	t.Helper()
	var b []byte
	one := make([]byte, 1)
	for {
		n, err := c.Read(one)
		if n == 1 {
			if one[0] == '\n' {
				return string(b)
			}
			b = append(b, one[0])
			continue
		}
		if err != nil {
			t.Fatalf("reading a line (have %q): %v", b, err)
		}
	}
}

// readToEOF reads until EOF and reports whether the connection was reset.
func readToEOF(c net.Conn) ([]byte, error) {
	var buf bytes.Buffer
	_, err := io.Copy(&buf, c)
	return buf.Bytes(), err
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// unreadInputClients makes conns connections to addr, workers at a time;
// each sends 10 bytes that the served big.sh never reads and reads its 1 MiB
// reply to EOF. It returns how many were reset, how many got less than
// 1 MiB, and the client ports of those that got the whole reply but no EOF
// within the read deadline. A connection that cannot be made is an error,
// not a t.Fatal, which in a worker would end it and leave the feeder
// blocked.
func unreadInputClients(t *testing.T, addr string, conns, workers int) (resets, short int, noEOF []int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
				if err != nil {
					t.Errorf("connecting to %s: %v", addr, err)
					continue
				}
				nc.SetDeadline(time.Now().Add(60 * time.Second))
				nc.Write([]byte("0123456789"))
				got, err := readToEOF(nc)
				nc.Close()
				mu.Lock()
				switch {
				case isReset(err):
					resets++
				case os.IsTimeout(err) && len(got) == 1<<20:
					noEOF = append(noEOF, nc.LocalAddr().(*net.TCPAddr).Port)
				case err != nil:
					t.Errorf("read: %v", err)
				}
				if len(got) != 1<<20 {
					short++
				}
				mu.Unlock()
			}
		}()
	}
	for i := range conns {
		next <- i
	}
	close(next)
	wg.Wait()
	return resets, short, noEOF
}

// TestServeHello: the hello world, and the environment a program gets.
func TestServeHello(t *testing.T) {
	f := newServeFixture(t)
	s := startServe(t, []string{"--listen", "127.0.0.1:0"}, f.prog("hello.sh"))
	for i := 0; i < 3; i++ {
		c := dialFrom(t, "", s.addr)
		got, err := readToEOF(c)
		c.Close()
		if err != nil || string(got) != "Hello World\n" {
			t.Fatalf("got %q, %v; want Hello World and EOF", got, err)
		}
	}
	line := s.logs.wait(t, 10*time.Second, msgIs("connection"))
	if line["exit"] != 0.0 || line["close"] == nil || line["peer"] == nil {
		t.Fatalf("log line lacks exit/close/peer: %v", line)
	}

	env := startServe(t, []string{"--listen", "127.0.0.1:0"}, f.prog("env.sh"))
	expectClientEnv(t, env.addr)
}

// TestServeListeners: --listen is repeatable; a dual-stack listener
// describes an IPv4 client with its dotted address, an IPv6 client with its
// IPv6 address.
func TestServeListeners(t *testing.T) {
	f := newServeFixture(t)
	s := startServe(t, []string{"--listen", "127.0.0.1:0", "--listen", "[::]:0"}, f.prog("env.sh"))
	line := s.logs.wait(t, time.Second, msgIs("serving"))
	addrs, _ := line["listen"].([]any)
	if len(addrs) != 2 {
		t.Fatalf("listening on %v, want two addresses", line["listen"])
	}
	_, v6port, _ := net.SplitHostPort(fmt.Sprint(addrs[1]))
	for _, tc := range []struct{ src, dst, want string }{
		{"127.0.0.1", s.addr, "127.0.0.1"},
		{"127.0.0.1", "127.0.0.1:" + v6port, "127.0.0.1"},
		{"::1", "[::1]:" + v6port, "::1"},
	} {
		c := dialFrom(t, tc.src, tc.dst)
		port := c.LocalAddr().(*net.TCPAddr).Port
		got := readLine(t, c)
		c.Close()
		if want := fmt.Sprintf("%s %d %s %d ", tc.want, port, tc.want, port); !strings.HasPrefix(got, want) {
			t.Errorf("from %s to %s: environment %q, want it to start with %q", tc.src, tc.dst, got, want)
		}
	}
}

// TestServeNoResets: the program writes 1 MiB and exits without reading the
// 10 bytes the client sent first. Over 200 connections, none is reset and
// every byte arrives.
func TestServeNoResets(t *testing.T) {
	f := newServeFixture(t)
	pol := f.policy(t, "noresets", map[string]string{"serve": "max_per_source = 16\nmax_connections = 16"})
	s := startServe(t, []string{"--listen", "127.0.0.1:0", "--policy", pol}, f.prog("big.sh"))
	const conns, workers = 200, 8
	resets, short, noEOF := unreadInputClients(t, s.addr, conns, workers)
	if len(noEOF) > 0 {
		t.Errorf("%d connections got the whole reply but no EOF (client ports %v)", len(noEOF), noEOF)
	}
	t.Logf("%d connections: %d resets, %d short", conns, resets, short)
	if resets != 0 || short != 0 {
		t.Fatalf("%d of %d connections reset, %d lost data", resets, conns, short)
	}
}

// TestServeReconnectAtLimit: a client that keeps max_per_source - 1
// connections going (the default policy: 8), each sending 10 bytes the
// program never reads, reading the 1 MiB reply to EOF, closing and
// connecting again at once, is never refused: a connection stops counting
// against its source when it is closed, not when its sandbox is gone. The
// machine is kept busy meanwhile (one spinning process per CPU), which
// makes the teardown of each sandbox slow.
func TestServeReconnectAtLimit(t *testing.T) {
	f := newServeFixture(t)
	// The program runs as a uid of its own: RLIMIT_NPROC counts nobody's
	// processes machine-wide, other tests' included, and a session that
	// can't fork would be a short reply, not the refusal under test.
	pol := f.policy(t, "reconnect", map[string]string{"program": fmt.Sprintf("user = \"%d\"", reconnectUID)})
	s := startServe(t, []string{"--listen", "127.0.0.1:0", "--policy", pol}, f.prog("big.sh"))
	maxPerSource := policy.Default().Serve.MaxPerSource
	busyMachine(t)
	const conns = 500
	resets, short, noEOF := unreadInputClients(t, s.addr, conns, maxPerSource-1)
	refused := s.logs.count(refusedFor(serve.ReasonMaxPerSource)) + s.logs.count(refusedFor(serve.ReasonMaxConnections))
	t.Logf("%d connections, %d at a time: %d refused, %d reset, %d short", conns, maxPerSource-1, refused, resets, short)
	if refused != 0 || short != 0 || resets != 0 || len(noEOF) != 0 {
		t.Fatalf("%d of %d connections refused, %d reset, %d short, %d without EOF; want none", refused, conns, resets, short, len(noEOF))
	}
}

// reconnectUID is the uid TestServeReconnectAtLimit's program runs as.
const reconnectUID = 4242490

// busyMachine keeps every CPU busy with a spinning process until the test
// ends.
func busyMachine(t *testing.T) {
	t.Helper()
	for range runtime.NumCPU() {
		cmd := exec.Command("/bin/sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
}

// TestServeHalfClose: a client that sends its request and half-closes gets
// the whole answer, which the program writes only after reading to EOF.
func TestServeHalfClose(t *testing.T) {
	f := newServeFixture(t)
	s := startServe(t, []string{"--listen", "127.0.0.1:0"}, f.prog("count.sh"))
	c := dialFrom(t, "", s.addr)
	defer c.Close()
	c.Write(bytes.Repeat([]byte("x"), 12345))
	c.CloseWrite()
	got, err := readToEOF(c)
	if err != nil || strings.TrimSpace(string(got)) != "read 12345" {
		t.Fatalf("got %q, %v; want \"read 12345\"", got, err)
	}
}

// TestServeNeverReadingClient: a client that never reads can't hold a
// session: it ends after flush_timeout, with nothing left behind.
func TestServeNeverReadingClient(t *testing.T) {
	f := newServeFixture(t)
	pol := f.policy(t, "neverread", map[string]string{"connection": "flush_timeout = \"1s\"\nmax_duration = \"2s\"\nlinger_idle = \"200ms\""})
	s := startServe(t, []string{"--listen", "127.0.0.1:0", "--policy", pol}, f.prog("flood.sh"))
	c := dialFrom(t, "", s.addr)
	defer c.Close()
	c.SetReadBuffer(4096)
	start := time.Now()
	line := s.logs.wait(t, 20*time.Second, msgIs("connection"))
	el := time.Since(start)
	if line["close"] != "flush-timeout" {
		t.Fatalf("close = %v, want flush-timeout: %v", line["close"], line)
	}
	if el > 10*time.Second {
		t.Fatalf("session took %v, want about max_duration + flush_timeout (3s)", el)
	}
	proctest.WaitNoDescendants(t, s.cmd.Process.Pid, 5*time.Second)
}

// expectRefused checks a refused connection: the optional message, then
// EOF, never a reset, although the client sent bytes that nobody read.
func expectRefused(t *testing.T, src, addr, message string) {
	t.Helper()
	c := dialFrom(t, src, addr)
	defer c.Close()
	c.Write([]byte("unread input\n"))
	got, err := readToEOF(c)
	if err != nil {
		t.Fatalf("refused connection from %s: %v (want a polite close)", src, err)
	}
	if string(got) != message {
		t.Fatalf("refused connection from %s got %q, want %q", src, got, message)
	}
}

// expectServed opens a connection that the program greets, and returns it
// open.
func expectServed(t *testing.T, src, addr string) *net.TCPConn {
	t.Helper()
	c := dialFrom(t, src, addr)
	if got := readLine(t, c); !strings.HasPrefix(got, "ready") {
		t.Fatalf("connection from %s: got %q, want the greeting", src, got)
	}
	return c
}

// finish ends a session opened by expectServed.
func finish(t *testing.T, c *net.TCPConn) {
	t.Helper()
	c.Write([]byte("bye\n"))
	got, err := readToEOF(c)
	c.Close()
	if err != nil || string(got) != "got bye\n" {
		t.Fatalf("ending a session: %q, %v", got, err)
	}
}

// TestServeLimits: max_connections and max_per_source refuse the excess
// politely (busy_message, FIN, never RST) with the reason logged, and
// accept again once slots are free.
func TestServeLimits(t *testing.T) {
	f := newServeFixture(t)
	pol := f.policy(t, "limits", map[string]string{"serve": "max_connections = 3\nmax_per_source = 2\nbusy_message = \"busy, try later\""})
	s := startServe(t, []string{"--listen", "127.0.0.1:0", "--policy", pol}, f.prog("line.sh"))

	a1 := expectServed(t, "127.0.0.2", s.addr)
	a2 := expectServed(t, "127.0.0.2", s.addr)
	expectRefused(t, "127.0.0.2", s.addr, "busy, try later\r\n")
	s.logs.wait(t, 10*time.Second, refusedFor("max-per-source"))

	b1 := expectServed(t, "127.0.0.3", s.addr)
	expectRefused(t, "127.0.0.4", s.addr, "busy, try later\r\n")
	s.logs.wait(t, 10*time.Second, refusedFor("max-connections"))

	// Free one of 127.0.0.2's slots: that source is accepted again, and
	// the server is full again.
	finish(t, a1)
	s.logs.wait(t, 10*time.Second, msgIs("connection"))
	// The slots are given back just after the log line is written.
	time.Sleep(100 * time.Millisecond)
	a3 := expectServed(t, "127.0.0.2", s.addr)
	expectRefused(t, "127.0.0.5", s.addr, "busy, try later\r\n")

	for _, c := range []*net.TCPConn{a2, a3, b1} {
		finish(t, c)
	}
	// Everything free: a new source gets in.
	deadline := time.Now().Add(10 * time.Second)
	for s.logs.count(msgIs("connection")) < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	finish(t, expectServed(t, "127.0.0.6", s.addr))
}

// TestServeRefusalFlood: 400 connections beyond max_connections at once,
// more than serve closes with a linger at a time: every one still gets the
// busy message and a FIN, none a reset, and serve goes on serving.
func TestServeRefusalFlood(t *testing.T) {
	f := newServeFixture(t)
	pol := f.policy(t, "flood", map[string]string{"serve": "max_connections = 1\nbusy_message = \"busy\""})
	s := startServe(t, []string{"--listen", "127.0.0.1:0", "--policy", pol}, f.prog("line.sh"))
	raiseNoFile(t, 4096)
	held := expectServed(t, "127.0.0.2", s.addr)
	const n = 400
	conns := make([]*net.TCPConn, n)
	for i := range conns {
		conns[i] = dialFrom(t, "127.0.0.3", s.addr)
		conns[i].Write([]byte("unread input\n"))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := readToEOF(c)
			if err != nil || string(got) != "busy\r\n" {
				errs <- fmt.Errorf("refused connection %d: %q, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
	for _, c := range conns {
		c.Close()
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for s.logs.count(refusedFor("max-connections")) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := s.logs.count(refusedFor("max-connections")); got != n {
		t.Fatalf("%d refusals logged, want %d", got, n)
	}
	// Both kinds of polite close happened: with a linger (the first 256
	// at a time) and without ("closed": FIN sent, nothing waited for).
	fast := s.logs.count(func(m map[string]any) bool { return m["reason"] == "max-connections" && m["close"] == "closed" })
	t.Logf("%d of %d refusals closed without lingering", fast, n)
	if fast == 0 || fast == n {
		t.Fatalf("%d of %d refusals closed without lingering; want some of each", fast, n)
	}
	finish(t, held)
	s.logs.wait(t, 10*time.Second, msgIs("connection"))
	time.Sleep(100 * time.Millisecond)
	finish(t, expectServed(t, "127.0.0.4", s.addr))
}

// TestServeRate: rate_per_source turns away a source's connections beyond
// its rate, and not other sources'.
func TestServeRate(t *testing.T) {
	f := newServeFixture(t)
	pol := f.policy(t, "rate", map[string]string{"serve": "rate_per_source = 0.2"})
	s := startServe(t, []string{"--listen", "127.0.0.1:0", "--policy", pol}, f.prog("line.sh"))
	finish(t, expectServed(t, "127.0.0.2", s.addr))
	expectRefused(t, "127.0.0.2", s.addr, "")
	s.logs.wait(t, 10*time.Second, refusedFor("rate-per-source"))
	finish(t, expectServed(t, "127.0.0.3", s.addr))
}

// TestServeAccessRules: a denied address never starts the program (no
// marker file appears), an allowed one does.
func TestServeAccessRules(t *testing.T) {
	f := newServeFixture(t)
	pol := f.policy(t, "rules", map[string]string{"serve": "allow_from = [\"127.0.0.0/24\"]\ndeny_from = [\"127.0.0.66\"]"})
	s := startServe(t, []string{"--listen", "127.0.0.1:0", "--policy", pol}, f.prog("marker.sh"))

	expectRefused(t, "127.0.0.66", s.addr, "")
	line := s.logs.wait(t, 10*time.Second, refusedFor("access-rule"))
	if !strings.Contains(fmt.Sprint(line["error"]), "deny_from 127.0.0.66/32") {
		t.Fatalf("refusal does not name the rule: %v", line)
	}
	expectRefused(t, "127.0.1.1", s.addr, "")
	s.logs.wait(t, 10*time.Second, func(m map[string]any) bool {
		return m["msg"] == "connection refused" && strings.Contains(fmt.Sprint(m["error"]), "not in allow_from")
	})
	c := dialFrom(t, "127.0.0.65", s.addr)
	got, err := readToEOF(c)
	c.Close()
	if err != nil || string(got) != "ran\n" {
		t.Fatalf("allowed client got %q, %v", got, err)
	}
	ents, _ := os.ReadDir(f.markers)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "ran-127.0.0.65" {
		t.Fatalf("markers = %v, want only ran-127.0.0.65: a denied client started the program", names)
	}
}

// TestServeSystemdActivation: `systemd-socket-activate -l ADDR` without
// --accept passes a listening socket, and serve serves it, connection after
// connection.
func TestServeSystemdActivation(t *testing.T) {
	f := newServeFixture(t)
	ssa := testenv.LookTool(t, "systemd-socket-activate")
	addr := testenv.FreeLoopbackAddr(t)
	cmd := exec.Command(ssa, "-l", addr, testenv.Sockjail(t), "serve", "--log-format", "json", "--", f.prog("hello.sh"))
	stderr, _ := cmd.StderrPipe()
	logs := newLogLines(stderr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve under systemd-socket-activate exited with %v", err)
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Error("serve did not stop on SIGTERM")
		}
		if t.Failed() {
			t.Logf("log:\n%s", logs)
		}
	}()
	for i := 0; i < 5; i++ {
		c := dialRetry(t, addr)
		got, err := readToEOF(c)
		c.Close()
		if err != nil || string(got) != "Hello World\n" {
			t.Fatalf("connection %d: %q, %v", i, got, err)
		}
	}
	logs.wait(t, 10*time.Second, msgIs("serving"))
}

// TestServeNotify: under a service manager (NOTIFY_SOCKET), serve sends
// READY=1 once listening, STATUS= with counts, and STOPPING=1 on SIGTERM.
func TestServeNotify(t *testing.T) {
	f := newServeFixture(t)
	sock := filepath.Join(t.TempDir(), "notify")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	s := startServe(t, []string{"--listen", "127.0.0.1:0"}, f.prog("hello.sh"))
	t.Setenv("NOTIFY_SOCKET", "")
	recv := func() string {
		pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 4096)
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no sd_notify message: %v", err)
		}
		return string(buf[:n])
	}
	if m := recv(); !strings.HasPrefix(m, "READY=1\nSTATUS=0 live sessions") {
		t.Fatalf("first message %q, want READY=1 and a STATUS", m)
	}
	c := dialFrom(t, "", s.addr)
	readToEOF(c)
	c.Close()
	for {
		m := recv()
		if strings.Contains(m, "1 served") {
			break
		}
	}
	// A reload is announced and its end reported.
	s.signal(syscall.SIGHUP)
	if m := recv(); !strings.HasPrefix(m, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("on SIGHUP: %q, want RELOADING=1 with MONOTONIC_USEC", m)
	}
	for {
		if m := recv(); strings.HasPrefix(m, "READY=1") {
			break
		}
	}
	s.signal(syscall.SIGTERM)
	for {
		if m := recv(); strings.HasPrefix(m, "STOPPING=1") {
			break
		}
	}
	if code := s.exitCode(20 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0", code)
	}
}

func dialRetry(t *testing.T, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.SetDeadline(time.Now().Add(30 * time.Second))
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("connecting to %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeHAProxy puts a real HAProxy in front of serve, once with
// send-proxy (v1) and once with send-proxy-v2: the program sees the
// original client's address, and a random payload echoed through cat
// arrives whole: the header reader took no byte of the stream.
func TestServeHAProxy(t *testing.T) {
	f := newServeFixture(t)
	haproxy := testenv.LookTool(t, "haproxy")
	for _, v := range []struct{ mode, option string }{{"v1", "send-proxy"}, {"v2", "send-proxy-v2"}} {
		t.Run(v.mode, func(t *testing.T) {
			pol := f.policy(t, "proxy-"+v.mode, map[string]string{"serve": fmt.Sprintf("proxy_protocol = %q", v.mode)})
			s := startServe(t, []string{"--listen", "127.0.0.1:0", "--policy", pol}, f.prog("env.sh"))
			front := testenv.FreeLoopbackAddr(t)
			cfg := fmt.Sprintf(`global
    log stderr format raw local0 warning
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend fe
    bind %s
    default_backend be
backend be
    server sockjail %s %s
`, front, s.addr, v.option)
			cfgPath := filepath.Join(t.TempDir(), "haproxy.cfg")
			os.WriteFile(cfgPath, []byte(cfg), 0o644)
			hp := exec.Command(haproxy, "-db", "-f", cfgPath)
			var hlog bytes.Buffer
			hp.Stdout, hp.Stderr = &hlog, &hlog
			if err := hp.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				hp.Process.Kill()
				hp.Wait()
				if t.Failed() {
					t.Logf("haproxy:\n%s", hlog.String())
				}
			}()
			dialRetry(t, front).Close() // wait until HAProxy listens

			payload := make([]byte, 256<<10)
			rand.Read(payload)
			for i := 0; i < 3; i++ {
				src := fmt.Sprintf("127.0.0.%d", 20+i)
				c := dialFrom(t, src, front)
				port := c.LocalAddr().(*net.TCPAddr).Port
				want := fmt.Sprintf("%s %d %s %d 127.0.0.1 TCP", src, port, src, port)
				if got := readLine(t, c); got != want {
					c.Close()
					t.Fatalf("program saw %q, want %q (the client behind HAProxy)", got, want)
				}
				errc := make(chan error, 1)
				go func() {
					_, err := c.Write(payload)
					c.CloseWrite()
					errc <- err
				}()
				got, err := readToEOF(c)
				c.Close()
				if werr := <-errc; werr != nil || err != nil {
					t.Fatalf("write %v, read %v", werr, err)
				}
				if !bytes.Equal(got, payload) {
					t.Fatalf("echo through HAProxy and serve: %d bytes back of %d, equal prefix %d", len(got), len(payload), commonPrefix(got, payload))
				}
			}
			// The log line names the client too.
			s.logs.wait(t, 10*time.Second, func(m map[string]any) bool {
				return m["msg"] == "connection" && strings.HasPrefix(fmt.Sprint(m["peer"]), "127.0.0.20:")
			})
		})
	}
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// TestServeProxyHeaderRequired: with proxy_protocol on, a client that sends
// no header is refused without starting the program, and one whose header
// never completes is cut off after a short timeout.
func TestServeProxyHeaderRequired(t *testing.T) {
	f := newServeFixture(t)
	pol := f.policy(t, "proxy-any", map[string]string{"serve": "proxy_protocol = \"any\""})
	s := startServe(t, []string{"--listen", "127.0.0.1:0", "--policy", pol}, f.prog("marker.sh"))
	c := dialFrom(t, "", s.addr)
	c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	got, err := readToEOF(c)
	c.Close()
	if err != nil || len(got) != 0 {
		t.Fatalf("client without a header got %q, %v; want a silent polite close", got, err)
	}
	s.logs.wait(t, 10*time.Second, refusedFor("proxy-header"))

	c = dialFrom(t, "", s.addr)
	c.Write([]byte("PROXY TCP4 192.0.2.1 "))
	start := time.Now()
	readToEOF(c)
	c.Close()
	if el := time.Since(start); el > 15*time.Second {
		t.Fatalf("incomplete header held the connection for %v", el)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.logs.count(refusedFor("proxy-header")) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := s.logs.count(refusedFor("proxy-header")); n != 2 {
		t.Fatalf("%d proxy-header refusals logged, want 2", n)
	}
	// A correct header from a direct client works, and the program sees
	// the header's address.
	c = dialFrom(t, "", s.addr)
	c.Write([]byte("PROXY TCP4 192.0.2.1 192.0.2.2 1234 80\r\n"))
	got, err = readToEOF(c)
	c.Close()
	if err != nil || string(got) != "ran\n" {
		t.Fatalf("with a header: %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(f.markers, "ran-192.0.2.1")); err != nil {
		t.Fatalf("program did not see the header's address: %v", err)
	}
	if ents, _ := os.ReadDir(f.markers); len(ents) != 1 {
		t.Fatalf("%d markers, want 1: a refused client started the program", len(ents))
	}
}

// TestServeProxyRules: behind a PROXY header, the access rules and
// per-source limits judge the header's address, not the proxy's.
func TestServeProxyRules(t *testing.T) {
	f := newServeFixture(t)
	pol := f.policy(t, "proxy-rules", map[string]string{"serve": "proxy_protocol = \"v1\"\ndeny_from = [\"192.0.2.0/24\"]\nmax_per_source = 1\nbusy_message = \"busy\""})
	s := startServe(t, []string{"--listen", "127.0.0.1:0", "--policy", pol}, f.prog("line.sh"))
	header := func(src string) string { return fmt.Sprintf("PROXY TCP4 %s 127.0.0.1 4000 80\r\n", src) }

	c := dialFrom(t, "", s.addr)
	c.Write([]byte(header("192.0.2.7")))
	if got, err := readToEOF(c); err != nil || len(got) != 0 {
		t.Fatalf("denied header address: %q, %v", got, err)
	}
	c.Close()
	line := s.logs.wait(t, 10*time.Second, refusedFor("access-rule"))
	if line["peer"] != "192.0.2.7:4000" {
		t.Fatalf("refusal logged for peer %v, want the header's 192.0.2.7:4000", line["peer"])
	}

	// Two clients behind the same proxy address are two sources; the same
	// client twice is one.
	a := dialFrom(t, "", s.addr)
	a.Write([]byte(header("198.51.100.1")))
	if got := readLine(t, a); !strings.HasPrefix(got, "ready") {
		t.Fatalf("first client: %q", got)
	}
	b := dialFrom(t, "", s.addr)
	b.Write([]byte(header("198.51.100.2")))
	if got := readLine(t, b); !strings.HasPrefix(got, "ready") {
		t.Fatalf("second client: %q", got)
	}
	again := dialFrom(t, "", s.addr)
	again.Write([]byte(header("198.51.100.1")))
	if got, err := readToEOF(again); err != nil || string(got) != "busy\r\n" {
		t.Fatalf("first client again: %q, %v; want busy", got, err)
	}
	again.Close()
	s.logs.wait(t, 10*time.Second, refusedFor("max-per-source"))
	finish(t, a)
	finish(t, b)
}

// TestServeLoad: 500 connections held open for 10 s while 2,000 short ones
// come and go. No error, and afterwards no descriptor, process or session
// left.
func TestServeLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped in -short mode")
	}
	f := newServeFixture(t)
	pol := f.policy(t, "load", map[string]string{
		"serve": "max_connections = 1000\nmax_per_source = 1000",
		// nproc counts every process of the program's uid, and 500
		// sessions run 500 programs as nobody: above the default 256.
		"limits": "nproc = 4000",
	})
	raiseNoFile(t, 8192)
	s := startServe(t, []string{"--listen", "127.0.0.1:0", "--policy", pol}, f.prog("echo.sh"))
	pid := s.cmd.Process.Pid
	// One connection first, so that everything lazily set up is set up.
	warm := dialFrom(t, "", s.addr)
	warm.CloseWrite()
	readToEOF(warm)
	warm.Close()
	s.logs.wait(t, 10*time.Second, msgIs("connection"))
	time.Sleep(200 * time.Millisecond)
	fdCount := func() int {
		n, err := proctest.FDCount(pid)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	rssKiB := func() int {
		n, err := proctest.StatusKB(pid, "VmRSS")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	fdsBefore := fdCount()
	rssBefore := rssKiB()

	const held, short = 500, 2000
	start := time.Now()
	conns := make([]*net.TCPConn, held)
	var wg sync.WaitGroup
	errs := make(chan error, held+short)
	for i := range conns {
		conns[i] = dialFrom(t, "", s.addr)
		conns[i].SetDeadline(time.Now().Add(120 * time.Second))
	}
	// Every held connection is served: each echoes a line.
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := fmt.Sprintf("held %d\n", i)
			c.Write([]byte(msg))
			buf := make([]byte, len(msg))
			if n, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
				errs <- fmt.Errorf("held connection %d: %q, %v", i, buf[:n], err)
			}
		}()
	}
	wg.Wait()
	// sockjail's memory per open idle connection (the programs' own is
	// not counted: they are other processes).
	rssHeld := rssKiB()
	perConn := float64(rssHeld-rssBefore) / held
	t.Logf("serve RSS: %d KiB idle, %d KiB with %d open connections: %.1f KiB per connection", rssBefore, rssHeld, held, perConn)
	// The target is 64 KiB; twice that is a regression, not noise.
	if perConn > 128 {
		t.Errorf("serve uses %.1f KiB per open idle connection, want at most 64 KiB", perConn)
	}
	// 2,000 short connections from 16 clients meanwhile.
	next := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				// Not dialFrom: its t.Fatal would end this worker
				// and leave the feeder blocked forever.
				nc, err := net.DialTimeout("tcp", s.addr, 10*time.Second)
				if err != nil {
					errs <- fmt.Errorf("short connection %d: %v", i, err)
					continue
				}
				c := nc.(*net.TCPConn)
				c.SetDeadline(time.Now().Add(60 * time.Second))
				msg := fmt.Sprintf("short %d", i)
				c.Write([]byte(msg))
				c.CloseWrite()
				got, err := readToEOF(c)
				c.Close()
				if err != nil || string(got) != msg {
					errs <- fmt.Errorf("short connection %d: %q, %v", i, got, err)
				}
			}
		}()
	}
	for i := 0; i < short; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if el := time.Since(start); el < 10*time.Second {
		time.Sleep(10*time.Second - el)
	}
	// The held connections are still alive after 10 s, then end.
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Write([]byte("end\n"))
			c.CloseWrite()
			got, err := readToEOF(c)
			c.Close()
			if err != nil || string(got) != "end\n" {
				errs <- fmt.Errorf("held connection %d at the end: %q, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n < 10 {
			t.Error(err)
		}
		n++
	}
	if n > 0 {
		t.Fatalf("%d connections failed; the sessions' errors: %v", n, s.logs.errors())
	}
	total := held + short + 1
	deadline := time.Now().Add(30 * time.Second)
	for s.logs.count(msgIs("connection")) < total && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := s.logs.count(msgIs("connection")); got != total {
		t.Fatalf("%d connection log lines, want %d", got, total)
	}
	if r := s.logs.count(msgIs("connection refused")); r != 0 {
		t.Fatalf("%d connections refused", r)
	}
	proctest.WaitNoDescendants(t, pid, 10*time.Second)
	deadline = time.Now().Add(10 * time.Second)
	for fdCount() != fdsBefore && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if after := fdCount(); after != fdsBefore {
		t.Fatalf("serve holds %d fds after the load, %d before", after, fdsBefore)
	}
	t.Logf("%d held + %d short connections in %v", held, short, time.Since(start).Round(time.Millisecond))
}

func raiseNoFile(t *testing.T, n uint64) {
	t.Helper()
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	if r.Cur >= n {
		return
	}
	if r.Max < n {
		r.Max = n
	}
	r.Cur = n
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("cannot raise RLIMIT_NOFILE to %d: %v", n, err))
	}
}

// TestServeGracefulStop: SIGTERM stops accepting and lets a live session
// finish, then serve exits 0.
func TestServeGracefulStop(t *testing.T) {
	f := newServeFixture(t)
	s := startServe(t, []string{"--listen", "127.0.0.1:0"}, f.prog("line.sh"))
	c := expectServed(t, "", s.addr)
	s.signal(syscall.SIGTERM)
	s.logs.wait(t, 10*time.Second, msgIs("stopping"))
	// No new connections.
	if c2, err := net.DialTimeout("tcp", s.addr, 2*time.Second); err == nil {
		c2.Close()
		t.Fatal("serve still accepts after SIGTERM")
	}
	time.Sleep(300 * time.Millisecond)
	finish(t, c)
	if code := s.exitCode(20 * time.Second); code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
}

// TestServeStopTimeout: a session still running at stop_timeout is killed;
// its close still runs (the client gets what was written, then EOF, no
// reset), and serve exits 0.
func TestServeStopTimeout(t *testing.T) {
	f := newServeFixture(t)
	pol := f.policy(t, "stoptimeout", map[string]string{
		"serve":      "stop_timeout = \"1s\"",
		"connection": "linger_idle = \"200ms\"",
	})
	s := startServe(t, []string{"--listen", "127.0.0.1:0", "--policy", pol}, f.prog("sleep.sh"))
	c := expectServed(t, "", s.addr)
	defer c.Close()
	c.Write([]byte("unread"))
	start := time.Now()
	s.signal(syscall.SIGTERM)
	got, err := readToEOF(c)
	if err != nil || len(got) != 0 {
		t.Fatalf("after the kill the client got %q, %v; want EOF without reset", got, err)
	}
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Fatalf("session ended %v after SIGTERM, before stop_timeout", el)
	}
	if code := s.exitCode(20 * time.Second); code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	line := s.logs.wait(t, time.Second, msgIs("connection"))
	if line["killed"] != "stopped" || line["signal"] == nil {
		t.Fatalf("log line does not show the kill: %v", line)
	}
	waitGone(t, line)
}

// TestServeSecondSIGTERM: a second SIGTERM during the grace period ends the
// sessions at once instead of after stop_timeout.
func TestServeSecondSIGTERM(t *testing.T) {
	f := newServeFixture(t)
	pol := f.policy(t, "second", map[string]string{"serve": "stop_timeout = \"60s\""})
	s := startServe(t, []string{"--listen", "127.0.0.1:0", "--policy", pol}, f.prog("sleep.sh"))
	c := expectServed(t, "", s.addr)
	defer c.Close()
	s.signal(syscall.SIGTERM)
	s.logs.wait(t, 10*time.Second, msgIs("stopping"))
	start := time.Now()
	s.signal(syscall.SIGTERM)
	if code := s.exitCode(20 * time.Second); code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Fatalf("serve took %v after the second SIGTERM", el)
	}
	line := s.logs.wait(t, time.Second, msgIs("connection"))
	if line["killed"] != "stopped" {
		t.Fatalf("log line does not show the kill: %v", line)
	}
	waitGone(t, line)
}

// waitGone checks that the program of a session's log line is gone (serve
// has exited, so its descendants can't be found through it any more).
func waitGone(t *testing.T, line map[string]any) {
	t.Helper()
	pid, _ := line["pid"].(float64)
	if pid <= 0 {
		t.Fatalf("log line without a pid: %v", line)
	}
	deadline := time.Now().Add(5 * time.Second)
	for proctest.Alive(int(pid)) {
		if time.Now().After(deadline) {
			t.Fatalf("the program (pid %d) outlived serve: %q", int(pid), proctest.Cmdline(int(pid)))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeReload: SIGHUP with a changed valid policy applies to new
// connections; with an invalid one, the error is logged and the old policy
// stays.
func TestServeReload(t *testing.T) {
	f := newServeFixture(t)
	write := func(greeting string) string {
		return f.policy(t, "reload", map[string]string{
			"program": fmt.Sprintf("env = { PATH = \"/usr/bin:/bin\", GREETING = %q }", greeting),
		})
	}
	pol := write("one")
	s := startServe(t, []string{"--listen", "127.0.0.1:0", "--policy", pol}, f.prog("line.sh"))
	old := dialFrom(t, "", s.addr)
	if got := readLine(t, old); got != "ready one" {
		t.Fatalf("greeting %q, want ready one", got)
	}

	write("two")
	s.signal(syscall.SIGHUP)
	s.logs.wait(t, 10*time.Second, msgIs("policy reloaded"))
	c := dialFrom(t, "", s.addr)
	if got := readLine(t, c); got != "ready two" {
		t.Fatalf("after reload: greeting %q, want ready two", got)
	}
	finish(t, c)
	// The session from before the reload goes on under its policy.
	finish(t, old)

	os.WriteFile(pol, []byte("version = 1\n[serve]\nmax_connections = \"many\"\n"), 0o644)
	s.signal(syscall.SIGHUP)
	line := s.logs.wait(t, 10*time.Second, msgIs("policy reload failed, keeping the current policy"))
	if e := fmt.Sprint(line["error"]); !strings.Contains(e, pol+":3:") {
		t.Fatalf("reload error %q does not point at the file, line and column", e)
	}
	c = dialFrom(t, "", s.addr)
	if got := readLine(t, c); got != "ready two" {
		t.Fatalf("after a failed reload: greeting %q, want ready two", got)
	}
	finish(t, c)
}

// TestServeListSessions: SIGUSR1 logs every live session with its peer, pid
// and age.
func TestServeListSessions(t *testing.T) {
	f := newServeFixture(t)
	s := startServe(t, []string{"--listen", "127.0.0.1:0"}, f.prog("line.sh"))
	c1 := expectServed(t, "127.0.0.11", s.addr)
	c2 := expectServed(t, "127.0.0.12", s.addr)
	// A program can greet its client before serve has recorded its pid,
	// so a listing taken right away may show pid 0: list again until one
	// shows both sessions with their pids.
	withPID := func(c *net.TCPConn) func(map[string]any) bool {
		peer := c.LocalAddr().String()
		return func(m map[string]any) bool {
			pid, _ := m["pid"].(float64)
			return m["msg"] == "session" && m["peer"] == peer && pid > 0 && m["age"] != nil
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.signal(syscall.SIGUSR1)
		s.logs.wait(t, 10*time.Second, msgIs("sessions"))
		if s.logs.count(withPID(c1)) > 0 && s.logs.count(withPID(c2)) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SIGUSR1 listing within 10s shows both sessions with a pid and an age")
		}
		time.Sleep(100 * time.Millisecond)
	}
	finish(t, c1)
	finish(t, c2)
}

// TestServeBadInput: wrong invocations fail with a clear message and a
// documented exit code, never a panic.
func TestServeBadInput(t *testing.T) {
	f := newServeFixture(t)
	bin := testenv.Sockjail(t)
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	badPolicy := filepath.Join(f.dir, "bad.toml")
	os.WriteFile(badPolicy, []byte("version = 1\n[serve]\nallow_from = [\"10.0.0.0/33\"]\n"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		code int
		msg  string
	}{
		{"no program", []string{"--listen", "127.0.0.1:0"}, nil, exitcode.Usage, "no program given"},
		{"no sockets", []string{"--", f.prog("hello.sh")}, nil, exitcode.NoConnection, "--listen"},
		{"foreign LISTEN_PID", []string{"--", f.prog("hello.sh")}, []string{"LISTEN_PID=1", "LISTEN_FDS=1"}, exitcode.NoConnection, "--listen"},
		{"bad address", []string{"--listen", "localhost", "--", f.prog("hello.sh")}, nil, exitcode.OSError, "--listen \"localhost\""},
		{"port in use", []string{"--listen", busy.Addr().String(), "--", f.prog("hello.sh")}, nil, exitcode.OSError, "address already in use"},
		{"missing program", []string{"--listen", "127.0.0.1:0", "--", f.prog("nope")}, nil, exitcode.NotFound, "nope"},
		{"bad policy", []string{"--listen", "127.0.0.1:0", "--policy", badPolicy, "--", f.prog("hello.sh")}, nil, exitcode.Config, badPolicy + ":3:"},
		{"bad log format", []string{"--log-format", "xml", "--", f.prog("hello.sh")}, nil, exitcode.Usage, "--log-format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"serve"}, tc.args...)...)
			cmd.Env = append(os.Environ(), tc.env...)
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != tc.code {
				t.Fatalf("exit %d, want %d; output:\n%s", code, tc.code, out)
			}
			if !strings.Contains(string(out), tc.msg) || strings.Contains(string(out), "panic") {
				t.Fatalf("output lacks %q:\n%s", tc.msg, out)
			}
		})
	}
	out, err := exec.Command(bin, "serve", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("serve --help: %v\n%s", err, out)
	}
	for _, want := range []string{"--listen", "--policy", "--log-format", "SIGHUP", "SIGUSR1", "stop_timeout", "proxy_protocol", "Accept=no"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("serve --help does not mention %s", want)
		}
	}
}
