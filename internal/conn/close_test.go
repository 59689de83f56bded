package conn

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/sockjail/sockjail/internal/testenv"
	"golang.org/x/sys/unix"
)

const mib = 1 << 20

// testOptions are the policy defaults, shortened where a test waits on
// purpose.
var testOptions = CloseOptions{
	FlushTimeout: 10 * time.Second,
	LingerIdle:   2 * time.Second,
	LingerMax:    10 * time.Second,
}

// unixPair returns a connected AF_UNIX stream socketpair like socat's
// EXEC: gives its child: the program's blocking end as a raw fd, and the
// other end as a net.Conn for the test's client.
func unixPair(t testing.TB) (net.Conn, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[1]), "client")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	return c, fds[0]
}

// TestCloseUnreadInputNoReset is the core promise of issue 2: a program
// writes 1 MiB and exits without reading the 10 bytes the client sent
// first; after Close the client has every byte and a clean EOF, never a
// reset. The control subtests show that a plain close() does lose data on
// the same setup, so the main subtests can fail.
func TestCloseUnreadInputNoReset(t *testing.T) {
	const iterations = 200
	tests := []struct {
		name    string
		connect func(t *testing.T) (net.Conn, int)
	}{
		{"tcp4", func(t *testing.T) (net.Conn, int) { return listenTCP(t, "127.0.0.1").dial(t, "") }},
		{"tcp6", func(t *testing.T) (net.Conn, int) { return listenTCP(t, "::1").dial(t, "") }},
		{"unix", func(t *testing.T) (net.Conn, int) { return unixPair(t) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range iterations {
				client, fd := tt.connect(t)
				if _, err := client.Write([]byte("0123456789")); err != nil {
					t.Fatal(err)
				}
				got := readAllClose(client)
				c, err := FromFD(fd)
				if err != nil {
					t.Fatal(err)
				}
				flags := statusFlags(t, fd)
				runChild(t, fd, "head", "-c", "1048576", "/dev/zero")
				keep := dupFD(t, fd) // the open file description outlives fd
				res := c.Close(context.Background(), testOptions)
				r := <-got
				client.Close()
				if r.err != nil || r.n != mib {
					t.Fatalf("connection %d: client read %d bytes, then %v; want %d and EOF (close: %+v)", i, r.n, r.err, mib, res)
				}
				if res.Err != nil || res.Drained != 10 {
					t.Fatalf("connection %d: close: %+v; want no error and 10 bytes drained", i, res)
				}
				if f := statusFlags(t, keep); f != flags {
					t.Fatalf("status flags changed from %#x to %#x", flags, f)
				}
				unix.Close(keep)
			}
		})
		t.Run(tt.name+"/control-plain-close", func(t *testing.T) {
			lost := 0
			for range 20 {
				client, fd := tt.connect(t)
				client.Write([]byte("0123456789"))
				got := readAllClose(client)
				runChild(t, fd, "head", "-c", "1048576", "/dev/zero")
				unix.Close(fd)
				if r := <-got; r.err != nil || r.n != mib {
					lost++
				}
				client.Close()
			}
			if lost == 0 {
				t.Fatal("a plain close lost nothing in 20 connections; the test above would not notice a broken Close")
			}
			t.Logf("plain close: %d of 20 connections lost data or were reset", lost)
		})
	}
}

func TestCloseHalfClosedClient(t *testing.T) {
	l := listenTCP(t, "127.0.0.1")
	for range 20 {
		client, fd := l.dial(t, "")
		client.Write([]byte("request\n"))
		if err := client.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got := readAllClose(client)
		c, err := FromFD(fd)
		if err != nil {
			t.Fatal(err)
		}
		runChild(t, fd, "head", "-c", "1048576", "/dev/zero")
		res := c.Close(context.Background(), testOptions)
		r := <-got
		client.Close()
		if r.err != nil || r.n != mib {
			t.Fatalf("client read %d bytes, then %v; want %d and EOF", r.n, r.err, mib)
		}
		if res.Reason != ReasonPeerClosed || res.Drained != 8 {
			t.Fatalf("close: %+v; want reason %q, 8 bytes drained", res, ReasonPeerClosed)
		}
	}
}

