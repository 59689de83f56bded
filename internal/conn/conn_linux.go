package conn

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// FromStdio takes the connection sockjail was started with.
//
// The usual shape is the connection on fd 0 (and fd 1), as systemd
// Accept=yes with StandardInput=socket, inetd, `systemd-socket-activate
// --accept --inetd` and socat EXEC: hand it. FromStdio also accepts the
// shape of `systemd-socket-activate --accept` without --inetd: one
// connected socket on fd 3 with LISTEN_FDS=1 and LISTEN_PID equal to our
// pid. It moves that socket to fd 0 and 1. In every case it unsets
// LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES, which must not reach the
// program. When fd 1 is closed or /dev/null and fd 0 is a socket or tty,
// fd 1 becomes a copy of fd 0 (the inetd contract); another fd 1 (socat's
// pipes option gives two pipes) is kept as the output.
//
// For a TCP connection the peer and local addresses come from getpeername
// and getsockname. For a socketpair, pipe or tty (socat EXEC:) they come
// from the launcher's environment when it set them: REMOTE_ADDR and
// REMOTE_PORT, else socat's SOCAT_PEERADDR, SOCAT_PEERPORT, SOCAT_SOCKADDR
// and SOCAT_SOCKPORT.
//
// It returns an error wrapping [ErrNoConnection] when fd 0 is closed or
// /dev/null (Go's runtime opens /dev/null on a closed fd 0 before main, so
// the two look alike), and [ErrListening] when the connection is a
// listening socket (Accept=no). A regular file on fd 0 is accepted as
// KindOther, for trying a program out locally.
// It does not read from the connection or change its flags.
func FromStdio() (*Conn, error) {
	if err := adoptListenFDs(); err != nil {
		return nil, err
	}
	var st0, st1 unix.Stat_t
	if err := unix.Fstat(0, &st0); err != nil {
		return nil, fmt.Errorf("%w: fd 0 is not open (%v)", ErrNoConnection, err)
	}
	if isDevNull(&st0) {
		// Go's runtime opens /dev/null in place of a closed fd 0 before
		// main runs, so this is also what "fd 0 closed" looks like.
		return nil, fmt.Errorf("%w: fd 0 is /dev/null or was closed", ErrNoConnection)
	}
	err := unix.Fstat(1, &st1)
	if err != nil && !errors.Is(err, unix.EBADF) {
		return nil, fmt.Errorf("fd 1: %w", err)
	}
	if err != nil || isDevNull(&st1) && bidirectional(&st0) {
		// inetd's contract: the connection is the program's stdout too.
		// A closed fd 1 shows up as /dev/null (see above).
		if err := unix.Dup3(0, 1, 0); err != nil {
			return nil, fmt.Errorf("making fd 1 a copy of the connection on fd 0: %w", err)
		}
		st1 = st0
	}
	c, err := newConn(0, &st0, 1, &st1)
	if err != nil {
		return nil, err
	}
	c.stdio = true
	if c.in.kind != KindTCP {
		c.peer = parseAddrPort(os.Getenv(EnvRemoteAddr), os.Getenv(EnvRemotePort))
		if !c.peer.IsValid() {
			c.peer = parseAddrPort(os.Getenv(EnvSocatPeerAddr), os.Getenv(EnvSocatPeerPort))
		}
		c.local = parseAddrPort(os.Getenv(EnvSocatSockAddr), os.Getenv(EnvSocatSockPort))
	}
	return c, nil
}

// FromFD wraps a connected socket that sockjail accepted itself (serve).
// On success the Conn owns fd and closes it in [Conn.Close]; on error the
// caller still owns it. The fd serves as both the program's input and
// output. The socket should be in blocking mode, as the program expects of
// its stdin and stdout.
func FromFD(fd int) (*Conn, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("%w: fd %d is not open: %v", ErrNoConnection, fd, err)
	}
	return newConn(fd, &st, fd, &st)
}

// isDevNull reports whether st is the null device (char 1:3).
func isDevNull(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && unix.Major(st.Rdev) == 1 && unix.Minor(st.Rdev) == 3
}

// bidirectional reports whether st is a file that carries both directions
// of a connection (a socket or a terminal), so that fd 1 may be a copy of
// fd 0.
func bidirectional(st *unix.Stat_t) bool {
	m := st.Mode & unix.S_IFMT
	return m == unix.S_IFSOCK || m == unix.S_IFCHR && !isDevNull(st)
}

