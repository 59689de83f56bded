package conn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sockjail/sockjail/internal/fdio"
	"golang.org/x/sys/unix"
)

// Poll intervals of the flush. No event reports "everything acknowledged"
// (poll says a socket is writable long before that), so the flush polls
// SIOCOUTQ. On TCP the interval is half the smoothed round-trip time within
// these bounds: a shorter one only burns CPU before the next ACK can come,
// a longer one delays the FIN of a slow link for nothing.
const (
	minFlushInterval = time.Millisecond
	maxFlushInterval = 100 * time.Millisecond
	// maxUnixInterval caps the back-off on an AF_UNIX socket, which has no
	// round-trip time: its reader (socat) is a local process.
	maxUnixInterval = 20 * time.Millisecond
)

// drainBufSize is the read size for discarding input. Small: in `run`
// the buffer is fresh memory, and every page of it costs a page fault in
// every connection, while a client that still sends much is rare.
const drainBufSize = 8 << 10

// errClosed is CloseResult.Err for a second Close.
var errClosed = errors.New("connection already closed")

// Close ends the connection after the program has exited, with the delayed
// flush-then-close that keeps the peer from losing data to a TCP reset.
// For a socket (TCP or AF_UNIX) it:
//
//  1. reads and discards unread input, since closing a socket with unread
//     input makes the kernel send RST, and the peer then drops what it had
//     not read yet;
//  2. waits until the peer has acknowledged everything sent (SIOCOUTQ
//     reaches 0; on AF_UNIX, until the reader has taken everything),
//     polling every clamp(srtt/2, 1ms, 100ms) and draining input
//     meanwhile, for at most o.FlushTimeout; it stops early when the peer
//     closed its side or reset;
//  3. waits o.CloseDelay, still draining;
//  4. sends FIN with shutdown(SHUT_WR), which works even while another
//     process (systemd, a stray grandchild) holds a copy of the socket,
//     where close() would not;
//  5. lingers: reads and discards until the peer closes, o.LingerIdle
//     passes without input, or o.LingerMax is reached;
//  6. closes the descriptors.
//
// A pipe (socat's pipes option) is just closed, output first: unread
// input in a pipe causes no reset, and socat notices the end of its child
// only when the child exits, so lingering would only delay the client's
// EOF. For a tty it waits for the output to drain (tcdrain, bounded by
// o.FlushTimeout) and closes. Anything else is just closed.
//
// Cancelling ctx ends the close at once (Reason "aborted"): one last
// drain, FIN, close. A reset by the peer ends it with Reason "reset".
// Close never sets SO_LINGER and never changes file status flags. When the
// program consumed a reset's error itself, Close sees only EOF and reports
// "peer-closed". Calling Close twice returns Reason "error".
func (c *Conn) Close(ctx context.Context, o CloseOptions) CloseResult {
	start := time.Now()
	if c.closed {
		return CloseResult{Reason: ReasonError, Err: errClosed}
	}
	cl := closer{c: c, ctx: ctx, buf: make([]byte, drainBufSize)}
	defer cl.release()
	if err := cl.setup(ctx); err != nil {
		cl.fail(err)
	}
	cl.run(o)
	// The last TCP_INFO, while the socket still exists.
	if c.in.kind == KindTCP {
		if ti, err := unix.GetsockoptTCPInfo(c.in.fd, unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			c.last = statsOf(ti, cl.eof && !cl.reset && !cl.aborted)
		}
	}
	cl.res.Stats = c.last
	cl.fail(c.closeFDs())
	c.closed = true
	cl.res.Total = time.Since(start)
	cl.res.Reason = cl.reason()
	return cl.res
}

// closer is the state of one Close.
type closer struct {
	c   *Conn
	ctx context.Context
	buf []byte
	res CloseResult

	// drainFD is the input socket, read with MSG_DONTWAIT so that the
	// flags of the description the program shares stay as they are. -1
	// when the input is not a socket: a pipe or tty can't cause a reset.
	drainFD int

	// cancelFD is an eventfd written when ctx is cancelled, so that every
	// wait wakes at once.
	cancelFD  int
	cancelMu  sync.Mutex
	released  bool
	stopAfter func() bool

	eof, reset, aborted, flushTimedOut bool
	lingerEnd                          string
}

