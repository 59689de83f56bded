// Package conn holds one client connection of sockjail: it finds the
// connection on the file descriptors sockjail was started with (or wraps a
// socket that sockjail accepted itself), describes the peer to the served
// program through environment variables, and closes the connection after the
// program ends with a delayed flush-then-close that does not lose the
// client's data to a TCP reset.
//
// A Conn never changes the file status flags (O_NONBLOCK) of the
// descriptors it hands to the program, because the program shares their
// open file description: every non-blocking read uses MSG_DONTWAIT on
// sockets, or a separate open file description of the same pipe or tty.
//
// The package does not start, wait for or confine the program (see
// internal/session and package sandbox), and it does not parse the PROXY
// protocol (see internal/proxyproto; its result is given to [Conn.SetPeer]).
package conn

import (
	"errors"
	"net/netip"
	"strconv"
	"time"
)

// Kind says what sort of file the connection is.
type Kind int

const (
	// KindOther is anything that is none of the kinds below: a regular
	// file, /dev/null, a datagram socket. sockjail runs the program on it
	// but has no peer to describe and nothing to flush.
	KindOther Kind = iota
	// KindTCP is a connected TCP socket over IPv4 or IPv6 (systemd
	// Accept=yes, inetd, systemd-socket-activate, socat nofork, serve).
	KindTCP
	// KindUnix is a connected AF_UNIX stream socket, typically the
	// socketpair socat's EXEC: address gives its child.
	KindUnix
	// KindPipe is a pipe or FIFO (socat's pipes option).
	KindPipe
	// KindTTY is a terminal (socat's pty option, a serial line).
	KindTTY
)

var kindNames = [...]string{
	KindOther: "other",
	KindTCP:   "tcp",
	KindUnix:  "unix",
	KindPipe:  "pipe",
	KindTTY:   "tty",
}

// String returns the kind's name as it appears in logs: "tcp", "unix",
// "pipe", "tty" or "other".
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Errors returned by [FromStdio] and [FromFD]. The caller tells them apart
// with errors.Is; sockjail run exits with exitcode.NoConnection for both.
var (
	// ErrNoConnection: fd 0 is closed, or the descriptor given is not
	// open.
	ErrNoConnection = errors.New("no connection")
	// ErrListening: the descriptor is a listening socket, the shape of a
	// systemd socket unit with Accept=no, which is sockjail serve's job.
	ErrListening = errors.New("a listening socket, not a connection")
)

// Environment variables that describe the peer to the program, and those
// of the systemd socket activation protocol that sockjail consumes.
const (
	// EnvRemoteAddr and EnvRemotePort are what systemd sets for Accept=yes
	// services.
	EnvRemoteAddr = "REMOTE_ADDR"
	EnvRemotePort = "REMOTE_PORT"
	// The UCSPI (tcpserver) variables.
	EnvProto         = "PROTO"
	EnvTCPRemoteIP   = "TCPREMOTEIP"
	EnvTCPRemotePort = "TCPREMOTEPORT"
	EnvTCPLocalIP    = "TCPLOCALIP"
	EnvTCPLocalPort  = "TCPLOCALPORT"

	// socat sets these for an EXEC: child, whose stdin is then a
	// socketpair, pipe or pty that has no IP address of its own.
	EnvSocatPeerAddr = "SOCAT_PEERADDR"
	EnvSocatPeerPort = "SOCAT_PEERPORT"
	EnvSocatSockAddr = "SOCAT_SOCKADDR"
	EnvSocatSockPort = "SOCAT_SOCKPORT"

	// The socket activation protocol (sd_listen_fds(3)).
	EnvListenPID     = "LISTEN_PID"
	EnvListenFDs     = "LISTEN_FDS"
	EnvListenFDNames = "LISTEN_FDNAMES"
)

// ListenFDsStart is the first descriptor of the socket activation protocol.
const ListenFDsStart = 3

// Stats is what the kernel reports about a TCP connection's traffic. For
// other kinds, Valid is false and the other fields are zero.
type Stats struct {
	Valid bool
	// BytesReceived is tcpi_bytes_received: payload bytes the peer sent
	// that the kernel accepted (read by the program or still queued).
	BytesReceived int64
	// BytesSent is tcpi_bytes_acked: payload bytes the peer acknowledged.
	BytesSent int64
	// SinceRecv and SinceSent are tcpi_last_data_recv and
	// tcpi_last_data_sent: how long ago data last went in each direction
	// (millisecond resolution), the measure of idle_timeout.
	SinceRecv time.Duration
	SinceSent time.Duration
}

// CloseOptions bound the phases of [Conn.Close]. A zero duration skips its
// phase: a zero FlushTimeout does not wait for acknowledgements, a zero
// LingerIdle or LingerMax shuts down without lingering. The policy's
// [connection] table supplies the values (defaults 30s, 0s, 2s and 30s).
type CloseOptions struct {
	// FlushTimeout bounds the wait for the peer to acknowledge everything
	// sent.
	FlushTimeout time.Duration
	// CloseDelay is waited after the flush, before FIN, for a terminal
	// server that still holds acknowledged bytes in a slow line's buffer.
	CloseDelay time.Duration
	// LingerIdle ends the linger after this long without input.
	LingerIdle time.Duration
	// LingerMax bounds the whole linger.
	LingerMax time.Duration
}

