package main

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The client talks to the launchers with raw blocking system calls on a
// plain IPv4 TCP socket, not through Go's net package: no netpoller wake-up
// sits between the kernel's delivery of EOF and the timestamp, and every
// launcher is measured through exactly the same calls.

// loopback is 127.0.0.1, where every launcher listens.
var loopback = [4]byte{127, 0, 0, 1}

// headMax is how many leading bytes of a reply a sample keeps for checking.
const headMax = 64

// sample is what the client saw of one connection. Times are
// CLOCK_MONOTONIC readings in nanoseconds, the clock exitstamp.c uses.
type sample struct {
	start int64 // before socket(2)
	first int64 // when the first read returned data (0: no data)
	eof   int64 // when read returned 0
	bytes int64
	head  []byte // the first headMax bytes of the reply
}

// latency returns connect-to-EOF in milliseconds.
func (s sample) latency() float64 { return float64(s.eof-s.start) / 1e6 }

func monotonic() int64 {
	var ts unix.Timespec
	// CLOCK_MONOTONIC cannot fail on Linux; a zero reading would show up as
	// an absurd latency rather than pass silently.
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// consumer sees every chunk of a reply as it arrives, at offset off; it
// returns an error when the reply is wrong.
type consumer func(off int64, p []byte) error

// fetch connects to 127.0.0.1:port, sends nothing, reads until EOF and
// closes. buf is the read buffer (its size is the read size). consume, when
// not nil, checks the data as it streams in.
func fetch(port int, buf []byte, consume consumer) (sample, error) {
	var s sample
	s.start = monotonic()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return s, fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	if err := retryEINTR(func() error { return unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: loopback}) }); err != nil {
		return s, fmt.Errorf("connect 127.0.0.1:%d: %w", port, err)
	}
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			// Go's runtime preempts goroutines with signals; a blocking
			// read interrupted that way has simply not finished yet.
			continue
		}
		if err != nil {
			s.eof = monotonic()
			return s, fmt.Errorf("read after %d bytes: %w", s.bytes, err)
		}
		if n == 0 {
			s.eof = monotonic()
			return s, nil
		}
		if s.first == 0 {
			s.first = monotonic()
		}
		if len(s.head) < headMax {
			k := min(n, headMax-len(s.head))
			s.head = append(s.head, buf[:k]...)
		}
		if consume != nil {
			if err := consume(s.bytes, buf[:n]); err != nil {
				return s, err
			}
		}
		s.bytes += int64(n)
	}
}

// openIdle connects to 127.0.0.1:port and waits until the reply starts with
// want. It returns the open socket; the caller closes it.
func openIdle(port int, want string) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := retryEINTR(func() error { return unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: loopback}) }); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("connect 127.0.0.1:%d: %w", port, err)
	}
	// A bound on the wait, so that a launcher that never starts the
	// program fails the measurement instead of hanging it.
	tv := unix.NsecToTimeval((10 * time.Second).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, err
	}
	got := make([]byte, 0, len(want))
	buf := make([]byte, len(want))
	for len(got) < len(want) {
		n, err := unix.Read(fd, buf[:len(want)-len(got)])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			unix.Close(fd)
			return -1, fmt.Errorf("waiting for %q: got %q, %v", want, got, err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != want {
		unix.Close(fd)
		return -1, fmt.Errorf("waiting for %q: got %q", want, got)
	}
	return fd, nil
}

func retryEINTR(f func() error) error {
	for {
		if err := f(); err != unix.EINTR {
			return err
		}
	}
}

// loadResult is the outcome of one closed-loop load run.
type loadResult struct {
	Latencies []float64     // connect-to-EOF of the good connections, ms
	Wall      time.Duration // first connect to last EOF
	Errors    int           // connections that failed or replied wrongly
	FirstErr  error
}

// cps returns the good connections per second of the run.
func (r loadResult) cps() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return float64(len(r.Latencies)) / r.Wall.Seconds()
}

// load runs total connections against port with conc workers, each
// starting its next connection as soon as the previous one reached EOF (a
// closed loop). check validates each finished sample.
func load(port, total, conc int, check func(sample) error) loadResult {
	var (
		next atomic.Int64
		mu   sync.Mutex
		res  loadResult
		wg   sync.WaitGroup
	)
	begin := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for next.Add(1) <= int64(total) {
				s, err := fetch(port, buf, nil)
				if err == nil && check != nil {
					err = check(s)
				}
				mu.Lock()
				if err != nil {
					res.Errors++
					if res.FirstErr == nil {
						res.FirstErr = err
					}
				} else {
					res.Latencies = append(res.Latencies, s.latency())
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Wall = time.Since(begin)
	return res
}

// expectReply returns a check that the reply is exactly want.
func expectReply(want string) func(sample) error {
	return func(s sample) error {
		if s.bytes != int64(len(want)) || string(s.head) != want {
			return fmt.Errorf("reply %q (%d bytes), want %q", s.head, s.bytes, want)
		}
		return nil
	}
}

// patternConsumer checks bigreply.c's stream: byte i is 'a'+i%26.
func patternConsumer() consumer {
	// pattern holds the alphabet repeated over more than any read, so that
	// a chunk at any offset compares against one slice (memcmp speed, so
	// that checking does not limit the measured throughput).
	pattern := make([]byte, 26+(1<<20))
	for i := range pattern {
		pattern[i] = byte('a' + i%26)
	}
	return func(off int64, p []byte) error {
		if len(p) > len(pattern)-26 {
			return errors.New("read larger than the pattern buffer")
		}
		k := int(off % 26)
		if !bytes.Equal(p, pattern[k:k+len(p)]) {
			return fmt.Errorf("reply differs from the pattern within bytes %d..%d", off, off+int64(len(p)))
		}
		return nil
	}
}

func closeFD(fd int) { unix.Close(fd) }
