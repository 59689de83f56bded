package main

// Integration tests of `sockjail run` (issue 2). They drive the real binary
// behind the real launchers that hand it a connection, systemd-socket-activate
// (--accept --inetd, and --accept alone: fd 3 with LISTEN_FDS) and socat
// (EXEC: with its default socketpair, nofork, and pipes), with real TCP
// clients and the real sandbox around the programs. The programs, the
// policies, the JSON log reader and the process-tree walk are shared with
// serve_test.go.

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockjail/sockjail/internal/exitcode"
	"github.com/sockjail/sockjail/internal/proctest"
	"github.com/sockjail/sockjail/internal/testenv"
)

// runLauncher is a program that listens on TCP and starts `sockjail run`
// for each connection.
type runLauncher struct {
	name string
	tool string
	// argv is the launcher's command line, listening on addr and running
	// the run command line for each connection.
	argv func(tool, addr string, run []string) []string
	// bare is the command line that serves prog without sockjail, the
	// baseline; nil means prog itself.
	bare func(prog string) []string
}

// socatExec serves through socat's EXEC: address with opts (",nofork",
// ",pipes", or "" for a socketpair), with socat's -t set to timeout.
//
// socat ends a connection -t seconds after either side's EOF, the client's
// half-close included, so with the default 0.5 s a program that answers a
// half-closed request more slowly than that (on a busy host) loses its
// answer to socat, not to sockjail: docs/socat.md advises raising it. With
// pipes, socat also holds every connection for -t after the program's
// exit, so there it stays small.
func socatExec(opts, timeout string) func(tool, addr string, run []string) []string {
	return func(tool, addr string, run []string) []string {
		host, port, _ := net.SplitHostPort(addr)
		return []string{tool, "-t", timeout, "TCP-LISTEN:" + port + ",bind=" + host + ",reuseaddr,fork", "EXEC:" + strings.Join(run, " ") + opts}
	}
}

var runLaunchers = []runLauncher{
	{"ssa-inetd", "systemd-socket-activate", func(tool, addr string, run []string) []string {
		return append([]string{tool, "-l", addr, "--accept", "--inetd"}, run...)
	}, nil},
	{"ssa-accept", "systemd-socket-activate", func(tool, addr string, run []string) []string {
		return append([]string{tool, "-l", addr, "--accept"}, run...)
	}, func(prog string) []string {
		// The connection is fd 3; a bare program needs it on 0 and 1.
		return []string{"/bin/sh", "-c", `exec "$0" <&3 >&3 3<&-`, prog}
	}},
	{"socat", "socat", socatExec("", "30"), nil},
	{"socat-nofork", "socat", socatExec(",nofork", "30"), nil},
	{"socat-pipes", "socat", socatExec(",pipes", "2"), nil},
}

// runTestTables runs each program as its own transient user: RLIMIT_NPROC
// counts processes per uid, and other tests running at the same time as
// nobody (serve with hundreds of idle sessions, say) must not make these
// programs' execve fail with EAGAIN.
var runTestTables = map[string]string{"program": `user = "dynamic"`}

// launched is a running launcher.
type launched struct {
	cmd  *exec.Cmd
	addr string
	logs *logLines // sockjail's JSON lines, and the launcher's own text
	done chan struct{}
}

// launch starts l serving `sockjail run --policy pol -- prog...` and waits
// until it listens.
func launch(t *testing.T, l runLauncher, pol string, prog ...string) *launched {
	t.Helper()
	return launchCommand(t, l, append([]string{testenv.Sockjail(t), "run", "--log-format", "json", "--policy", pol, "--"}, prog...))
}

// launchCommand starts l running the command line run for each connection
// (sockjail run, or a bare program as the baseline).
func launchCommand(t *testing.T, l runLauncher, run []string) *launched {
	t.Helper()
	tool := testenv.LookTool(t, l.tool)
	addr := testenv.FreeLoopbackAddr(t)
	argv := l.argv(tool, addr, run)
	cmd := exec.Command(argv[0], argv[1:]...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &launched{cmd: cmd, addr: addr, logs: newLogLines(stderr), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", l.name, s.logs)
		}
	})
	_, port, _ := net.SplitHostPort(addr)
	waitListening(t, port, s.done)
	return s
}

