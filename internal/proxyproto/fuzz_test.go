package proxyproto

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sentinel returns the package error that err wraps, or nil.
func sentinel(err error) error {
	for _, s := range []error{ErrNoHeader, ErrMalformed, ErrTruncated, ErrTimeout} {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}

// FuzzParse checks that no input panics the parser, that every error wraps
// one of the package's sentinels, and that Read on a real socket agrees with
// Parse and leaves exactly the bytes after the header in the socket.
// The seed corpus is under testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, tc := range parseCases() {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		for _, mode := range []string{ModeV1, ModeV2, ModeAny} {
			h, perr := Parse(data, mode)
			if perr != nil {
				if sentinel(perr) == nil {
					t.Fatalf("mode %s: error %v wraps no sentinel", mode, perr)
				}
			} else if h.Len <= 0 || h.Len > len(data) {
				t.Fatalf("mode %s: Len %d outside 1..%d", mode, h.Len, len(data))
			}

			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for b := data; len(b) > 0; {
					n, err := unix.Write(fds[1], b)
					if err != nil {
						return
					}
					b = b[n:]
				}
				unix.Shutdown(fds[1], unix.SHUT_WR)
			}()
			rh, rerr := Read(fds[0], 5*time.Second, mode)
			var rest []byte
			if rerr == nil {
				buf := make([]byte, 4096)
				for {
					n, err := unix.Read(fds[0], buf)
					if n <= 0 || err != nil {
						break
					}
					rest = append(rest, buf[:n]...)
				}
			}
			unix.Close(fds[0])
			<-done
			unix.Close(fds[1])

			if sentinel(perr) != sentinel(rerr) {
				t.Fatalf("mode %s: Parse error %v, Read error %v", mode, perr, rerr)
			}
			if perr == nil {
				if h.Len != rh.Len || h.Source != rh.Source || h.Command != rh.Command {
					t.Fatalf("mode %s: Parse %+v, Read %+v", mode, h, rh)
				}
				if !bytes.Equal(rest, data[h.Len:]) {
					t.Fatalf("mode %s: Read left %d bytes, want %d", mode, len(rest), len(data)-h.Len)
				}
			}
		}
	})
}