func (cl *closer) setup(ctx context.Context) error {
	cl.drainFD, cl.cancelFD = -1, -1
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("creating the eventfd for cancellation: %w", err)
	}
	cl.cancelFD = fd
	cl.stopAfter = context.AfterFunc(ctx, func() {
		cl.cancelMu.Lock()
		defer cl.cancelMu.Unlock()
		if !cl.released {
			var one = [8]byte{1}
			unix.Write(cl.cancelFD, one[:])
		}
	})
	if ctx.Err() != nil {
		cl.aborted = true
	}
	if in := cl.c.in; in.kind == KindTCP || in.kind == KindUnix {
		cl.drainFD = in.fd
	}
	return nil
}

func (cl *closer) release() {
	if cl.stopAfter != nil {
		cl.stopAfter()
	}
	cl.cancelMu.Lock()
	cl.released = true
	if cl.cancelFD >= 0 {
		unix.Close(cl.cancelFD)
	}
	cl.cancelMu.Unlock()
}

// fail records the first unexpected error.
func (cl *closer) fail(err error) {
	if err != nil && cl.res.Err == nil {
		cl.res.Err = err
	}
}

func (cl *closer) done() bool { return cl.aborted || cl.reset }

func (cl *closer) run(o CloseOptions) {
	c := cl.c
	cl.drain()
	if !cl.done() {
		flushStart := time.Now()
		switch c.out.kind {
		case KindTCP, KindUnix:
			cl.flushSocket(o.FlushTimeout)
		case KindTTY:
			cl.flushTTY(o.FlushTimeout)
		}
		cl.res.FlushWait = time.Since(flushStart)
	}
	if !cl.done() && !cl.eof && o.CloseDelay > 0 {
		cl.waitDraining(time.Now().Add(o.CloseDelay), 0)
	}
	cl.sendEOF()
	if !cl.done() && !cl.eof && cl.drainFD >= 0 && o.LingerIdle > 0 && o.LingerMax > 0 {
		cl.linger(o.LingerIdle, o.LingerMax)
	}
}

// drain reads and discards queued input without blocking. It reports
// whether it read anything.
func (cl *closer) drain() bool {
	if cl.drainFD < 0 || cl.eof || cl.reset {
		return false
	}
	got := false
	for {
		n, err := fdio.Recv(cl.drainFD, cl.buf, 0)
		switch {
		case n > 0:
			cl.res.Drained += int64(n)
			got = true
			continue
		case err == nil:
			cl.eof = true
		case err == unix.EAGAIN:
		case err == unix.ECONNRESET || err == unix.EPIPE || err == unix.ETIMEDOUT || err == unix.ECONNABORTED:
			cl.reset = true
		default:
			cl.fail(fmt.Errorf("draining input: %w", err))
			cl.eof = true // stop reading; the close goes on
		}
		return got
	}
}

// wait blocks until the input is readable, d passes or ctx is cancelled.
// It reports whether the input signalled an error or hangup.
func (cl *closer) wait(d time.Duration) (hup bool) {
	if d <= 0 || cl.aborted {
		return false
	}
	fds := []unix.PollFd{{Fd: int32(cl.cancelFD), Events: unix.POLLIN}}
	if cl.drainFD >= 0 && !cl.eof {
		fds = append(fds, unix.PollFd{Fd: int32(cl.drainFD), Events: unix.POLLIN | unix.POLLRDHUP})
	}
	if cl.cancelFD < 0 {
		fds[0].Fd = -1 // poll ignores negative descriptors
	}
	n, err := fdio.Poll(fds, time.Now().Add(d))
	if err != nil {
		cl.fail(fmt.Errorf("poll: %w", err))
		return false
	}
	if n == 0 {
		return false
	}
	if fds[0].Revents != 0 {
		cl.aborted = true
	}
	return len(fds) > 1 && fds[1].Revents&(unix.POLLERR|unix.POLLHUP) != 0
}

// waitDraining waits until deadline, or the end of the peer, draining as
// input arrives. idle > 0 also ends the wait after idle without input.
// It returns "max", "idle" or "" (ended by EOF, reset or cancellation).
func (cl *closer) waitDraining(deadline time.Time, idle time.Duration) string {
	lastInput := time.Now()
	for !cl.done() && !cl.eof {
		now := time.Now()
		d := deadline.Sub(now)
		end := "max"
		if idle > 0 {
			if left := lastInput.Add(idle).Sub(now); left < d {
				d, end = left, "idle"
			}
		}
		if d <= 0 {
			return end
		}
		hup := cl.wait(d)
		if cl.drain() {
			lastInput = time.Now()
		} else if hup && !cl.eof && !cl.reset {
			// Error or hangup without data or EOF to read: the input is
			// gone; don't spin on it.
			cl.eof = true
		}
	}
	return ""
}

