package main

// The proof of work before a session ([serve] pow, issue 20), against the
// real binary, with Debian's hashcash(1) as the client's solver, run as
// the challenge line says.

import (
	"bufio"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/testenv"
)

const powBits = 14

// solve reads the challenge line from c, runs it (it is the hashcash
// command that solves it) and returns the stamp to send.
func solve(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the challenge: %v (have %q)", err, line)
	}
	args := strings.Fields(line)
	if len(args) != 3 || args[0] != "hashcash" || args[1] != "-mb"+strconv.Itoa(powBits) {
		t.Fatalf("the challenge line %q is not `hashcash -mb%d RESOURCE`", line, powBits)
	}
	out, err := exec.Command(testenv.LookTool(t, "hashcash"), "-q", args[1], args[2]).Output()
	if err != nil {
		t.Fatalf("%s: %v", strings.TrimSpace(line), err)
	}
	return strings.TrimSpace(string(out))
}

// solveAndGreet connects from src to addr, which serves hello.sh behind a
// proof of work, solves it and expects the greeting.
func solveAndGreet(t *testing.T, src, addr string) {
	t.Helper()
	c := dialFrom(t, src, addr)
	defer c.Close()
	br := bufio.NewReader(c)
	c.Write([]byte(solve(t, br) + "\n"))
	if got := readLine(t, &bufConn{c, br}); got != "Hello World" {
		t.Fatalf("after the stamp: %q, want Hello World", got)
	}
}

func TestServePoW(t *testing.T) {
	testenv.LookTool(t, "hashcash")
	f := newServeFixture(t)
	pol := f.policy(t, "pow", map[string]string{"serve": "max_connections = 2\nmax_per_source = 8\npow = " + strconv.Itoa(powBits) +
		"\npow_timeout = \"2s\"\npow_exempt = [\"127.0.0.7/32\"]"})
	s := startServe(t, []string{"--listen", "127.0.0.1:0", "--policy", pol}, f.prog("hello.sh"))

	t.Run("solved", func(t *testing.T) {
		solveAndGreet(t, "127.0.0.2", s.addr)
		s.logs.wait(t, 10*time.Second, func(m map[string]any) bool { return m["msg"] == "connection" && m["pow"] == "solved" })
	})

	t.Run("wrong", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.3", s.addr)
		defer c.Close()
		br := bufio.NewReader(c)
		br.ReadString('\n')
		c.Write([]byte("1:" + strconv.Itoa(powBits) + ":261204:0123456789abcdef0123456789abcdef::x:1\n"))
		rest, err := readToEOF(&bufConn{c, br})
		if err != nil || strings.Contains(string(rest), "Hello") {
			t.Fatalf("after a wrong stamp: %q, %v; want EOF without the program", rest, err)
		}
		s.logs.wait(t, 10*time.Second, refusedFor("pow-failed"))
	})

	t.Run("slow", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.4", s.addr)
		defer c.Close()
		br := bufio.NewReader(c)
		stamp := solve(t, br)
		time.Sleep(3 * time.Second) // past pow_timeout
		c.Write([]byte(stamp + "\n"))
		rest, _ := readToEOF(&bufConn{c, br})
		if strings.Contains(string(rest), "Hello") {
			t.Fatalf("a stamp after pow_timeout started the program: %q", rest)
		}
		s.logs.wait(t, 10*time.Second, refusedFor("pow-timeout"))
	})

	t.Run("exempt", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.7", s.addr)
		defer c.Close()
		if got := readLine(t, c); got != "Hello World" {
			t.Fatalf("an exempt client got %q, want Hello World at once", got)
		}
		s.logs.wait(t, 10*time.Second, func(m map[string]any) bool { return m["msg"] == "connection" && m["pow"] == "exempt" })
	})

	// A flood of clients that never answer, more than max_connections,
	// from many addresses, and more than max_per_source from one: they
	// hold no session slot, so a client that solves is served meanwhile;
	// one address gets no more than max_per_source challenges at once
	// (the rest are refused as pow-busy); and each silent one ends at
	// pow_timeout.
	t.Run("flood", func(t *testing.T) {
		const spread, oneSource, perSource = 80, 10, 8
		var mu sync.Mutex
		var conns []net.Conn
		var wg sync.WaitGroup
		for i := range spread + oneSource {
			src := "127.0.1." + strconv.Itoa(10+i)
			if i >= spread {
				src = "127.0.0.6"
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := dialFrom(t, src, s.addr)
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}()
		}
		wg.Wait()
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		solveAndGreet(t, "127.0.0.5", s.addr)
		timeouts := func() int { return s.logs.count(refusedFor("pow-timeout")) - 1 } // one from "slow"
		deadline := time.Now().Add(30 * time.Second)
		for timeouts() < spread+perSource && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if busy, n := s.logs.count(refusedFor("pow-busy")), timeouts(); busy != oneSource-perSource || n != spread+perSource {
			t.Errorf("of %d silent clients (%d from one address), %d were refused as pow-busy and %d timed out; want %d and %d",
				spread+oneSource, oneSource, busy, n, oneSource-perSource, spread+perSource)
		}
	})
}

// bufConn reads through a bufio.Reader that may hold bytes already read.
type bufConn struct {
	net.Conn
	br *bufio.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.br.Read(p) }

// TestRunPoW: `sockjail run` asks for the proof of work too, behind
// systemd-socket-activate, before anything is started.
func TestRunPoW(t *testing.T) {
	testenv.LookTool(t, "hashcash")
	f := newRunFixture(t)
	tables := map[string]string{"serve": "pow = " + strconv.Itoa(powBits)}
	for k, v := range runTestTables {
		tables[k] = v
	}
	s := launch(t, runLaunchers[0], f.policy(t, "pow", tables), f.prog("hello.sh"))

	c := dialFrom(t, "", s.addr)
	br := bufio.NewReader(c)
	c.Write([]byte(solve(t, br) + "\n"))
	got, err := readToEOF(&bufConn{c, br})
	c.Close()
	if err != nil || string(got) != "Hello World\n" {
		t.Fatalf("after the stamp: %q, %v; want Hello World", got, err)
	}
	s.logs.wait(t, 10*time.Second, func(m map[string]any) bool { return m["msg"] == "connection" && m["pow"] == "solved" })

	c = dialFrom(t, "", s.addr)
	br = bufio.NewReader(c)
	br.ReadString('\n')
	c.Write([]byte("not a stamp\n"))
	got, _ = readToEOF(&bufConn{c, br})
	c.Close()
	if strings.Contains(string(got), "Hello") {
		t.Fatalf("a wrong stamp started the program: %q", got)
	}
	s.logs.wait(t, 10*time.Second, refusedFor("pow-failed"))
}