// How a close ended, as [CloseResult.Reason] reports it and the log line
// shows it.
const (
	// ReasonPeerClosed: the peer closed its side (EOF), so nothing more
	// was worth waiting for.
	ReasonPeerClosed = "peer-closed"
	// ReasonLingerIdle: FIN was sent and the peer stayed silent for
	// LingerIdle without closing.
	ReasonLingerIdle = "linger-idle"
	// ReasonLingerMax: FIN was sent and the peer kept sending until
	// LingerMax.
	ReasonLingerMax = "linger-max"
	// ReasonFlushTimeout: the peer had not acknowledged everything after
	// FlushTimeout (a client that stopped reading). The kernel still
	// sends what is queued after the close.
	ReasonFlushTimeout = "flush-timeout"
	// ReasonReset: the peer reset the connection.
	ReasonReset = "reset"
	// ReasonAborted: the caller's context was cancelled (a second
	// SIGTERM) and the close was cut short.
	ReasonAborted = "aborted"
	// ReasonClosed: closed without waiting for the peer: a tty after
	// tcdrain, a file, or lingering was disabled.
	ReasonClosed = "closed"
	// ReasonError: a system call failed unexpectedly; see CloseResult.Err.
	ReasonError = "error"
)

// CloseResult tells how [Conn.Close] went, for the connection's log line.
type CloseResult struct {
	// Reason is one of the Reason constants.
	Reason string
	// Drained counts input bytes read and discarded during the close.
	Drained int64
	// Unacked is what the kernel still held unacknowledged (SIOCOUTQ)
	// when the flush stopped; non-zero after a flush-timeout.
	Unacked int
	// FlushWait is the time spent waiting for acknowledgements; Total is
	// the whole close.
	FlushWait, Total time.Duration
	// Stats is the connection's last TCP_INFO, taken just before the
	// descriptors were closed.
	Stats Stats
	// Err is set when a system call failed unexpectedly. The descriptors
	// are closed regardless.
	Err error
}

// Conn is one client connection. Create it with [FromStdio] or [FromFD];
// it owns its descriptors until [Conn.Close].
type Conn struct {
	in, out endpoint
	// shared: in and out are the same socket (one open file description
	// or two descriptors of it), so the flush and the drain act on one
	// socket.
	shared bool
	// stdio: the descriptors are sockjail's own 0 and 1. Close points
	// them at /dev/null rather than leaving the numbers free for the next
	// open to take.
	stdio       bool
	peer, local netip.AddrPort
	last        Stats
	closed      bool
}

// endpoint is one descriptor of the connection.
type endpoint struct {
	fd   int
	kind Kind
}

// Peer returns the peer's address: from getpeername for TCP, from what the
// launcher said (REMOTE_ADDR, or socat's SOCAT_PEERADDR) for a socketpair,
// pipe or tty handed over by [FromStdio], or from [Conn.SetPeer]. It is the
// zero AddrPort when unknown. IPv4-mapped IPv6 addresses are unmapped, so
// that an IPv4 CIDR rule matches them.
func (c *Conn) Peer() netip.AddrPort { return c.peer }

// Local returns the local address the peer connected to, like [Conn.Peer].
func (c *Conn) Local() netip.AddrPort { return c.local }

// SetPeer replaces the peer address, for a PROXY protocol header that names
// the real client. The environment and logs then use it.
func (c *Conn) SetPeer(p netip.AddrPort) { c.peer = unmap(p) }

// SetLocal replaces the local address, for a PROXY protocol header that
// names the address the client connected to.
func (c *Conn) SetLocal(p netip.AddrPort) { c.local = unmap(p) }

// Kind returns the kind of the connection's input descriptor.
func (c *Conn) Kind() Kind { return c.in.kind }

// InFD returns the descriptor the program gets as its standard input.
// It stays owned by the Conn: do not close it.
func (c *Conn) InFD() int { return c.in.fd }

// OutFD returns the descriptor the program gets as its standard output.
// It is InFD for a socket handed over as fd 0 and 1 alike.
func (c *Conn) OutFD() int { return c.out.fd }

// Env returns the variables that describe the connection to the program:
// REMOTE_ADDR and REMOTE_PORT as systemd sets them, and the UCSPI variables
// PROTO=TCP, TCPREMOTEIP, TCPREMOTEPORT, TCPLOCALIP and TCPLOCALPORT.
// Addresses are written without brackets, IPv4-mapped IPv6 as dotted IPv4.
// It returns nil when the peer is not known (an AF_UNIX socket, pipe or tty
// without a launcher's hint). It does not include socat's own variables or
// anything else from sockjail's environment.
func (c *Conn) Env() []string {
	if !c.peer.IsValid() {
		return nil
	}
	ip, port := c.peer.Addr().String(), strconv.Itoa(int(c.peer.Port()))
	env := []string{
		EnvRemoteAddr + "=" + ip,
		EnvRemotePort + "=" + port,
		EnvProto + "=TCP",
		EnvTCPRemoteIP + "=" + ip,
		EnvTCPRemotePort + "=" + port,
	}
	if c.local.IsValid() {
		env = append(env,
			EnvTCPLocalIP+"="+c.local.Addr().String(),
			EnvTCPLocalPort+"="+strconv.Itoa(int(c.local.Port())),
		)
	}
	return env
}

// unmap writes an IPv4-mapped IPv6 address as the IPv4 address it is.
func unmap(p netip.AddrPort) netip.AddrPort {
	if !p.IsValid() {
		return p
	}
	return netip.AddrPortFrom(p.Addr().Unmap(), p.Port())
}

// parseAddrPort reads an address and a port given separately in the
// environment, as launchers write them. It returns the zero AddrPort when
// either is missing or malformed.
func parseAddrPort(addr, port string) netip.AddrPort {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.AddrPort{}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}
	}
	return unmap(netip.AddrPortFrom(a, uint16(p)))
}