// flushSocket waits until SIOCOUTQ on the output socket reaches 0.
func (cl *closer) flushSocket(timeout time.Duration) {
	c := cl.c
	deadline := time.Now().Add(timeout)
	unixInterval := minFlushInterval
	for {
		q, err := unix.IoctlGetInt(c.out.fd, unix.SIOCOUTQ)
		if err != nil {
			cl.fail(fmt.Errorf("SIOCOUTQ: %w", err))
			return
		}
		cl.res.Unacked = q
		if q == 0 || cl.eof || cl.done() {
			return
		}
		left := time.Until(deadline)
		if left <= 0 {
			cl.flushTimedOut = true
			return
		}
		var interval time.Duration
		if c.out.kind == KindTCP {
			interval = maxFlushInterval
			if ti, err := unix.GetsockoptTCPInfo(c.out.fd, unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
				interval = time.Duration(ti.Rtt) * time.Microsecond / 2
			}
		} else {
			interval, unixInterval = unixInterval, min(2*unixInterval, maxUnixInterval)
		}
		interval = min(max(interval, minFlushInterval), maxFlushInterval, left)
		hup := cl.wait(interval)
		if !cl.drain() && hup && !cl.eof && !cl.reset && c.shared {
			cl.eof = true
		}
	}
}

// flushTTY waits for the terminal's output to be transmitted (tcdrain),
// at most timeout. tcdrain can block for good on a flow-stopped line; the
// goroutine then stays blocked until the process exits, which is
// acceptable for a process that serves one connection and harmless
// (the call holds its own reference to the file) for serve.
func (cl *closer) flushTTY(timeout time.Duration) {
	if timeout <= 0 {
		return
	}
	fd := cl.c.out.fd
	done := make(chan error, 1)
	go func() { done <- unix.IoctlSetInt(fd, unix.TCSBRK, 1) }() // tcdrain(3)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		cl.fail(errOrNil("tcdrain", err))
	case <-t.C:
		cl.flushTimedOut = true
	case <-cl.ctx.Done():
		cl.aborted = true
	}
}

func errOrNil(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// sendEOF tells the peer that no more data comes: FIN on every socket of
// the connection.
func (cl *closer) sendEOF() {
	c := cl.c
	for i, e := range []endpoint{c.out, c.in} {
		if i == 1 && c.shared {
			break
		}
		if e.kind == KindTCP || e.kind == KindUnix {
			// ENOTCONN: the peer reset or the connection already ended.
			if err := unix.Shutdown(e.fd, unix.SHUT_WR); err != nil && err != unix.ENOTCONN {
				cl.fail(fmt.Errorf("shutdown(SHUT_WR): %w", err))
			}
		}
	}
}

// linger reads and discards until EOF, idle silence or max.
func (cl *closer) linger(idle, maxDur time.Duration) {
	cl.lingerEnd = cl.waitDraining(time.Now().Add(maxDur), idle)
}

func (cl *closer) reason() string {
	switch {
	case cl.aborted:
		return ReasonAborted
	case cl.reset:
		return ReasonReset
	case cl.flushTimedOut:
		return ReasonFlushTimeout
	case cl.res.Err != nil:
		return ReasonError
	case cl.eof:
		return ReasonPeerClosed
	case cl.lingerEnd == "idle":
		return ReasonLingerIdle
	case cl.lingerEnd == "max":
		return ReasonLingerMax
	}
	return ReasonClosed
}

// closeFDs releases the connection's descriptors, the output first (for a
// pipe, that is the reader's EOF). sockjail's own fds 0 and 1 are pointed
// at /dev/null instead of being freed, so that no file opened later lands
// on them and is taken for the connection.
func (c *Conn) closeFDs() error {
	var errs []error
	errs = append(errs, c.closeOne(c.out.fd))
	if c.in.fd != c.out.fd {
		errs = append(errs, c.closeOne(c.in.fd))
	}
	return errors.Join(errs...)
}

// closeOne closes one of the connection's descriptors, once.
func (c *Conn) closeOne(fd int) error {
	if fd < 0 {
		return nil
	}
	if c.in.fd == fd {
		c.in.fd = -1
	}
	if c.out.fd == fd {
		c.out.fd = -1
	}
	if c.stdio && fd <= 2 {
		null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err == nil {
			// dup3 closes the connection's descriptor and puts /dev/null
			// in its place atomically.
			err = unix.Dup3(null, fd, 0)
			unix.Close(null)
			if err == nil {
				return nil
			}
		}
	}
	if err := unix.Close(fd); err != nil {
		return fmt.Errorf("closing fd %d: %w", fd, err)
	}
	return nil
}
