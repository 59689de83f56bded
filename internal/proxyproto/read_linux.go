package proxyproto

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Read reads one PROXY protocol header from the stream socket fd, accepting
// the versions mode names ("v1", "v2" or "any"), and fails with ErrTimeout
// when the header is not complete within timeout.
//
// Read takes exactly the header's bytes from the socket and no more: it
// peeks (MSG_PEEK) at what has arrived, consumes only the bytes that
// certainly belong to the header, and for v2 reads exactly the declared
// length. The client's stream that follows stays in the socket's receive
// queue for the program.
//
// Read neither reads nor changes the descriptor's O_NONBLOCK flag, which is
// shared with every copy of the descriptor (the program's stdin among them):
// it waits with poll(2) and receives with MSG_DONTWAIT. It works on any
// stream socket (TCP or AF_UNIX), not on pipes.
func Read(fd int, timeout time.Duration, mode string) (Header, error) {
	if !validMode(mode) {
		return Header{}, fmt.Errorf("proxyproto: unknown mode %q (want v1, v2 or any)", mode)
	}
	r := reader{fd: fd, deadline: time.Now().Add(timeout), mode: mode}
	return r.read()
}

type reader struct {
	fd       int
	deadline time.Time
	mode     string
	// buf holds the header bytes consumed so far. Its capacity covers the
	// fixed parts; a v2 payload grows it once, to the declared length.
	buf []byte
}

func (r *reader) read() (Header, error) {
	r.buf = make([]byte, 0, maxV1Len)
	// The first byte tells the versions apart.
	if err := r.fill(1, nil); err != nil {
		return Header{}, err
	}
	if r.buf[0] == 'P' {
		// v1: the line ends at the first LF. Peek at what has arrived
		// and consume up to the LF only.
		if err := r.fill(maxV1Len, []byte{'\n'}); err != nil {
			if errors.Is(err, errNoLF) {
				return Header{}, fmt.Errorf("%w: v1 line longer than %d bytes", ErrMalformed, maxV1Len)
			}
			return Header{}, err
		}
		return parseV1(r.buf)
	}
	if err := r.fill(v2FixedLen, nil); err != nil {
		return Header{}, err
	}
	n, err := v2Len(r.buf)
	if err != nil {
		return Header{}, err
	}
	r.buf = append(make([]byte, 0, v2FixedLen+n), r.buf...)
	if err := r.fill(v2FixedLen+n, nil); err != nil {
		return Header{}, err
	}
	return parseV2(r.buf)
}

var errNoLF = errors.New("no LF")

// fill consumes bytes from the socket into r.buf until it holds want bytes,
// or, when stop is set, until the first occurrence of stop's byte (which is
// consumed too). With stop set and no stop byte within want bytes it returns
// errNoLF. It never consumes a byte past want or past the stop byte.
func (r *reader) fill(want int, stop []byte) error {
	for len(r.buf) < want {
		if err := r.wait(); err != nil {
			return err
		}
		have := len(r.buf)
		space := r.buf[have:want]
		take := len(space)
		if stop != nil {
			// Peek first: only the bytes up to the stop byte are ours.
			n, err := recv(r.fd, space, unix.MSG_PEEK)
			if err != nil {
				if err == unix.EAGAIN {
					continue
				}
				return err
			}
			if n == 0 {
				return r.eof()
			}
			take = n
			if i := bytes.IndexByte(space[:n], stop[0]); i >= 0 {
				take = i + 1
			}
		}
		n, err := recv(r.fd, space[:take], 0)
		if err != nil {
			if err == unix.EAGAIN {
				continue
			}
			return err
		}
		if n == 0 {
			return r.eof()
		}
		r.buf = r.buf[:have+n]
		if err := checkPrefix(r.buf, r.mode); err != nil {
			return err
		}
		if stop != nil && r.buf[len(r.buf)-1] == stop[0] {
			return nil
		}
	}
	if stop != nil {
		return errNoLF
	}
	return nil
}

func (r *reader) eof() error {
	if len(r.buf) == 0 {
		return fmt.Errorf("%w: closed before any byte", ErrTruncated)
	}
	return fmt.Errorf("%w: closed after %d bytes", ErrTruncated, len(r.buf))
}

// wait blocks until the socket is readable or the deadline passes.
func (r *reader) wait() error {
	for {
		left := time.Until(r.deadline)
		if left <= 0 {
			return fmt.Errorf("%w (%d bytes received)", ErrTimeout, len(r.buf))
		}
		// Round up so that a sub-millisecond remainder still waits.
		ms := int((left + time.Millisecond - 1) / time.Millisecond)
		fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("proxyproto: poll: %w", err)
		}
		if n > 0 {
			// POLLIN, POLLHUP or POLLERR: recv reports which.
			return nil
		}
	}
}

// recv receives into b without blocking, retrying on EINTR. Errors other
// than EAGAIN are wrapped with context.
func recv(fd int, b []byte, flags int) (int, error) {
	for {
		n, _, err := unix.Recvfrom(fd, b, flags|unix.MSG_DONTWAIT)
		switch err {
		case nil:
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, unix.EAGAIN
		}
		if err == unix.ECONNRESET {
			return 0, fmt.Errorf("%w: connection reset", ErrTruncated)
		}
		return 0, fmt.Errorf("proxyproto: recv: %w", err)
	}
}