// maxPassedFDs bounds LISTEN_FDS: more than the largest fd limit is a
// garbled variable, not descriptors.
const maxPassedFDs = 1 << 20

// PassedFDs reads the socket activation protocol (sd_listen_fds(3)): the
// descriptors passed from [ListenFDsStart] on, and their names from
// LISTEN_FDNAMES ("" where none is given). Variables meant for another
// process (LISTEN_PID is not ours) pass nothing, as the protocol says. In
// every case it unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES: they
// describe sockjail's descriptors and must not reach the program.
//
// It does not check the descriptors or change their flags; the caller
// decides what each must be.
func PassedFDs() (fds []int, names []string, err error) {
	pidStr, nStr, namesStr := os.Getenv(EnvListenPID), os.Getenv(EnvListenFDs), os.Getenv(EnvListenFDNames)
	os.Unsetenv(EnvListenPID)
	os.Unsetenv(EnvListenFDs)
	os.Unsetenv(EnvListenFDNames)
	if pidStr == "" && nStr == "" {
		return nil, nil, nil
	}
	if pid, err := strconv.Atoi(pidStr); err != nil || pid != os.Getpid() {
		return nil, nil, nil
	}
	n, err := strconv.Atoi(nStr)
	if err != nil || n < 0 || n > maxPassedFDs {
		return nil, nil, fmt.Errorf("%s=%q is not a count of descriptors", EnvListenFDs, nStr)
	}
	given := strings.Split(namesStr, ":")
	for i := range n {
		fds = append(fds, ListenFDsStart+i)
		name := ""
		if i < len(given) {
			name = given[i]
		}
		names = append(names, name)
	}
	return fds, names, nil
}

// adoptListenFDs moves a connection passed by the socket activation
// protocol to fd 0 and 1.
func adoptListenFDs() error {
	fds, _, err := PassedFDs()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoConnection, err)
	}
	if len(fds) == 0 {
		return nil
	}
	if len(fds) != 1 {
		return fmt.Errorf("%w: %s=%d, not the one accepted connection (Accept=yes) expected", ErrNoConnection, EnvListenFDs, len(fds))
	}
	fd := ListenFDsStart
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("%w: %s=1 but fd %d is not open: %v", ErrNoConnection, EnvListenFDs, fd, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return fmt.Errorf("%w: %s=1 but fd %d is not a socket", ErrNoConnection, EnvListenFDs, fd)
	}
	if acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err == nil && acc != 0 {
		return fmt.Errorf("%w: fd %d from %s is listening (Accept=no, or systemd-socket-activate without --accept)", ErrListening, fd, EnvListenFDs)
	}
	// dup3 without O_CLOEXEC: fds 0 and 1 are meant to reach the program.
	for _, to := range []int{0, 1} {
		if err := unix.Dup3(fd, to, 0); err != nil {
			return fmt.Errorf("moving the connection from fd %d to fd %d: %w", fd, to, err)
		}
	}
	return unix.Close(fd)
}

// newConn builds a Conn from an input and an output descriptor.
func newConn(in int, inSt *unix.Stat_t, out int, outSt *unix.Stat_t) (*Conn, error) {
	ik, err := classify(in, inSt)
	if err != nil {
		return nil, err
	}
	ok := ik
	if out != in {
		if ok, err = classify(out, outSt); err != nil {
			return nil, err
		}
	}
	c := &Conn{
		in:     endpoint{fd: in, kind: ik},
		out:    endpoint{fd: out, kind: ok},
		shared: inSt.Dev == outSt.Dev && inSt.Ino == outSt.Ino,
	}
	if ik == KindTCP {
		if sa, err := unix.Getpeername(in); err == nil {
			c.peer = addrPort(sa)
		}
		if sa, err := unix.Getsockname(in); err == nil {
			c.local = addrPort(sa)
		}
	}
	return c, nil
}

