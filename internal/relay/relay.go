// Package relay runs an interactive program behind a connection: on a
// pseudo-terminal (pty mode) or on pipes, with the telnet protocol, CR/LF
// translation, an idle timeout and line-rate pacing between the two.
//
// sockjail normally gives the program the connection itself as stdin and
// stdout, with no copying. The relay exists for what that cannot do: a
// terminal (echo, line editing, line-buffered stdio, a window size), telnet
// negotiation, `\n` to `\r\n`, pacing output like a modem line, and knowing
// exactly when the client last typed. It copies through three fixed
// buffers (see [BufSize]) and stops reading a side whose destination is
// full, so a slow client slows the program down instead of growing memory,
// and a client that never reads the telnet replies it provokes stops being
// read.
//
// The relay knows nothing about sandboxes or close logic. A session uses it
// like this:
//
//	cfg := relay.Config{...}                 // use the relay if cfg.Needed()
//	r, err := relay.New(cfg, connFD, connFD) // before the sandbox applies
//	defer r.Close()                          // after Run returned
//	err = r.Negotiate(ctx)                   // telnet = "on": TERM, window size
//	in, out, errfd, ctty := r.ProgramFiles() // errfd -1: policy's stderr
//	proc := sandbox.Start(in, out, errfd, ControllingTTY: ctty, Env: env + r.Env())
//	go func() { done <- r.Run(ctx) }()
//	// proc exits → KillTree (so no grandchild keeps the pty) → <-done.
//	// Run returns ErrIdle / ErrHangup first → kill the program, then <-done.
//	// Then the shared flush-then-close on the connection.
//
// Run ends on its own once the program side hung up and its output was
// written; output the program wrote before it died is never lost to the
// KillTree, since the pty keeps it until the master reads it. The relay
// does not cover job control beyond what the pty's line discipline does,
// nor a client that reconnects.
package relay

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sockjail/sockjail/internal/telnet"
)

// Defaults and bounds.
const (
	// BufSize is the size of each of the three relay queues (client bytes
	// not yet decoded, client to program, program and telnet replies to
	// client). Memory per session is about 5*BufSize (with two scratch
	// buffers) plus the telnet state, whatever the traffic.
	BufSize = 16 << 10
	// DefaultMaxWinSize bounds the columns and rows a client can set.
	DefaultMaxWinSize = 500
	// DefaultNegotiateWait bounds how long [Relay.Negotiate] waits for the
	// client's TERMINAL-TYPE and NAWS answers.
	DefaultNegotiateWait = 500 * time.Millisecond
	// PassiveGrace is how long Negotiate waits in passive mode for a
	// client to open with telnet offers before the program starts. A raw
	// client that stays silent sees the program's first output this much
	// later; one that speaks telnet from its first packet (within this time)
	// gets TERM and its window size right from the start.
	PassiveGrace = 100 * time.Millisecond
	// DefaultIdleDrain bounds how long the relay tries to deliver pending
	// output and the idle message once the idle timeout fired.
	DefaultIdleDrain = 5 * time.Second
	// DefaultCols and DefaultRows are the window size of a pty before (or
	// without) a NAWS answer.
	DefaultCols, DefaultRows = 80, 24
	// DefaultTerm is TERM on a pty when neither the client nor the policy
	// names a terminal: the one nearly every terminal emulates.
	DefaultTerm = "vt100"
)

// ErrIdle is returned (wrapped) by [Relay.Run] when no input arrived for the
// idle timeout.
var ErrIdle = errors.New("idle timeout")

// ErrHangup is returned (wrapped) by [Relay.Run] when the connection failed
// (reset, broken pipe) while the program still ran. The session should
// close the relay, which hangs up the program's terminal (SIGHUP), as a
// modem hang-up would.
var ErrHangup = errors.New("connection hung up")

