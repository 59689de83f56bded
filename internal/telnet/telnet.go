// Package telnet implements the server side of the telnet protocol (RFC 854)
// that sockjail speaks to interactive clients: option negotiation with the
// loop-free Q method of RFC 1143, BINARY (RFC 856), ECHO (RFC 857),
// SUPPRESS-GO-AHEAD (RFC 858), TIMING-MARK (RFC 860), TERMINAL-TYPE
// (RFC 1091) and NAWS (RFC 1073). Every other option, LINEMODE (RFC 1184)
// included, is refused.
//
// A [Protocol] is a pure byte transformer: [Protocol.Decode] turns what the
// client sent into the program's input plus the replies owed to the client,
// and [Protocol.Encode] turns the program's output into NVT data. It does no
// I/O, keeps no unbounded buffers and never panics on any input, so it can be
// fuzzed directly. It does not cover login, environment options (NEW-ENVIRON
// is refused: only TERM is ever taken from the client), the SYNCH/urgent
// mechanism (DM is ignored).
//
// BINARY is per direction, as RFC 856 has it: the client's WILL BINARY
// (answered DO) makes what it sends binary, its DO BINARY (answered WILL)
// makes what the program sends binary. In a binary direction bytes pass
// unchanged except that IAC is doubled on the wire: no CR NUL, no CR LF
// mapping. That is what X/Y/ZMODEM transfers need to be 8-bit clean.
package telnet

import (
	"fmt"
	"strings"
)

// Mode says whether and how sockjail speaks telnet to the client.
type Mode int

const (
	// Off passes bytes through unchanged.
	Off Mode = iota
	// On offers options at the start (see [Protocol.Start]) and speaks
	// telnet from the first byte.
	On
	// Passive never sends negotiation unasked. The connection is treated as
	// raw until the client sends its first IAC command; from then on it is
	// telnet in both directions. A client that never sends IAC (nc, a
	// terminal server in raw mode) sees no byte it did not expect.
	Passive
)

// ParseMode parses the policy's `telnet` value: "off", "on" or "passive";
// "true" and "false" are accepted for on and off, and "" means off.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "", "off", "false":
		return Off, nil
	case "on", "true":
		return On, nil
	case "passive":
		return Passive, nil
	}
	return Off, fmt.Errorf("telnet mode %q: want \"off\", \"on\" or \"passive\"", s)
}

