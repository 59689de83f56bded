package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/sockjail/sockjail/internal/conn"
	"golang.org/x/sys/unix"
)

// Listener is a listening TCP socket that serve accepts connections on.
type Listener struct {
	ln *net.TCPListener
	// Name is the address given to --listen, or the systemd socket's
	// name from LISTEN_FDNAMES.
	Name string
}

// Addr returns the address the listener is bound to.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Close stops the listener. A pending Accept returns net.ErrClosed.
func (l *Listener) Close() error { return l.ln.Close() }

// Listen opens a plain TCP listener on addr ("127.0.0.1:31337",
// "[::]:31337", ":31337"; an empty host listens on every address, IPv4 and
// IPv6). It uses TCP, never MPTCP: Go listens with MPTCP by default since
// Go 1.24, and Landlock's TCP rules do not cover MPTCP.
func Listen(addr string) (*Listener, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%v (want HOST:PORT such as 127.0.0.1:31337, [::]:31337 or :31337)", err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return nil, fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	// KeepAlive -1: the session sets SO_KEEPALIVE from the policy.
	lc := net.ListenConfig{KeepAlive: -1}
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening: %w", err)
	}
	return &Listener{ln: ln.(*net.TCPListener), Name: addr}, nil
}

// ErrConnected is wrapped by SystemdListeners' error for a passed socket
// that is a connection, as Accept=yes passes it, not a listener.
var ErrConnected = errors.New("a connected socket, not a listening one (Accept=yes or systemd-socket-activate --accept)")

// ErrNoListenFDs is returned by SystemdListeners when sockjail was not
// started with sockets by the activation protocol.
var ErrNoListenFDs = errors.New("no listening sockets passed (LISTEN_FDS/LISTEN_PID unset or meant for another process)")

// SystemdListeners takes the listening sockets that systemd (a socket unit
// with Accept=no) or systemd-socket-activate passed through LISTEN_FDS,
// LISTEN_PID and LISTEN_FDNAMES, and unsets those variables. Every passed
// descriptor must be a listening TCP stream socket: a connected socket
// (Accept=yes) or a datagram or AF_UNIX socket is an error naming it, since
// serving it would not do what the unit's author meant.
func SystemdListeners() ([]*Listener, error) {
	fds, names, err := conn.PassedFDs()
	if err != nil {
		return nil, err
	}
	if len(fds) == 0 {
		return nil, ErrNoListenFDs
	}
	files := make([]*os.File, len(fds))
	for i, fd := range fds {
		// Not inherited by the programs: serve passes each its connection only.
		unix.CloseOnExec(fd)
		if names[i] == "" {
			names[i] = "LISTEN_FD_" + strconv.Itoa(fd)
		}
		files[i] = os.NewFile(uintptr(fd), names[i])
	}
	var out []*Listener
	fail := func(err error) ([]*Listener, error) {
		for _, l := range out {
			l.Close()
		}
		for _, f := range files {
			f.Close()
		}
		return nil, err
	}
	for i, f := range files {
		fd := int(f.Fd())
		if err := checkListening(fd); err != nil {
			return fail(fmt.Errorf("passed fd %d (%s): %w", fd, f.Name(), err))
		}
		ln, err := net.FileListener(f)
		if err != nil {
			return fail(fmt.Errorf("passed fd %d (%s): %w", fd, f.Name(), err))
		}
		// FileListener made its own copy.
		f.Close()
		files[i] = nil
		out = append(out, &Listener{ln: ln.(*net.TCPListener), Name: f.Name()})
	}
	return out, nil
}

// checkListening reports why fd is not a listening TCP socket, or nil.
func checkListening(fd int) error {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return fmt.Errorf("not a socket (%v)", err)
	}
	dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return fmt.Errorf("SO_DOMAIN: %w", err)
	}
	proto, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err != nil {
		return fmt.Errorf("SO_PROTOCOL: %w", err)
	}
	if typ != unix.SOCK_STREAM || (dom != unix.AF_INET && dom != unix.AF_INET6) || (proto != unix.IPPROTO_TCP && proto != unix.IPPROTO_MPTCP) {
		return fmt.Errorf("not a TCP stream socket (domain %d, type %d, protocol %d): ListenStream= must name an IP address or a port", dom, typ, proto)
	}
	acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err != nil {
		return fmt.Errorf("SO_ACCEPTCONN: %w", err)
	}
	if acc == 0 {
		return ErrConnected
	}
	return nil
}

// accept waits for and accepts one connection. The returned descriptor is
// in blocking mode and close-on-exec, outside Go's netpoller: it goes to
// the program as its stdin and stdout, which expect a blocking socket, and
// sockjail itself reads it only with MSG_DONTWAIT. A listener closed by
// Close makes accept return an error wrapping net.ErrClosed.
//
// Go's listener accepts (a raw accept4 cannot wait in Go's poller: a
// listener's RawConn.Read is EINVAL); the descriptor is then copied out of
// the poller, set blocking, and Go's copy closed, which also removes it
// from the poller.
func (l *Listener) accept() (int, error) {
	c, err := l.ln.AcceptTCP()
	if err != nil {
		return -1, err
	}
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, os.NewSyscallError("fcntl(F_DUPFD_CLOEXEC)", derr)
	}
	if err := unix.SetNonblock(nfd, false); err != nil {
		unix.Close(nfd)
		return -1, os.NewSyscallError("fcntl(F_SETFL)", err)
	}
	return nfd, nil
}