// Config says how to relay. The zero value relays nothing special; see
// [Config.Needed].
type Config struct {
	// PTY runs the program on a new pseudo-terminal, as its controlling
	// terminal, in cooked mode with echo.
	PTY bool
	// Telnet is the telnet mode spoken to the client.
	Telnet telnet.Mode
	// Rlogin speaks rlogin (RFC 1282) to the client instead: [Relay.Negotiate]
	// reads its handshake, which sets TERM and the variables of
	// [rlogin.Handshake.Env], its window-size messages resize the pty, and
	// the pty's packet mode tells it, as urgent data, when the program
	// flushes its output or takes the terminal raw. It needs PTY, and
	// Telnet off.
	Rlogin bool
	// HandshakeWait bounds the rlogin handshake in [Relay.Negotiate]; 0
	// means rlogin.HandshakeTimeout.
	HandshakeWait time.Duration
	// CRLF turns "\n" into "\r\n" in the program's output (a pty does this
	// itself, with ONLCR). A "\n" already preceded by "\r" is left alone.
	CRLF bool
	// Binary offers telnet BINARY (RFC 856) both ways at the start; only
	// with Telnet On. BINARY is accepted when the client asks, either way.
	// While the client receives binary, CRLF does not apply: the program's
	// bytes reach it unchanged, IAC doubled.
	Binary bool
	// Term is TERM when the client sends no terminal type (telnet TTYPE).
	// With a pty and no Term, DefaultTerm.
	Term string
	// LineRate paces output to the client at this many bit/s, 10 bits per
	// byte, like a modem line; 0 means unpaced.
	LineRate int
	// IdleTimeout ends the session when no byte arrived from the client
	// for this long; 0 means never. IdleMessage, if any, is sent first as
	// a line (ended with "\r\n" on a pty, with CRLF or telnet, else "\n").
	IdleTimeout time.Duration
	IdleMessage string
	// MaxWinSize bounds the columns and rows a client can set through
	// NAWS; 0 means DefaultMaxWinSize.
	MaxWinSize int
	// NegotiateWait bounds [Relay.Negotiate]; 0 means DefaultNegotiateWait.
	NegotiateWait time.Duration
	// IdleDrain bounds the delivery of the idle message; 0 means
	// DefaultIdleDrain.
	IdleDrain time.Duration
}

// Needed reports whether c asks for anything that needs the relay. When it
// does not, the program should get the connection directly.
func (c Config) Needed() bool {
	return c.PTY || c.Telnet != telnet.Off || c.Rlogin || c.CRLF || c.LineRate > 0
}

// Validate reports a configuration the relay cannot honour.
func (c Config) Validate() error {
	switch {
	case c.LineRate < 0:
		return fmt.Errorf("line rate %d bit/s: must be 0 or positive", c.LineRate)
	case c.IdleTimeout < 0:
		return fmt.Errorf("idle timeout %v: must be 0 or positive", c.IdleTimeout)
	case c.MaxWinSize < 0 || c.MaxWinSize > 0xffff:
		return fmt.Errorf("max window size %d: must be 1..65535", c.MaxWinSize)
	case c.Telnet != telnet.Off && c.Telnet != telnet.On && c.Telnet != telnet.Passive:
		return fmt.Errorf("telnet mode %v: unknown", c.Telnet)
	case c.Binary && c.Telnet != telnet.On:
		return fmt.Errorf("binary: offered only in telnet mode on, not %v (a client that asks for BINARY gets it in passive mode too)", c.Telnet)
	case c.Rlogin && (!c.PTY || c.Telnet != telnet.Off):
		return fmt.Errorf("rlogin needs a pty and telnet off")
	case c.HandshakeWait < 0:
		return fmt.Errorf("handshake wait %v: must be 0 or positive", c.HandshakeWait)
	}
	if c.Term != "" && telnet.SanitizeTerm(c.Term) != strings.ToLower(c.Term) {
		return fmt.Errorf("term %q: use letters, digits and -+._ only, at most %d", c.Term, telnet.MaxTermLen)
	}
	return nil
}