func (m Mode) String() string {
	switch m {
	case Off:
		return "off"
	case On:
		return "on"
	case Passive:
		return "passive"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Commands (RFC 854).
const (
	SE   = 240 // end of subnegotiation
	NOP  = 241
	DM   = 242 // data mark
	BRK  = 243 // break
	IP   = 244 // interrupt process
	AO   = 245 // abort output
	AYT  = 246 // are you there
	EC   = 247 // erase character
	EL   = 248 // erase line
	GA   = 249 // go ahead
	SB   = 250 // start of subnegotiation
	WILL = 251
	WONT = 252
	DO   = 253
	DONT = 254
	IAC  = 255
)

// Options this package knows by name.
const (
	OptBinary     = 0
	OptEcho       = 1
	OptSGA        = 3
	OptTimingMark = 6
	OptTTYPE      = 24
	OptNAWS       = 31
	OptLinemode   = 34
	OptNewEnviron = 39
)

// TERMINAL-TYPE subnegotiation codes (RFC 1091).
const (
	ttypeIS   = 0
	ttypeSEND = 1
)

// Limits on what a client can make the protocol hold.
const (
	// MaxTermLen bounds a terminal type name; longer names are cut.
	MaxTermLen = 64
	// maxSB bounds one subnegotiation's payload; a longer one is
	// discarded whole.
	maxSB = 64
)

// Control characters sent to the program for IP, BRK, EC and EL. They are
// the Linux tty defaults (VINTR, VERASE, VKILL), which the program's
// terminal has unless the program changed them.
const (
	charIntr  = 0x03 // ^C
	charErase = 0x7f // DEL
	charKill  = 0x15 // ^U
)

// ayt is the answer to ARE-YOU-THERE, as BSD telnetd sends it.
const ayt = "\r\n[Yes]\r\n"

// Config says what the server side offers and how input maps.
type Config struct {
	Mode Mode
	// Echo says that the program side echoes input (it runs on a pty in
	// cooked mode). Only then does the server offer or accept ECHO and
	// SUPPRESS-GO-AHEAD on its side, which put the client into character
	// mode; without it the client keeps its local line editing and echo.
	Echo bool
	// CRLFToLF maps CR LF from the client to LF (for a program reading a
	// pipe). Without it CR LF maps to CR, which a pty's line discipline
	// (ICRNL) turns into one newline, as BSD telnetd does. CR NUL always
	// maps to CR.
	CRLFToLF bool
	// Binary offers BINARY in both directions at the start (On mode only):
	// WILL BINARY and DO BINARY. Without it BINARY is still accepted when
	// the client asks for it.
	Binary bool
	// MaxCols and MaxRows bound the window size a client can set with NAWS;
	// larger values are clamped. Zero means 500.
	MaxCols, MaxRows int
}

// qstate is one side of one option in the Q method of RFC 1143. The queue
// bit is not needed: this server never asks to disable an option it asked
// to enable, so the queue is always empty.
type qstate uint8

const (
	qNo qstate = iota
	qYes
	qWantNo
	qWantYes
)

// parse states of the input decoder
type pstate uint8

const (
	psData   pstate = iota
	psCR            // after CR in data
	psIAC           // after IAC
	psOpt           // after IAC WILL/WONT/DO/DONT, waiting for the option
	psSB            // after IAC SB, waiting for the option
	psSBData        // inside a subnegotiation
	psSBIAC         // IAC inside a subnegotiation
)

// Protocol is the telnet state of one connection. The zero value is not
// usable; call [New].
type Protocol struct {
	cfg    Config
	active bool // speaking telnet (always in On; after the first IAC in Passive)

	st    pstate
	verb  byte // WILL/WONT/DO/DONT being parsed
	sbOpt byte
	sbLen int
	sbBad bool // payload exceeded maxSB, discard
	sb    [maxSB]byte

	us, him [256]qstate

	outCR bool // Encode's last byte was CR

	term        string
	termDone    bool // a TTYPE IS arrived (or TTYPE was refused)
	cols, rows  int
	winPending  bool // a NAWS value not yet taken
	winReceived bool
}

// New returns the protocol state for one connection.
func New(cfg Config) *Protocol {
	if cfg.MaxCols <= 0 {
		cfg.MaxCols = 500
	}
	if cfg.MaxRows <= 0 {
		cfg.MaxRows = 500
	}
	return &Protocol{cfg: cfg, active: cfg.Mode == On}
}

// Active reports whether the connection is speaking telnet: always in On
// mode, after the client's first IAC in Passive mode, never in Off mode.
func (p *Protocol) Active() bool { return p.active }

// Start appends the server's opening offers to reply: in On mode WILL ECHO
// and WILL SUPPRESS-GO-AHEAD (only with Config.Echo), WILL BINARY and DO
// BINARY (only with Config.Binary), DO NAWS and DO TERMINAL-TYPE. In Off
// and Passive mode it appends nothing.
func (p *Protocol) Start(reply []byte) []byte {
	if p.cfg.Mode != On {
		return reply
	}
	if p.cfg.Echo {
		reply = p.askUs(reply, OptEcho)
		reply = p.askUs(reply, OptSGA)
	}
	if p.cfg.Binary {
		reply = p.askUs(reply, OptBinary)
		reply = p.askHim(reply, OptBinary)
	}
	reply = p.askHim(reply, OptNAWS)
	reply = p.askHim(reply, OptTTYPE)
	return reply
}

// Settled reports whether the answers that [Protocol.Start] asked for have
// all arrived: TERMINAL-TYPE refused or a name received, NAWS refused or a
// size received, and BINARY, if offered, answered both ways. The relay
// waits for this, briefly, before the program starts so that TERM and the
// window size are known, and so that the program's first bytes already go
// the way the client agreed to (a ZMODEM header sent as NVT would reach
// the client with a NUL after its CR).
func (p *Protocol) Settled() bool {
	ttype := p.him[OptTTYPE] == qNo || p.termDone
	naws := p.him[OptNAWS] == qNo || p.winReceived
	binary := p.us[OptBinary] != qWantYes && p.him[OptBinary] != qWantYes
	return ttype && naws && binary
}

// BinaryIn reports whether the client sends binary (it said WILL BINARY
// and the server agreed): its bytes reach the program unchanged, IAC IAC
// aside.
func (p *Protocol) BinaryIn() bool { return p.him[OptBinary] == qYes }

// BinaryOut reports whether the server sends binary (the client said DO
// BINARY): the program's bytes reach the client unchanged, IAC doubled.
// A caller that maps line ends in the program's output (the relay's crlf)
// stops doing so while it is on.
func (p *Protocol) BinaryOut() bool { return p.us[OptBinary] == qYes }

// Term returns the terminal type the client sent, sanitized and lowercased,
// or "" when none arrived.
func (p *Protocol) Term() string { return p.term }

// WindowSize returns the last window size the client sent with NAWS, each
// dimension clamped to 1..Max, and whether it changed since the last call.
// cols and rows are 0 when none arrived.
func (p *Protocol) WindowSize() (cols, rows int, changed bool) {
	changed = p.winPending
	p.winPending = false
	return p.cols, p.rows, changed
}

func (p *Protocol) askUs(reply []byte, opt byte) []byte {
	if p.us[opt] == qNo {
		p.us[opt] = qWantYes
		reply = append(reply, IAC, WILL, opt)
	}
	return reply
}

func (p *Protocol) askHim(reply []byte, opt byte) []byte {
	if p.him[opt] == qNo {
		p.him[opt] = qWantYes
		reply = append(reply, IAC, DO, opt)
	}
	return reply
}

// usOK reports whether this server agrees to perform opt.
func (p *Protocol) usOK(opt byte) bool {
	switch opt {
	case OptEcho, OptSGA:
		// Echo comes from the pty; without one, claiming ECHO would leave
		// the user typing blind. SGA without ECHO would put the client
		// into character mode with nobody echoing.
		return p.cfg.Echo
	case OptBinary:
		return true
	}
	return false
}

// himOK reports whether this server agrees that the client performs opt.
func (p *Protocol) himOK(opt byte) bool {
	switch opt {
	case OptNAWS, OptTTYPE, OptSGA, OptBinary:
		return true
	}
	return false
}

// Bounds on what one byte of input or output can make the protocol produce.
// They hold whatever state the protocol is in, so a caller that keeps this
// much room free before each byte can never overflow a fixed buffer; the
// fuzz targets check them byte by byte.
const (
	// MaxDataPerByte bounds the program input one client byte yields: the
	// byte itself plus a CR held back from before it (Config.CRLFToLF).
	MaxDataPerByte = 2
	// MaxReplyPerByte bounds the replies one client byte yields: the AYT
	// answer (its IAC may have ended the previous read, or a broken
	// subnegotiation), or DO TERMINAL-TYPE followed by SB TERMINAL-TYPE
	// SEND for the option byte of a WILL. Both are 9 bytes. (The option
	// byte of DO BINARY yields at most 4: a NUL owed for a CR, then WILL.)
	MaxReplyPerByte = max(len(ayt), 3+6)
	// MaxEncodePerByte bounds the NVT bytes one output byte yields: a NUL
	// owed for an earlier CR, then IAC IAC.
	MaxEncodePerByte = 3
)

// Decode consumes src, the bytes the client sent, and appends the
// program's input to data and the replies owed to the client to reply.
// It never appends more than len(src)+1 bytes to data (the +1 is a CR
// held back from the previous call with Config.CRLFToLF). Out of Off mode, IAC
// IAC becomes one 0xFF, every other command and all negotiation is
// removed, CR NUL becomes CR, and CR LF becomes CR (or LF with
// Config.CRLFToLF), except while the client sends binary, when CR is data
// like any other byte. IP and BRK become ^C, EC DEL and EL ^U; AYT is
// answered; NOP, DM, GA and AO are dropped.
//
// Decode grows data and reply as needed; a caller with fixed buffers uses
// [Protocol.DecodeInto].
func (p *Protocol) Decode(data, reply, src []byte) ([]byte, []byte) {
	for _, c := range src {
		data, reply = p.decodeByte(data, reply, c)
	}
	return data, reply
}

// DecodeInto is Decode into fixed buffers: it consumes bytes of src only
// while data has room (cap minus len) for MaxDataPerByte more bytes and,
// out of Off mode, reply has room for MaxReplyPerByte more, so it never
// reallocates either. It returns how many bytes of src it consumed; the
// caller keeps the rest and offers them again once it has drained data or
// reply. The protocol state only ever reflects the consumed bytes, so no
// input and no reply is lost when the room runs short.
func (p *Protocol) DecodeInto(data, reply, src []byte) ([]byte, []byte, int) {
	replyRoom := MaxReplyPerByte
	if p.cfg.Mode == Off {
		replyRoom = 0 // Off never replies
	}
	n := 0
	for _, c := range src {
		if cap(data)-len(data) < MaxDataPerByte || cap(reply)-len(reply) < replyRoom {
			break
		}
		data, reply = p.decodeByte(data, reply, c)
		n++
	}
	return data, reply, n
}

// decodeByte decodes one client byte; it appends at most MaxDataPerByte
// bytes to data and MaxReplyPerByte to reply.
func (p *Protocol) decodeByte(data, reply []byte, c byte) ([]byte, []byte) {
	if p.cfg.Mode == Off {
		return append(data, c), reply
	}
	switch p.st {
	case psCR:
		p.st = psData
		if p.cfg.CRLFToLF {
			// The CR was held back: it becomes LF before LF, CR
			// before NUL, and itself before anything else.
			if c == '\n' {
				return append(data, '\n'), reply
			}
			data = append(data, '\r')
		}
		if c == 0 || c == '\n' {
			return data, reply // the CR already stands for the pair
		}
		return p.decodeData(data, c), reply
	case psData:
		return p.decodeData(data, c), reply
	case psIAC:
		p.active = true
		p.st = psData
		switch c {
		case IAC:
			data = append(data, IAC)
		case WILL, WONT, DO, DONT:
			p.verb = c
			p.st = psOpt
		case SB:
			p.st = psSB
		case IP, BRK:
			data = append(data, charIntr)
		case EC:
			data = append(data, charErase)
		case EL:
			data = append(data, charKill)
		case AYT:
			reply = append(reply, ayt...)
		}
		// NOP, DM, GA, AO, SE out of place and unknown commands: dropped.
	case psOpt:
		p.st = psData
		reply = p.negotiate(reply, p.verb, c)
	case psSB:
		p.sbOpt, p.sbLen, p.sbBad = c, 0, false
		p.st = psSBData
	case psSBData:
		if c == IAC {
			p.st = psSBIAC
			return data, reply
		}
		p.sbByte(c)
	case psSBIAC:
		switch c {
		case SE:
			p.st = psData
			reply = p.subnegotiation(reply)
		case IAC:
			p.st = psSBData
			p.sbByte(IAC)
		default:
			// IAC followed by anything else ends a broken
			// subnegotiation (RFC 854 leaves this undefined; BSD
			// telnetd does the same): drop it and read the command.
			p.st = psIAC
			return p.decodeByte(data, reply, c)
		}
	}
	return data, reply
}

// decodeData handles one byte in the data state. A CR that starts an NVT
// pair (psCR) is always resolved by the next byte, and BINARY changes only
// through an IAC, which is that next byte at the earliest: so the pair is
// never split across a change of mode.
func (p *Protocol) decodeData(data []byte, c byte) []byte {
	switch {
	case c == IAC:
		p.st = psIAC
	case p.BinaryIn():
		data = append(data, c)
	case c == '\r':
		// For a pty the CR goes on at once, so that a client
		// that sends a bare CR is not kept waiting.
		if !p.cfg.CRLFToLF {
			data = append(data, c)
		}
		p.st = psCR
	default:
		data = append(data, c)
	}
	return data
}

func (p *Protocol) sbByte(c byte) {
	if p.sbLen == len(p.sb) {
		p.sbBad = true
		return
	}
	p.sb[p.sbLen] = c
	p.sbLen++
}

// subnegotiation acts on a complete IAC SB ... IAC SE.
func (p *Protocol) subnegotiation(reply []byte) []byte {
	if p.sbBad {
		return reply
	}
	b := p.sb[:p.sbLen]
	switch p.sbOpt {
	case OptNAWS:
		if p.him[OptNAWS] != qYes || len(b) != 4 {
			return reply
		}
		cols := int(b[0])<<8 | int(b[1])
		rows := int(b[2])<<8 | int(b[3])
		// 0 means "unknown" (RFC 1073): keep the previous value.
		if cols == 0 {
			cols = p.cols
		}
		if rows == 0 {
			rows = p.rows
		}
		cols, rows = min(cols, p.cfg.MaxCols), min(rows, p.cfg.MaxRows)
		if cols == 0 || rows == 0 {
			return reply
		}
		p.winReceived = true
		if cols != p.cols || rows != p.rows {
			p.cols, p.rows, p.winPending = cols, rows, true
		}
	case OptTTYPE:
		if p.him[OptTTYPE] != qYes || len(b) < 1 || b[0] != ttypeIS || p.termDone {
			return reply
		}
		p.term = SanitizeTerm(string(b[1:]))
		p.termDone = true
	}
	return reply
}

// SanitizeTerm returns name lowercased, with every byte outside
// [A-Za-z0-9._+-] removed, cut to MaxTermLen. It is the only value sockjail
// takes from a client into the program's environment.
func SanitizeTerm(name string) string {
	var b strings.Builder
	for i := 0; i < len(name) && b.Len() < MaxTermLen; i++ {
		c := name[i]
		switch {
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '_', c == '+', c == '-':
			b.WriteByte(c)
		}
	}
	return b.String()
}

// negotiate applies one WILL/WONT/DO/DONT from the client (RFC 1143).
func (p *Protocol) negotiate(reply []byte, verb, opt byte) []byte {
	switch verb {
	case WILL:
		switch p.him[opt] {
		case qNo:
			if p.himOK(opt) {
				p.him[opt] = qYes
				reply = append(reply, IAC, DO, opt)
				reply = p.himEnabled(reply, opt)
			} else {
				reply = append(reply, IAC, DONT, opt)
			}
		case qYes:
			// already on: no reply, or we would loop
		case qWantNo:
			p.him[opt] = qNo // DONT answered by WILL: an error, give up
		case qWantYes:
			p.him[opt] = qYes
			reply = p.himEnabled(reply, opt)
		}
	case WONT:
		switch p.him[opt] {
		case qYes:
			p.him[opt] = qNo
			reply = append(reply, IAC, DONT, opt)
		case qWantNo, qWantYes:
			p.him[opt] = qNo
		}
	case DO:
		if opt == OptTimingMark {
			// RFC 860: answer WILL each time, after the data before it
			// (the caller sends replies in order with the data it
			// relays), and stay in the off state.
			return append(reply, IAC, WILL, opt)
		}
		switch p.us[opt] {
		case qNo:
			if p.usOK(opt) {
				reply = p.usEnabling(reply, opt)
				p.us[opt] = qYes
				reply = append(reply, IAC, WILL, opt)
			} else {
				reply = append(reply, IAC, WONT, opt)
			}
		case qWantNo:
			p.us[opt] = qNo
		case qWantYes:
			reply = p.usEnabling(reply, opt)
			p.us[opt] = qYes
		}
	case DONT:
		switch p.us[opt] {
		case qYes:
			p.us[opt] = qNo
			reply = append(reply, IAC, WONT, opt)
		case qWantNo, qWantYes:
			p.us[opt] = qNo
		}
	}
	return reply
}

// usEnabling acts on an option this server is about to perform, before
// the WILL that confirms it: output that switches to BINARY first ends the
// NVT pair of a CR it already sent, with the NUL it owes, so that the CR
// is not left open across the switch.
func (p *Protocol) usEnabling(reply []byte, opt byte) []byte {
	if opt == OptBinary && p.outCR {
		p.outCR = false
		reply = append(reply, 0)
	}
	return reply
}

// himEnabled acts on an option the client just agreed to perform.
func (p *Protocol) himEnabled(reply []byte, opt byte) []byte {
	if opt == OptTTYPE && !p.termDone {
		reply = append(reply, IAC, SB, OptTTYPE, ttypeSEND, IAC, SE)
	}
	return reply
}

// Encode appends src, the program's output, to dst as NVT data: while the
// protocol is active, 0xFF is doubled and a CR not followed by LF is sent
// as CR NUL (RFC 854); while the client agreed to binary output, only 0xFF
// is doubled. Encode never appends more than 2*len(src)+1 bytes.
func (p *Protocol) Encode(dst, src []byte) []byte {
	if !p.active {
		return append(dst, src...)
	}
	if p.BinaryOut() {
		for _, c := range src {
			if c == IAC {
				dst = append(dst, IAC)
			}
			dst = append(dst, c)
		}
		return dst
	}
	for _, c := range src {
		if p.outCR {
			p.outCR = false
			if c != '\n' {
				dst = append(dst, 0)
			}
		}
		switch c {
		case IAC:
			dst = append(dst, IAC, IAC)
		case '\r':
			dst = append(dst, c)
			p.outCR = true
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// Flush appends what Encode still owes for a trailing CR (its NUL) to dst.
// Call it when the program's output has ended.
func (p *Protocol) Flush(dst []byte) []byte {
	if p.outCR {
		p.outCR = false
		dst = append(dst, 0)
	}
	return dst
}