// classify tells the kind of an open descriptor.
func classify(fd int, st *unix.Stat_t) (Kind, error) {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFSOCK:
		if acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err == nil && acc != 0 {
			return 0, fmt.Errorf("%w: fd %d is listening (Accept=no), not an accepted connection (Accept=yes)", ErrListening, fd)
		}
		domain, err1 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
		typ, err2 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		proto, err3 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
		if err := errors.Join(err1, err2, err3); err != nil {
			return 0, fmt.Errorf("inspecting the socket on fd %d: %w", fd, err)
		}
		switch {
		// An MPTCP socket carries TCP semantics for the program (and
		// answers TCP_INFO and SIOCOUTQ), so it counts as TCP.
		case (domain == unix.AF_INET || domain == unix.AF_INET6) && typ == unix.SOCK_STREAM &&
			(proto == unix.IPPROTO_TCP || proto == unix.IPPROTO_MPTCP):
			return KindTCP, nil
		case domain == unix.AF_UNIX && typ == unix.SOCK_STREAM:
			return KindUnix, nil
		}
		return KindOther, nil
	case unix.S_IFIFO:
		return KindPipe, nil
	case unix.S_IFCHR:
		if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
			return KindTTY, nil
		}
	}
	return KindOther, nil
}

// addrPort converts a socket address, unmapping IPv4-mapped IPv6.
func addrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(a.Addr)
		if a.ZoneId != 0 {
			zone := strconv.Itoa(int(a.ZoneId))
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				zone = ifi.Name
			}
			ip = ip.WithZone(zone)
		}
		return unmap(netip.AddrPortFrom(ip, uint16(a.Port)))
	}
	return netip.AddrPort{}
}

// Configure sets TCP_NODELAY and TCP keepalive (SO_KEEPALIVE with the
// given idle time and probe interval, or off when keepalive is 0) on a TCP
// connection. Socket options are not file status flags, so setting them
// does not disturb the program. It does nothing for other kinds.
func (c *Conn) Configure(nodelay bool, keepalive time.Duration) error {
	if c.in.kind != KindTCP || c.closed {
		return nil
	}
	fd := c.in.fd
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, boolInt(nodelay)); err != nil {
		return fmt.Errorf("setting TCP_NODELAY: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, boolInt(keepalive > 0)); err != nil {
		return fmt.Errorf("setting SO_KEEPALIVE: %w", err)
	}
	if keepalive > 0 {
		// Like Go's net package: probe after keepalive of silence, then
		// every keepalive, with the kernel's probe count.
		secs := max(1, int(keepalive/time.Second))
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, secs); err != nil {
			return fmt.Errorf("setting TCP_KEEPIDLE: %w", err)
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, secs); err != nil {
			return fmt.Errorf("setting TCP_KEEPINTVL: %w", err)
		}
	}
	return nil
}

// Stats reports the connection's traffic from TCP_INFO. After [Conn.Close]
// it returns the last values taken before the close. Stats.Valid is false
// for kinds other than TCP.
func (c *Conn) Stats() Stats {
	if c.closed || c.in.kind != KindTCP {
		return c.last
	}
	if ti, err := unix.GetsockoptTCPInfo(c.in.fd, unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
		c.last = statsOf(ti, false)
	}
	return c.last
}

// TCP states (include/net/tcp_states.h) that tell which FINs the byte
// counters include.
const (
	tcpFinWait2  = 5
	tcpTimeWait  = 6
	tcpClose     = 7
	tcpCloseWait = 8
	tcpLastAck   = 9
	tcpClosing   = 11
)

// statsOf converts TCP_INFO to Stats. The kernel's byte counters follow
// sequence numbers, so a FIN received counts as one byte received and a
// FIN acknowledged as one byte acked; statsOf takes them out so that the
// log shows payload bytes. A socket whose close handshake finished is in
// state CLOSE, like a reset one: bothFINs says which it is.
func statsOf(ti *unix.TCPInfo, bothFINs bool) Stats {
	var peerFIN, ourFIN int64
	switch ti.State {
	case tcpCloseWait, tcpLastAck, tcpClosing:
		peerFIN = 1
	case tcpFinWait2:
		ourFIN = 1
	case tcpTimeWait:
		peerFIN, ourFIN = 1, 1
	case tcpClose:
		if bothFINs {
			peerFIN, ourFIN = 1, 1
		}
	}
	return Stats{
		Valid:         true,
		BytesReceived: max(0, int64(ti.Bytes_received)-peerFIN),
		BytesSent:     max(0, int64(ti.Bytes_acked)-ourFIN),
		SinceRecv:     time.Duration(ti.Last_data_recv) * time.Millisecond,
		SinceSent:     time.Duration(ti.Last_data_sent) * time.Millisecond,
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