// stalledClient connects a client that never reads, and fills the
// connection until the server's send queue is full.
func stalledClient(t *testing.T) (*net.TCPConn, *Conn) {
	l := listenTCP(t, "127.0.0.1")
	client, fd := l.dial(t, "")
	t.Cleanup(func() { client.Close() })
	c, err := FromFD(fd)
	if err != nil {
		t.Fatal(err)
	}
	if n := fillSendQueue(t, fd); n == 0 {
		t.Fatal("the send queue took nothing")
	}
	return client, c
}

func TestCloseFlushTimeout(t *testing.T) {
	_, c := stalledClient(t)
	o := CloseOptions{FlushTimeout: 300 * time.Millisecond, LingerIdle: 100 * time.Millisecond, LingerMax: time.Second}
	res := c.Close(context.Background(), o)
	if res.Reason != ReasonFlushTimeout || res.Err != nil {
		t.Fatalf("close: %+v; want reason %q", res, ReasonFlushTimeout)
	}
	if res.Unacked == 0 {
		t.Errorf("close: %+v; want the unacknowledged byte count", res)
	}
	if res.FlushWait < o.FlushTimeout || res.Total > o.FlushTimeout+o.LingerMax+2*time.Second {
		t.Errorf("flush wait %v, total %v; want at least %v, at most about %v", res.FlushWait, res.Total, o.FlushTimeout, o.FlushTimeout+o.LingerMax)
	}
}

func TestCloseReset(t *testing.T) {
	client, c := stalledClient(t)
	client.SetLinger(0) // an abortive close: RST
	client.Close()
	res := c.Close(context.Background(), testOptions)
	if res.Reason != ReasonReset {
		t.Fatalf("close: %+v; want reason %q", res, ReasonReset)
	}
	if res.Total > 5*time.Second {
		t.Errorf("close took %v after a reset", res.Total)
	}
}

func TestCloseAborted(t *testing.T) {
	for _, when := range []time.Duration{0, 100 * time.Millisecond} {
		_, c := stalledClient(t)
		ctx, cancel := context.WithCancel(context.Background())
		if when == 0 {
			cancel()
		} else {
			time.AfterFunc(when, cancel)
		}
		res := c.Close(ctx, CloseOptions{FlushTimeout: time.Minute, LingerIdle: time.Minute, LingerMax: time.Minute})
		cancel()
		if res.Reason != ReasonAborted {
			t.Fatalf("cancel after %v: close: %+v; want reason %q", when, res, ReasonAborted)
		}
		if res.Total > when+2*time.Second {
			t.Errorf("cancel after %v: close took %v", when, res.Total)
		}
	}
}

// TestCloseLinger covers a client that reads everything but neither
// closes (linger-idle) nor stops sending (linger-max).
func TestCloseLinger(t *testing.T) {
	// Each case's other bound is far away, so that a slow machine can't
	// end the linger the other way.
	tests := []struct {
		name    string
		chatter bool
		o       CloseOptions
		want    string
		minimum time.Duration
	}{
		{"silent", false, CloseOptions{FlushTimeout: 5 * time.Second, LingerIdle: 200 * time.Millisecond, LingerMax: 10 * time.Second}, ReasonLingerIdle, 200 * time.Millisecond},
		{"chatty", true, CloseOptions{FlushTimeout: 5 * time.Second, LingerIdle: 5 * time.Second, LingerMax: 600 * time.Millisecond}, ReasonLingerMax, 600 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, fd := listenTCP(t, "127.0.0.1").dial(t, "")
			defer client.Close()
			c, err := FromFD(fd)
			if err != nil {
				t.Fatal(err)
			}
			got := readAll(client)
			stop := make(chan struct{})
			defer close(stop)
			if tt.chatter {
				go func() {
					tick := time.NewTicker(20 * time.Millisecond)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							return
						case <-tick.C:
							client.Write([]byte("x"))
						}
					}
				}()
			}
			unix.Write(fd, []byte("bye\n"))
			res := c.Close(context.Background(), tt.o)
			if r := <-got; r.n != 4 || r.err != nil {
				t.Errorf("client read %d bytes, then %v; want 4 and EOF", r.n, r.err)
			}
			if res.Reason != tt.want || res.Total < tt.minimum {
				t.Fatalf("close: %+v; want reason %q after at least %v", res, tt.want, tt.minimum)
			}
		})
	}
}

