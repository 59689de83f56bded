package conn

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listener is a plain TCP listening socket made with raw system calls, so
// that accepted sockets are blocking, as systemd and inetd hand them.
type listener struct {
	fd   int
	addr netip.AddrPort
}

// listenTCP listens on ip (":0" port) and closes the socket at cleanup.
func listenTCP(t testing.TB, ip string) *listener {
	t.Helper()
	a := netip.MustParseAddr(ip)
	var sa unix.Sockaddr
	domain := unix.AF_INET
	if a.Is4() {
		sa = &unix.SockaddrInet4{Addr: a.As4()}
	} else {
		domain = unix.AF_INET6
		sa = &unix.SockaddrInet6{Addr: a.As16()}
	}
	fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if domain == unix.AF_INET6 {
		// Accept IPv4 too, so that the mapped-address case can be tested.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 64); err != nil {
		t.Fatal(err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return &listener{fd: fd, addr: addrPort(got)}
}

// dial connects a client to the listener (at dialIP, default its own
// address) and returns the client and the accepted, blocking server fd.
func (l *listener) dial(t testing.TB, dialIP string) (*net.TCPConn, int) {
	t.Helper()
	to := l.addr
	if dialIP != "" {
		to = netip.AddrPortFrom(netip.MustParseAddr(dialIP), l.addr.Port())
	}
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(to))
	if err != nil {
		t.Fatal(err)
	}
	fd, _, err := unix.Accept4(l.fd, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	return c, fd
}

// runChild runs a real program with fd as its stdin and stdout and waits
// for it, as the session does. The fd stays open.
func runChild(t testing.TB, fd int, name string, args ...string) {
	t.Helper()
	runChildIO(t, fd, fd, name, args...)
}

// runChildIO is runChild with separate input and output descriptors.
func runChildIO(t testing.TB, in, out int, name string, args ...string) {
	t.Helper()
	// os.NewFile on a copy: exec hands the copy to the child, and the
	// test's own fds stay open. The copies are blocking, so os.NewFile
	// leaves their flags alone.
	inF := os.NewFile(uintptr(dupFD(t, in)), "in")
	outF := os.NewFile(uintptr(dupFD(t, out)), "out")
	cmd := exec.Command(name, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inF, outF, os.Stderr
	err := cmd.Run()
	// Close the copies now, not at cleanup: a pipe reader sees EOF only
	// when every write end is gone. (dupFD's cleanup then gets EBADF.)
	inF.Close()
	outF.Close()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// readResult is what a client read before the end of the stream.
type readResult struct {
	n   int64
	err error // nil for a clean EOF
	at  time.Time
}

// readAll reads r to the end in a goroutine.
func readAll(r io.Reader) <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		n, err := io.Copy(io.Discard, r)
		ch <- readResult{n: n, err: err, at: time.Now()}
	}()
	return ch
}

// readAllClose reads c to the end in a goroutine and then closes it, as a
// client such as nc does when the server's side ends.
func readAllClose(c io.ReadCloser) <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		n, err := io.Copy(io.Discard, c)
		at := time.Now()
		c.Close()
		ch <- readResult{n: n, err: err, at: at}
	}()
	return ch
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET)
}

// fillSendQueue writes to fd without blocking until the kernel takes no
// more (the peer reads nothing), and returns how much it took.
func fillSendQueue(t testing.TB, fd int) int {
	t.Helper()
	buf := make([]byte, 64<<10)
	total := 0
	for {
		n, err := unix.SendmsgN(fd, buf, nil, nil, unix.MSG_DONTWAIT)
		if err == unix.EAGAIN {
			return total
		}
		if err != nil {
			t.Fatalf("filling the send queue: %v", err)
		}
		total += n
	}
}

// statusFlags returns the file status flags of fd's open file description.
func statusFlags(t testing.TB, fd int) int {
	t.Helper()
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fl
}

// dupFD returns a close-on-exec copy of fd: a handle on the open file
// description that outlives the Conn's own descriptor. The caller closes
// it.
func dupFD(t testing.TB, fd int) int {
	t.Helper()
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
