package proxyproto

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/sockjail/sockjail/internal/fdio"
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
	h, err := r.read()
	if err != nil && len(r.buf) == 0 && errors.Is(err, ErrTruncated) {
		err = fmt.Errorf("%w (%w)", ErrNothingSent, err)
	}
	return h, err
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
	if h, done, err := r.fast(); done {
		return h, err
	}
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

// fast handles the usual case in two system calls: the whole header has
// arrived (a proxy sends it in one segment), so one peek sees all of it and
// one recv takes exactly its bytes. It reports done = false, having consumed
// nothing, when the header is not all there yet; read then goes on byte
// range by byte range.
func (r *reader) fast() (h Header, done bool, err error) {
	b := r.buf[:maxV1Len]
	n, err := recv(r.fd, b, unix.MSG_PEEK)
	if err != nil || n == 0 {
		// Nothing yet (EAGAIN), or EOF or an error that the slow path
		// reports with its context.
		return Header{}, false, nil
	}
	b = b[:n]
	if err := checkPrefix(b, r.mode); err != nil {
		return Header{}, true, err
	}
	var total int
	if b[0] == 'P' {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if n == maxV1Len {
				return Header{}, true, fmt.Errorf("%w: v1 line longer than %d bytes", ErrMalformed, maxV1Len)
			}
			return Header{}, false, nil
		}
		total = i + 1
	} else {
		if n < v2FixedLen {
			return Header{}, false, nil
		}
		l, err := v2Len(b[:v2FixedLen])
		if err != nil {
			return Header{}, true, err
		}
		total = v2FixedLen + l
		if n < total {
			return Header{}, false, nil
		}
	}
	k, err := recv(r.fd, b[:total], 0)
	if err != nil {
		return Header{}, true, err
	}
	if k < total {
		// The peeked bytes are in the queue and nobody else reads it, so
		// this does not happen; if it did, the slow path goes on from
		// the k bytes taken.
		r.buf = b[:k]
		return Header{}, false, nil
	}
	if b[0] == 'P' {
		h, err = parseV1(b[:total])
	} else {
		h, err = parseV2(b[:total])
	}
	return h, true, err
}

// fill consumes bytes from the socket into r.buf until it holds want bytes,
// or, when stop is set, until the first occurrence of stop's byte (which is
// consumed too). With stop set and no stop byte within want bytes it returns
// errNoLF. It never consumes a byte past want or past the stop byte.
func (r *reader) fill(want int, stop []byte) error {
	// Receive first and poll only when nothing is there: a proxy sends
	// the header at once, so waiting is the exception.
	for len(r.buf) < want {
		have := len(r.buf)
		space := r.buf[have:want]
		take := len(space)
		if stop != nil {
			// Peek first: only the bytes up to the stop byte are ours.
			n, ok, err := r.recvSome(space, unix.MSG_PEEK)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			take = n
			if i := bytes.IndexByte(space[:n], stop[0]); i >= 0 {
				take = i + 1
			}
		}
		n, ok, err := r.recvSome(space[:take], 0)
		if err != nil {
			return err
		}
		if !ok {
			continue
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

// recvSome receives into b with flags. When nothing was there it waits
// until the socket is readable and reports ok false with a nil error, so
// that the caller starts its step over; the end of the stream is an error.
func (r *reader) recvSome(b []byte, flags int) (n int, ok bool, err error) {
	n, err = recv(r.fd, b, flags)
	switch {
	case err == unix.EAGAIN:
		return 0, false, r.wait()
	case err != nil:
		return 0, false, err
	case n == 0:
		return 0, false, r.eof()
	}
	return n, true, nil
}

func (r *reader) eof() error {
	if len(r.buf) == 0 {
		return fmt.Errorf("%w: closed before any byte", ErrTruncated)
	}
	return fmt.Errorf("%w: closed after %d bytes", ErrTruncated, len(r.buf))
}

// wait blocks until the socket is readable or the deadline passes.
func (r *reader) wait() error {
	fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}}
	n, err := fdio.Poll(fds, r.deadline)
	if err != nil {
		return fmt.Errorf("proxyproto: poll: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w (%d bytes received)", ErrTimeout, len(r.buf))
	}
	// POLLIN, POLLHUP or POLLERR: recv reports which.
	return nil
}

// recv receives into b without blocking. Errors other than EAGAIN are
// wrapped with context.
func recv(fd int, b []byte, flags int) (int, error) {
	n, err := fdio.Recv(fd, b, flags)
	switch err {
	case nil, unix.EAGAIN:
		return n, err
	case unix.ECONNRESET:
		return 0, fmt.Errorf("%w: connection reset", ErrTruncated)
	}
	return 0, fmt.Errorf("proxyproto: recv: %w", err)
}