// waitListening waits until a socket listens on 127.0.0.1:port, reading
// /proc/net/tcp rather than connecting, which would start a session.
func waitListening(t *testing.T, port string, exited <-chan struct{}) {
	t.Helper()
	addr, err := netip.ParseAddrPort("127.0.0.1:" + port)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, ok, err := proctest.TCPListenQueue(addr); err != nil {
			t.Fatal(err)
		} else if ok {
			return
		}
		select {
		case <-exited:
			t.Fatal("the launcher exited before listening")
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("nothing listens on port %s after 10s", port)
}

// forEachLauncher runs fn as a subtest per launcher.
func forEachLauncher(t *testing.T, fn func(t *testing.T, l runLauncher)) {
	for _, l := range runLaunchers {
		t.Run(l.name, func(t *testing.T) { fn(t, l) })
	}
}

// TestRunUnreadInputNoResets: the program writes 1 MiB and exits without
// reading the 10 bytes the client sent first. Behind every launcher, over
// 200 connections (8 at a time), no client is reset and every byte
// arrives, and every session logs its line with a clean close.
func TestRunUnreadInputNoResets(t *testing.T) {
	f := newRunFixture(t)
	pol := f.policy(t, "default", runTestTables)
	const conns, workers = 200, 8
	forEachLauncher(t, func(t *testing.T, l runLauncher) {
		s := launch(t, l, pol, f.prog("big.sh"))
		resets, short, noEOF := unreadInputClients(t, s.addr, conns, workers)
		for _, port := range noEOF {
			// socat's pipes mode closes the TCP side only once it has
			// noticed its child's exit, and under load it sometimes
			// never does: the client has every byte and waits for a FIN
			// that socat never sends. That is socat's, not sockjail's,
			// as long as sockjail's session for that client ended
			// cleanly, which it must have logged.
			ended := s.logs.find(5*time.Second, func(m map[string]any) bool {
				peer, _ := m["peer"].(string)
				return m["msg"] == "connection" && strings.HasSuffix(peer, ":"+strconv.Itoa(port)) &&
					m["exit"] == 0.0 && m["close"] != "reset" && m["close"] != "error"
			})
			switch {
			case ended == nil:
				t.Errorf("client port %d got the whole reply but no EOF, and sockjail logged no clean end of its session", port)
			case l.name != "socat-pipes":
				t.Errorf("client port %d got the whole reply but no EOF behind %s", port, l.name)
			default:
				t.Logf("client port %d: socat (pipes) never closed after sockjail's session ended cleanly: %v", port, ended)
			}
		}
		t.Logf("%d connections: %d resets, %d short", conns, resets, short)
		if resets != 0 || short != 0 {
			t.Fatalf("%d of %d connections reset, %d lost data", resets, conns, short)
		}
		// Every session ends with its log line.
		deadline := time.Now().Add(20 * time.Second)
		for s.logs.count(msgIs("connection")) < conns && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := s.logs.count(msgIs("connection")); n != conns {
			t.Fatalf("%d connection log lines, want %d", n, conns)
		}
		bad := s.logs.count(func(m map[string]any) bool {
			return m["msg"] == "connection" && (m["exit"] != 0.0 || m["close"] == "reset" || m["close"] == "flush-timeout" || m["close"] == "error")
		})
		if bad != 0 {
			t.Fatalf("%d sessions did not exit 0 or closed badly", bad)
		}
	})
	// The control: the same program without sockjail behind systemd's
	// Accept=yes shape loses data, so the test above can fail.
	t.Run("control-bare", func(t *testing.T) {
		s := launchCommand(t, runLaunchers[0], []string{f.prog("big.sh")})
		lost := 0
		for range 20 {
			c := dialFrom(t, "", s.addr)
			c.Write([]byte("0123456789"))
			got, err := readToEOF(c)
			c.Close()
			if err != nil || len(got) != 1<<20 {
				lost++
			}
		}
		t.Logf("bare program: %d of 20 connections reset or short", lost)
		if lost == 0 {
			t.Fatal("the bare program lost nothing; the test above proves nothing here")
		}
	})
}

// TestRunHelloLatency: the seed's hello world script, without sleep: the
// client gets "Hello World\n" and EOF, with sockjail adding under 100 ms
// at p99 on loopback from connect to EOF. The bare script behind the same
// launcher, in the same run, is the control that the bound sits on: what
// a connection costs without sockjail depends on the host (fork and exec
// cost four times more on one host of this kind than on another) and on
// what else runs on it, and socat's pipes option alone holds every
// connection for its -t timeout (2 s here) after the child exits. A
// round whose p99 misses the bound is measured again, up to three times:
// another process's burst of load on a shared host can stretch one
// round's tail, but not every round's, unless sockjail itself is slow.
func TestRunHelloLatency(t *testing.T) {
	f := newRunFixture(t)
	pol := f.policy(t, "default", runTestTables)
	forEachLauncher(t, func(t *testing.T, l runLauncher) {
		s := launch(t, l, pol, f.prog("hello.bash"))
		bareArgv := []string{f.prog("hello.bash")}
		if l.bare != nil {
			bareArgv = l.bare(f.prog("hello.bash"))
		}
		bare := launchCommand(t, l, bareArgv)
		conns := 200
		if l.name == "socat-pipes" {
			conns = 10 // two seconds each, see above
		}
		// One connection to each in turn, so that both see the same load
		// on the machine.
		once := func(i int, addr string) time.Duration {
			start := time.Now()
			c := dialFrom(t, "", addr)
			got, err := readToEOF(c)
			el := time.Since(start)
			c.Close()
			if err != nil || string(got) != "Hello World\n" {
				t.Fatalf("connection %d to %s: got %q, %v; want Hello World and EOF", i, addr, got, err)
			}
			return el
		}
		percentiles := func(lat []time.Duration) (p50, p99 time.Duration) {
			slices.Sort(lat)
			return lat[len(lat)/2], lat[(len(lat)*99+99)/100-1]
		}
		const rounds = 3
		for round := 1; ; round++ {
			var lat, bareLat []time.Duration
			for i := range conns {
				bareLat = append(bareLat, once(i, bare.addr))
				lat = append(lat, once(i, s.addr))
			}
			b50, b99 := percentiles(bareLat)
			p50, p99 := percentiles(lat)
			t.Logf("round %d: connect to EOF over %d connections: p50 %v, p99 %v; bare program p50 %v, p99 %v; p50 ratio %.1f",
				round, conns, p50, p99, b50, b99, float64(p50)/float64(b50))
			limit := 100*time.Millisecond + b99
			if p99 <= limit {
				return
			}
			if round == rounds {
				t.Fatalf("p99 %v, want under %v: 100 ms over the bare program's p99 on this host in this run (%v), in none of %d rounds", p99, limit, b99, rounds)
			}
		}
	})
}

// TestRunHalfClose: a client that sends its request and half-closes first
// still gets the whole answer, whether the program answers after reading
// to EOF (count.sh) or writes 1 MiB without reading (big.sh).
func TestRunHalfClose(t *testing.T) {
	f := newRunFixture(t)
	pol := f.policy(t, "default", runTestTables)
	forEachLauncher(t, func(t *testing.T, l runLauncher) {
		count := launch(t, l, pol, f.prog("count.sh"))
		big := launch(t, l, pol, f.prog("big.sh"))
		for i := 0; i < 5; i++ {
			c := dialFrom(t, "", count.addr)
			c.Write(bytes.Repeat([]byte("x"), 12345))
			c.CloseWrite()
			got, err := readToEOF(c)
			c.Close()
			if err != nil || strings.TrimSpace(string(got)) != "read 12345" {
				t.Fatalf("count.sh: got %q, %v; want \"read 12345\"", got, err)
			}
			c = dialFrom(t, "", big.addr)
			c.Write([]byte("0123456789"))
			c.CloseWrite()
			got, err = readToEOF(c)
			c.Close()
			if err != nil || len(got) != 1<<20 {
				t.Fatalf("big.sh: got %d bytes, %v; want 1 MiB and EOF", len(got), err)
			}
		}
		// A pipe is closed without waiting for the peer.
		want := "peer-closed"
		if l.name == "socat-pipes" {
			want = "closed"
		}
		line := big.logs.wait(t, 10*time.Second, msgIs("connection"))
		if line["close"] != want || line["exit"] != 0.0 {
			t.Fatalf("log line %v; want close=%s, exit 0", line, want)
		}
	})
}

// TestRunNeverReadingClient: a client that never reads can't hold a
// session: the program is stopped at max_duration, the flush gives up
// after flush_timeout, and sockjail exits with no process left behind.
func TestRunNeverReadingClient(t *testing.T) {
	f := newRunFixture(t)
	pol := f.policy(t, "neverread", map[string]string{
		"program":    runTestTables["program"],
		"connection": "flush_timeout = \"1s\"\nmax_duration = \"1s\"\nlinger_idle = \"200ms\"\nlinger_max = \"1s\"",
	})
	for _, l := range runLaunchers[:3] {
		t.Run(l.name, func(t *testing.T) {
			s := launch(t, l, pol, f.prog("flood.sh"))
			c := dialFrom(t, "", s.addr)
			defer c.Close()
			c.SetReadBuffer(4096)
			start := time.Now()
			line := s.logs.wait(t, 20*time.Second, msgIs("connection"))
			el := time.Since(start)
			if line["close"] != "flush-timeout" {
				t.Fatalf("close = %v, want flush-timeout: %v", line["close"], line)
			}
			// max_duration + flush_timeout + linger_idle, and slack for a
			// busy machine.
			if el < 2*time.Second || el > 10*time.Second {
				t.Fatalf("session took %v, want about 2.2s", el)
			}
			proctest.WaitNoDescendants(t, s.cmd.Process.Pid, 5*time.Second)
		})
	}
}

// TestRunBackgroundChild: a program that leaves a background child holding
// the socket: the session still ends when the program exits, the client
// gets EOF, and the child is gone.
func TestRunBackgroundChild(t *testing.T) {
	f := newRunFixture(t)
	pol := f.policy(t, "default", runTestTables)
	forEachLauncher(t, func(t *testing.T, l runLauncher) {
		s := launch(t, l, pol, f.prog("background.sh"))
		start := time.Now()
		c := dialFrom(t, "", s.addr)
		got, err := readToEOF(c)
		c.Close()
		if err != nil || string(got) != "started\n" {
			t.Fatalf("got %q, %v; want \"started\\n\" and EOF", got, err)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Fatalf("EOF after %v: the background child held the connection", el)
		}
		s.logs.wait(t, 10*time.Second, msgIs("connection"))
		proctest.WaitNoDescendants(t, s.cmd.Process.Pid, 5*time.Second)
	})
}

// TestRunEnv: behind every launcher the program sees the client's address
// and port: from getpeername on a TCP socket, from socat's variables on a
// socketpair or pipes.
func TestRunEnv(t *testing.T) {
	f := newRunFixture(t)
	pol := f.policy(t, "default", runTestTables)
	forEachLauncher(t, func(t *testing.T, l runLauncher) {
		s := launch(t, l, pol, f.prog("env.sh"))
		expectClientEnv(t, s.addr)
	})
}

// TestRunForwardsSignals: SIGHUP, SIGINT and SIGTERM sent to sockjail reach
// the program, which answers each on the connection, and the session ends
// normally when the program exits on SIGTERM.
func TestRunForwardsSignals(t *testing.T) {
	f := newRunFixture(t)
	pol := f.policy(t, "default", runTestTables)
	forEachLauncher(t, func(t *testing.T, l runLauncher) {
		s := launch(t, l, pol, f.prog("traps.sh"))
		c := dialFrom(t, "", s.addr)
		defer c.Close()
		if got := readLine(t, c); got != "ready" {
			t.Fatalf("first line %q, want ready", got)
		}
		pid := sockjailBelow(t, s.cmd.Process.Pid)
		for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM} {
			if err := syscall.Kill(pid, sig); err != nil {
				t.Fatal(err)
			}
			want := "got " + strings.TrimPrefix(unix.SignalName(sig), "SIG")
			if got := readLine(t, c); got != want {
				t.Fatalf("after %v: %q, want %q", sig, got, want)
			}
		}
		if rest, err := readToEOF(c); err != nil || len(rest) != 0 {
			t.Fatalf("after the program's exit: %q, %v; want EOF", rest, err)
		}
		line := s.logs.wait(t, 10*time.Second, msgIs("connection"))
		if line["exit"] != float64(0) {
			t.Errorf("log line %v, want exit 0", line)
		}
	})
}

