package serve

import "golang.org/x/sys/unix"

// hangupProbe is a HangupProbe on a duplicate of a connection's socket.
// A duplicate of its own, because the session closes the connection's
// descriptors when its close ends, and a probe must never poll a number
// that may by then name another file. The duplicate keeps the socket open
// a moment longer, until Slot.Gone closes it right after the session's
// close; the FIN was sent by shutdown(2) already, which acts on the socket
// and not on the descriptor.
type hangupProbe struct{ fd int }

func newHangupProbe(fd int) (HangupProbe, error) {
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, err
	}
	return &hangupProbe{fd: d}, nil
}

// Closed reports POLLHUP: both directions shut down (the client's FIN and
// ours, after the program ended) or the connection reset. A client that
// only half-closed and still waits for the answer has no POLLHUP.
func (p *hangupProbe) Closed() bool {
	fds := []unix.PollFd{{Fd: int32(p.fd)}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n == 1 && fds[0].Revents&unix.POLLHUP != 0
}

func (p *hangupProbe) Close() error { return unix.Close(p.fd) }
