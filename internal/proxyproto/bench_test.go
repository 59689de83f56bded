package proxyproto

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkRead measures reading one header from a socket, the per-connection
// cost of proxy_protocol in serve, against a plain recv of the same bytes
// (the bare baseline: what any reader must pay at least).
func BenchmarkRead(b *testing.B) {
	v1 := []byte("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n")
	v2h := v2(0x21, 0x11, inet4Block("203.0.113.7", "10.0.0.1", 40000, 31337), -1)
	for _, bc := range []struct {
		name string
		hdr  []byte
		read func(fd int, n int) error
	}{
		{"baseline-recv-v1", v1, func(fd, n int) error { return recvN(fd, n) }},
		{"v1", v1, func(fd, n int) error { _, err := Read(fd, time.Second, ModeAny); return err }},
		{"baseline-recv-v2", v2h, func(fd, n int) error { return recvN(fd, n) }},
		{"v2", v2h, func(fd, n int) error { _, err := Read(fd, time.Second, ModeAny); return err }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer unix.Close(fds[0])
			defer unix.Close(fds[1])
			for b.Loop() {
				if _, err := unix.Write(fds[1], bc.hdr); err != nil {
					b.Fatal(err)
				}
				if err := bc.read(fds[0], len(bc.hdr)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func recvN(fd, n int) error {
	buf := make([]byte, n)
	for have := 0; have < n; {
		k, err := unix.Read(fd, buf[have:])
		if err != nil {
			return err
		}
		have += k
	}
	return nil
}