// sockjailBelow returns the pid of the sockjail process started by the
// launcher pid: the sockjail among its descendants whose parent is not a
// sockjail (the session's init, cloned from sockjail, bears its name too).
func sockjailBelow(t *testing.T, launcher int) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, pid := range proctest.Descendants(launcher) {
			if _, ppid, ok := proctest.Stat(pid); ok && proctest.Comm(pid) == "sockjail" && proctest.Comm(ppid) != "sockjail" {
				return pid
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no sockjail process below pid %d", launcher)
	return 0
}

// TestRunBadInput: mistakes get a clear message and their documented exit
// code, never a panic, and a client that was connected gets a polite EOF.
func TestRunBadInput(t *testing.T) {
	f := newRunFixture(t)
	bin := testenv.Sockjail(t)
	pol := f.policy(t, "default", runTestTables)
	tests := []struct {
		name    string
		args    []string
		conn    bool   // fd 0 and 1 are a connection (else fd 0 is closed)
		code    int    // exit status
		message string // in stderr
	}{
		{"no --", []string{"run", "--policy", pol, f.prog("hello.sh")}, true, exitcode.Usage, "--"},
		{"missing program", []string{"run", "--policy", pol, "--", f.prog("missing.sh")}, true, exitcode.NotFound, "not found"},
		{"not executable", []string{"run", "--policy", pol, "--", f.prog("noexec.sh")}, true, exitcode.NotExecutable, "noexec.sh"},
		{"fd 0 closed", []string{"run", "--policy", pol, "--", f.prog("hello.sh")}, false, exitcode.NoConnection, "fd 0"},
		{"missing policy", []string{"run", "--policy", f.prog("nonexistent.toml"), "--", f.prog("hello.sh")}, true, exitcode.Config, "nonexistent.toml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			var client net.Conn
			var got chan error
			cmd := exec.Command(bin, tt.args...)
			cmd.Stderr = &stderr
			if tt.conn {
				ln, err := net.Listen("tcp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				client = dialFrom(t, "", ln.Addr().String())
				defer client.Close()
				server, err := ln.(*net.TCPListener).AcceptTCP()
				if err != nil {
					t.Fatal(err)
				}
				sf, err := server.File()
				server.Close()
				if err != nil {
					t.Fatal(err)
				}
				defer sf.Close()
				client.Write([]byte("unread\r\n"))
				cmd.Stdin, cmd.Stdout = sf, sf
				// Read meanwhile and close at EOF, as a client does.
				got = make(chan error, 1)
				go func() {
					client.SetReadDeadline(time.Now().Add(20 * time.Second))
					_, err := readToEOF(client)
					client.Close()
					got <- err
				}()
			} else {
				// Through sh, so that fd 0 is really closed at exec.
				cmd = exec.Command("/bin/sh", append([]string{"-c", `exec "$0" "$@" <&-`, bin}, tt.args...)...)
				cmd.Stderr = &stderr
			}
			code, err := testenv.ExitStatus(cmd.Run())
			if cmd.Stdin != nil {
				cmd.Stdin.(*os.File).Close()
			}
			if err != nil {
				t.Fatal(err)
			}
			msg := stderr.String()
			t.Logf("exit %d, stderr:\n%s", code, msg)
			if code != tt.code || !strings.Contains(msg, tt.message) {
				t.Fatalf("exit %d, stderr %q; want exit %d and a message naming %q", code, msg, tt.code, tt.message)
			}
			if strings.Contains(msg, "panic") || strings.Contains(msg, "goroutine ") {
				t.Fatalf("sockjail panicked:\n%s", msg)
			}
			if tt.code == exitcode.NotFound || tt.code == exitcode.NotExecutable {
				// sockjail took the connection and refused it politely.
				if err := <-got; err != nil {
					t.Fatalf("client read %v; want a clean EOF", err)
				}
			}
		})
	}
}
