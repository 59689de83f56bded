// Package gate puts a proof of work in front of a session: before any
// program is started, the client is sent a challenge as one line and must
// answer with a hashcash stamp for it.
//
// The scheme is hashcash version 1 (SHA-1 partial preimages, as in
// hashcash.org's format and Debian's hashcash(1)): the challenge line is the
// command that solves it,
//
//	hashcash -mb20 0f3c…e1
//
// and the answer is the stamp that command prints,
//
//	1:20:261204:0f3c…e1::zCDZMeMwQJBGteWJ:06xCg
//
// A stamp is good when its version is 1, its bits field is at least the
// difficulty, its resource is this connection's challenge (random, never
// reused, so no stamp works twice and no date check is needed), and
// SHA-1 of the whole stamp starts with at least that many zero bits.
// Verification reads at most [MaxAnswer] bytes into a fixed buffer,
// allocates nothing the client controls, and compares the resource in
// constant time.
//
// It does not cover rate limiting or bounding the number of clients that
// are thinking at once: the caller (serve's limits) does that, since a
// gate's cost to sockjail is a descriptor and a goroutine per client.
package gate

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockjail/sockjail/internal/fdio"
)

const (
	// MaxAnswer bounds the answer line, line end included. hashcash's
	// stamps for a 32-character resource are about 70 bytes.
	MaxAnswer = 256
	// MaxBits is the most difficulty a policy may ask for: 2^32 hashes
	// on average is hours of a CPU.
	MaxBits = 32
	// resourceBytes is the challenge's randomness: 128 bits, hex encoded.
	resourceBytes = 16
)

// Result is how a gate ended, for the log line and the metrics.
type Result string

const (
	Solved   Result = "solved"
	Failed   Result = "failed"    // a wrong, malformed or too long answer
	TimedOut Result = "timed-out" // no answer line within the deadline
	Closed   Result = "closed"    // the client left without answering
)

// Errors that say why a gate did not pass; [Check] wraps them.
var (
	ErrMalformed = errors.New("not a hashcash version 1 stamp")
	ErrResource  = errors.New("the stamp is for another challenge")
	ErrBits      = errors.New("the stamp has too few zero bits")
	ErrTooLong   = fmt.Errorf("the answer is longer than %d bytes", MaxAnswer)
	ErrTimeout   = errors.New("no answer in time")
	ErrClosed    = errors.New("the client closed the connection before answering")
)

// Challenge is one connection's challenge.
type Challenge struct {
	Bits     int
	Resource [2 * resourceBytes]byte // hex
}

// NewChallenge returns a fresh challenge of the given difficulty.
func NewChallenge(difficulty int) (Challenge, error) {
	c := Challenge{Bits: difficulty}
	var r [resourceBytes]byte
	if _, err := rand.Read(r[:]); err != nil {
		return c, fmt.Errorf("generating a challenge: %w", err)
	}
	hex.Encode(c.Resource[:], r[:])
	return c, nil
}

// Line is the line sent to the client: the hashcash command that solves
// the challenge.
func (c Challenge) Line() []byte {
	return []byte("hashcash -mb" + strconv.Itoa(c.Bits) + " " + string(c.Resource[:]) + "\n")
}

// Check reports whether stamp (without its line end) answers c.
func (c Challenge) Check(stamp []byte) error {
	// ver:bits:date:resource:ext:rand:counter
	var field [7][]byte
	rest := stamp
	for i := range field {
		j := bytes.IndexByte(rest, ':')
		if i == len(field)-1 {
			if j >= 0 {
				return ErrMalformed
			}
			field[i] = rest
			break
		}
		if j < 0 {
			return ErrMalformed
		}
		field[i], rest = rest[:j], rest[j+1:]
	}
	if string(field[0]) != "1" || !digits(field[2]) || len(field[6]) == 0 {
		return ErrMalformed
	}
	claimed, err := strconv.Atoi(string(field[1]))
	if err != nil || claimed < 0 {
		return ErrMalformed
	}
	if subtle.ConstantTimeCompare(field[3], c.Resource[:]) != 1 {
		return ErrResource
	}
	if claimed < c.Bits || zeroBits(sha1.Sum(stamp)) < c.Bits {
		return ErrBits
	}
	return nil
}

