package relay

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockjail/sockjail/internal/rlogin"
)

// rloginState is a relay's rlogin side (Config.Rlogin): the handshake,
// then the decoder of window-size messages, and the urgent byte owed to
// the client.
type rloginState struct {
	hs  rlogin.HandshakeReader
	dec *rlogin.Decoder
	// urgent is the control byte owed to the client as TCP urgent data
	// (several control bits coalesce, as in BSD rlogind), 0 for none. It
	// goes once urgentAfter more bytes of toConn have been written, so
	// that it follows the output queued before it: the handshake's answer
	// before the window request, the output before a raw-mode switch.
	urgent      byte
	urgentAfter int
	// noUrgent is set when the connection is not a socket and so can't
	// carry urgent data (a pipe from socat): the bytes are dropped, and the
	// client never asks for window sizes.
	noUrgent bool
}

// startRlogin turns on the pty's packet mode, in which every read of the
// master starts with a status byte that reports the slave's output flushes
// and flow-control changes, what rlogin passes to the client.
func (r *Relay) startRlogin() error {
	r.rlogin = &rloginState{dec: rlogin.NewDecoder(r.cfg.MaxWinSize), noUrgent: !r.outSock}
	if err := unix.IoctlSetPointerInt(r.master, unix.TIOCPKT, 1); err != nil {
		return fmt.Errorf("turning on the pty's packet mode: %w", err)
	}
	return nil
}

// negotiateRlogin reads the client's handshake, answers it and asks for
// the window size, within Config.HandshakeWait. The client's error, or its
// silence, is returned wrapping rlogin.ErrHandshake.
func (r *Relay) negotiateRlogin(ctx context.Context) error {
	wait := r.cfg.HandshakeWait
	if wait == 0 {
		wait = rlogin.HandshakeTimeout
	}
	if err := r.pump(ctx, true, time.Now().Add(wait)); err != nil {
		return err
	}
	if !r.rlogin.hs.Done() {
		if r.connEOF {
			return fmt.Errorf("%w: the client closed the connection after %d bytes", rlogin.ErrHandshake, r.rlogin.hs.Len())
		}
		return fmt.Errorf("%w: not complete after %v (%d bytes)", rlogin.ErrHandshake, wait, r.rlogin.hs.Len())
	}
	return nil
}

// rloginNegotiated reports whether Negotiate is over: the handshake was
// answered and the window request sent (or can't be).
func (r *Relay) rloginNegotiated() bool {
	return r.rlogin.hs.Done() && r.toConn.len() == 0 && r.rlogin.urgent == 0
}

// decodeRlogin moves client bytes from fromConn through the handshake
// reader and then the window-size decoder into toProg.
func (r *Relay) decodeRlogin() error {
	rs := r.rlogin
	if !rs.hs.Done() {
		n, done, err := rs.hs.Feed(r.fromConn.bytes())
		r.fromConn.r += n
		if err != nil {
			return err
		}
		if !done {
			return nil
		}
		// The answer, then the request for the window size. Nothing is
		// queued for the client before the handshake ends.
		if err := r.toConn.fill(func(dst []byte) []byte { return append(dst, 0) }); err != nil {
			return err
		}
		r.queueUrgent(rlogin.ControlWindow)
	}
	data, n := rs.dec.DecodeInto(r.toProg.tail(), r.fromConn.bytes())
	if err := r.toProg.commit(data); err != nil {
		return err
	}
	r.fromConn.r += n
	if cols, rows, changed := rs.dec.WindowSize(); changed {
		if err := r.setWinsize(cols, rows); err != nil {
			return fmt.Errorf("relay: %w", err)
		}
	}
	return nil
}

// queueUrgent owes the client control byte c after the output queued so
// far.
func (r *Relay) queueUrgent(c byte) {
	rs := r.rlogin
	if rs.noUrgent {
		return
	}
	rs.urgent |= c
	rs.urgentAfter = r.toConn.len()
}

// urgentDue reports whether an urgent byte is owed now.
func (r *Relay) urgentDue() bool {
	// The idle message may have dropped output the byte was to follow.
	return r.rlogin != nil && r.rlogin.urgent != 0 && min(r.rlogin.urgentAfter, r.toConn.len()) == 0
}

// sendUrgent sends the owed control byte as TCP urgent data.
func (r *Relay) sendUrgent() error {
	err := unix.Sendto(r.connOut, []byte{r.rlogin.urgent}, unix.MSG_OOB|unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, nil)
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return nil
	case err == unix.EOPNOTSUPP || err == unix.EINVAL:
		// A socket without urgent data (a unix socketpair from socat on
		// a kernel without AF_UNIX MSG_OOB): as for a pipe, the client
		// never hears of it.
		r.rlogin.noUrgent = true
		r.rlogin.urgent = 0
		return nil
	case err == unix.EPIPE || err == unix.ECONNRESET || err == unix.ETIMEDOUT:
		return fmt.Errorf("%w: writing urgent data to the connection: %v", ErrHangup, err)
	case err != nil:
		return fmt.Errorf("relay: writing urgent data to the connection: %w", err)
	}
	r.rlogin.urgent = 0
	return nil
}

// wroteConn accounts n bytes of toConn written to the client.
func (r *Relay) wroteConn(n int) {
	if r.rlogin != nil {
		r.rlogin.urgentAfter = max(0, r.rlogin.urgentAfter-n)
	}
}

// packetStatus handles the status byte of a pty packet that carries no
// data (packet mode). As BSD rlogind does, a flush of the program's output
// drops what the relay still holds of it and tells the client to drop what
// it received up to the urgent mark; a change of flow control (the program
// took the terminal raw, or cooked again) tells the client whether to
// handle ^S/^Q itself. A flush of the program's input needs nothing from
// the client.
func (r *Relay) packetStatus(status byte) {
	c := status & (rlogin.ControlFlushWrite | rlogin.ControlNoStop | rlogin.ControlDoStop)
	if c == 0 {
		return
	}
	if c&rlogin.ControlFlushWrite != 0 {
		r.toConn.reset()
		r.lineIdle = true
	}
	r.queueUrgent(c)
}
