// Package fdio is the raw file-descriptor I/O that sockjail's connection
// code shares: reads, writes and polls that retry when a signal interrupts
// them (EINTR), so that no caller writes that loop again.
//
// It works on descriptors, not on Go's poller: the connection's socket is
// shared with the program through fd 0 and 1, and Go's net package would
// set O_NONBLOCK on the open file description they share. Non-blocking
// calls here ask for it per call (MSG_DONTWAIT) instead. EAGAIN is returned
// as it is: what to do when nothing is ready is the caller's decision.
// Nothing here buffers, and nothing here knows what the bytes mean.
package fdio

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Recv receives into b from socket fd without blocking (MSG_DONTWAIT, with
// flags added, MSG_PEEK say). It returns unix.EAGAIN when nothing is
// queued and 0, nil at end of stream. It calls recvfrom(2) without a
// sockaddr: the peer of a connected socket is known, and decoding it costs
// an allocation per call.
func Recv(fd int, b []byte, flags int) (int, error) {
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), uintptr(flags|unix.MSG_DONTWAIT), 0, 0)
		switch e {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		}
		return 0, e
	}
}

// Send sends b on socket fd without blocking and without SIGPIPE
// (MSG_DONTWAIT|MSG_NOSIGNAL); it may send less than b. It returns
// unix.EAGAIN when the send buffer is full.
func Send(fd int, b []byte) (int, error) {
	for {
		n, err := unix.SendmsgN(fd, b, nil, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// Read is read(2) on fd. On a descriptor in non-blocking mode (a pty
// master, a pipe the caller made so) it returns unix.EAGAIN when nothing
// is there.
func Read(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// Write is write(2) on fd; it may write less than b.
func Write(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Write(fd, b)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// WriteAll writes all of b to fd, a descriptor in blocking mode.
func WriteAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := Write(fd, b)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// Poll waits until one of fds has an event or deadline passes, and
// returns how many have events (0 when the deadline passed). The zero
// deadline waits without limit. A signal does not end the wait early: it
// goes on with the time left.
func Poll(fds []unix.PollFd, deadline time.Time) (int, error) {
	for {
		ms := -1
		if !deadline.IsZero() {
			// Round up: poll's millisecond timeout must not turn 0.5ms
			// into a busy loop.
			ms = int((time.Until(deadline) + time.Millisecond - 1) / time.Millisecond)
			if ms <= 0 {
				return 0, nil
			}
		}
		n, err := unix.Poll(fds, ms)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, err
		case n > 0:
			return n, nil
		}
		// A timeout: the loop checks the clock again, in case poll woke
		// a little before the deadline.
	}
}