// digits reports whether b is a hashcash date: 6, 10 or 12 digits.
func digits(b []byte) bool {
	if len(b) != 6 && len(b) != 10 && len(b) != 12 {
		return false
	}
	for _, d := range b {
		if d < '0' || d > '9' {
			return false
		}
	}
	return true
}

// zeroBits counts the leading zero bits of a digest, looking at every byte
// so that the time taken doesn't depend on the answer.
func zeroBits(sum [sha1.Size]byte) int {
	n, done := 0, 0
	for _, b := range sum {
		z := bits.LeadingZeros8(b)
		// Count this byte's zeros only while every byte before it was 0.
		n += z &^ -done
		if b != 0 {
			done = 1
		}
	}
	return n
}

// Run sends c's line on out and reads the answer line from in within
// timeout. It never reads past the answer's line end, so the program gets
// the client's input from the next byte on. The error says why a gate that
// did not pass failed.
func Run(in, out int, c Challenge, timeout time.Duration) (Result, error) {
	deadline := time.Now().Add(timeout)
	if err := writeAll(out, c.Line(), deadline); err != nil {
		return Closed, err
	}
	var buf [MaxAnswer]byte
	n, err := readLine(in, buf[:], deadline)
	switch {
	case errors.Is(err, ErrTimeout):
		return TimedOut, err
	case errors.Is(err, ErrClosed):
		return Closed, err
	case err != nil:
		return Failed, err
	}
	line := bytes.TrimSuffix(buf[:n-1], []byte("\r"))
	if err := c.Check(line); err != nil {
		return Failed, err
	}
	return Solved, nil
}

// writeAll writes b to fd, waiting for room until deadline.
func writeAll(fd int, b []byte, deadline time.Time) error {
	for len(b) > 0 {
		n, err := fdio.Write(fd, b)
		if err == unix.EAGAIN {
			if err := wait(fd, unix.POLLOUT, deadline); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrClosed, err)
		}
		b = b[n:]
	}
	return nil
}

// readLine reads one line into buf, line end included, and returns its
// length. On a socket it peeks and then takes exactly the line; on a pipe
// it reads a byte at a time. Either way nothing after the line end is
// consumed.
func readLine(fd int, buf []byte, deadline time.Time) (int, error) {
	have := 0
	socket := true
	for have < len(buf) {
		var n int
		var err error
		if socket {
			n, err = fdio.Recv(fd, buf[have:], unix.MSG_PEEK)
			if err == unix.ENOTSOCK {
				socket = false
				continue
			}
			if err == nil && n > 0 {
				take := n
				if i := bytes.IndexByte(buf[have:have+n], '\n'); i >= 0 {
					take = i + 1
				}
				n, err = fdio.Recv(fd, buf[have:have+take], 0)
			}
		} else {
			if err = wait(fd, unix.POLLIN, deadline); err != nil {
				return have, err
			}
			n, err = fdio.Read(fd, buf[have:have+1])
		}
		switch {
		case err == unix.EAGAIN:
			if err := wait(fd, unix.POLLIN, deadline); err != nil {
				return have, err
			}
			continue
		case err != nil:
			return have, fmt.Errorf("%w: %v", ErrClosed, err)
		case n == 0:
			return have, ErrClosed
		}
		have += n
		if buf[have-1] == '\n' {
			return have, nil
		}
	}
	return have, ErrTooLong
}

// wait polls fd for events until deadline.
func wait(fd int, events int16, deadline time.Time) error {
	if !time.Now().Before(deadline) {
		return ErrTimeout
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: events}}
	n, err := fdio.Poll(fds, deadline)
	if err != nil {
		return fmt.Errorf("poll: %w", err)
	}
	if n == 0 {
		return ErrTimeout
	}
	return nil
}