func TestCloseDelay(t *testing.T) {
	client, fd := listenTCP(t, "127.0.0.1").dial(t, "")
	defer client.Close()
	c, err := FromFD(fd)
	if err != nil {
		t.Fatal(err)
	}
	got := readAllClose(client)
	unix.Write(fd, []byte("bye\n"))
	const delay = 300 * time.Millisecond
	start := time.Now()
	done := make(chan CloseResult, 1)
	go func() {
		done <- c.Close(context.Background(), CloseOptions{FlushTimeout: time.Second, CloseDelay: delay, LingerIdle: time.Second, LingerMax: time.Second})
	}()
	r := <-got
	client.Close()
	res := <-done
	if r.err != nil || r.n != 4 {
		t.Fatalf("client read %d bytes, then %v", r.n, r.err)
	}
	if eof := r.at.Sub(start); eof < delay {
		t.Errorf("EOF came %v after the close began; want at least the close delay %v", eof, delay)
	}
	if res.Reason != ReasonPeerClosed {
		t.Errorf("close: %+v; want %q", res, ReasonPeerClosed)
	}
}

func TestCloseTwice(t *testing.T) {
	client, fd := listenTCP(t, "127.0.0.1").dial(t, "")
	defer client.Close()
	c, err := FromFD(fd)
	if err != nil {
		t.Fatal(err)
	}
	c.Close(context.Background(), CloseOptions{})
	if res := c.Close(context.Background(), CloseOptions{}); res.Reason != ReasonError || res.Err == nil {
		t.Fatalf("second close: %+v; want an error", res)
	}
}

// TestClosePipes is socat's `pipes` shape: input and output are two pipes.
// Close closes both at once (no linger: a pipe can't reset), the reader
// gets every byte and EOF, and the flags of the program's pipe ends are
// untouched.
func TestClosePipes(t *testing.T) {
	var inPipe, outPipe [2]int
	for _, p := range []*[2]int{&inPipe, &outPipe} {
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
	}
	var inSt, outSt unix.Stat_t
	unix.Fstat(inPipe[0], &inSt)
	unix.Fstat(outPipe[1], &outSt)
	c, err := newConn(inPipe[0], &inSt, outPipe[1], &outSt)
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind() != KindPipe || c.Env() != nil {
		t.Fatalf("kind %v, env %q; want pipe and no env", c.Kind(), c.Env())
	}
	keepIn := dupFD(t, inPipe[0])
	defer unix.Close(keepIn)
	flags := statusFlags(t, keepIn)
	reader := os.NewFile(uintptr(outPipe[0]), "reader")
	defer reader.Close()
	writer := os.NewFile(uintptr(inPipe[1]), "writer")
	defer writer.Close()
	writer.Write([]byte("unread input"))
	got := readAll(reader)
	// More than a pipe holds, so the reader must keep up while it runs.
	runChildIO(t, inPipe[0], outPipe[1], "head", "-c", "1048576", "/dev/zero")
	res := c.Close(context.Background(), testOptions)
	if res.Reason != ReasonClosed || res.Err != nil || res.Total > time.Second {
		t.Fatalf("close: %+v; want %q at once", res, ReasonClosed)
	}
	if r := <-got; r.err != nil || r.n != mib {
		t.Fatalf("reader got %d bytes, then %v; want %d and EOF", r.n, r.err, mib)
	}
	if f := statusFlags(t, keepIn); f != flags {
		t.Fatalf("input pipe flags changed from %#x to %#x", flags, f)
	}
}

// TestCloseTTY is socat's `pty` shape: Close waits for the terminal's
// output to drain and closes; the other side reads every byte.
func TestCloseTTY(t *testing.T) {
	master, slave, err := pty.Open()
	if err != nil {
		testenv.SkipOrFail(t, "no pseudo-terminal: "+err.Error())
	}
	defer master.Close()
	fd := dupFD(t, int(slave.Fd()))
	slave.Close()
	var st unix.Stat_t
	unix.Fstat(fd, &st)
	c, err := newConn(fd, &st, fd, &st)
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind() != KindTTY {
		t.Fatalf("kind %v; want tty", c.Kind())
	}
	msg := []byte("no newline, so no ONLCR translation")
	got := make(chan []byte, 1)
	go func() {
		var all []byte
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			all = append(all, buf[:n]...)
			if err != nil { // EIO once the slave is closed
				got <- all
				return
			}
		}
	}()
	unix.Write(fd, msg)
	res := c.Close(context.Background(), testOptions)
	if res.Reason != ReasonClosed || res.Err != nil {
		t.Fatalf("close: %+v; want %q", res, ReasonClosed)
	}
	if b := <-got; string(b) != string(msg) {
		t.Fatalf("master read %q; want %q", b, msg)
	}
}
