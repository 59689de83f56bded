// Package rlogin speaks the server side of the rlogin protocol (RFC 1282)
// as door-game and terminal servers use it: the client's handshake, the
// window-size messages in its data, and the control bytes the server sends
// it as TCP urgent data.
//
// A connection starts with the client's handshake,
//
//	\0 client-user \0 server-user \0 terminal-type/speed \0
//
// which the server answers with one \0. After that both directions carry
// the terminal's bytes unchanged, with two exceptions. Once the server has
// sent the urgent byte [ControlWindow], the client sends its window size
// in-band, as 0xff 0xff 's' 's' and four 16-bit big-endian numbers (rows,
// columns, x and y pixels), and again whenever it changes. And the server
// tells the client, as urgent data, when the program flushed its output
// ([ControlFlushWrite]) and whether the client should handle ^S/^Q itself
// ([ControlNoStop], [ControlDoStop]).
//
// The package decodes and bounds; it does no I/O. What is NOT covered: the
// user names are never checked or trusted (no .rhosts, no privileged-port
// test): they are text the client chose, for the program to read. The
// client's own escape commands (~.) are local to it, and RFC 1282 has no
// urgent data from client to server.
package rlogin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Bounds of the handshake.
const (
	// MaxUserLen bounds each user name, like the BSD and inetutils
	// servers' 16 to 64 bytes; longer is a refused handshake.
	MaxUserLen = 64
	// MaxTermSpeedLen bounds "terminal-type/speed" (a 64-byte type, "/"
	// and the speed's digits).
	MaxTermSpeedLen = 80
	// MaxHandshakeLen is the most bytes a handshake can take.
	MaxHandshakeLen = 1 + 2*(MaxUserLen+1) + MaxTermSpeedLen + 1
	// HandshakeTimeout is how long a client has to complete its
	// handshake. Clients send it in their first packet; one that hasn't
	// by then is refused before the program starts.
	HandshakeTimeout = 10 * time.Second
	// MaxTermLen bounds a terminal type that is passed on as TERM.
	MaxTermLen = 64
	// MaxSpeedDigits bounds a speed that is passed on.
	MaxSpeedDigits = 10
)

// Control bytes the server sends the client as urgent data (RFC 1282;
// the values of the pty's TIOCPKT_* status bits).
const (
	ControlFlushWrite byte = 0x02 // discard the output received up to the urgent mark
	ControlNoStop     byte = 0x10 // the terminal is raw: pass ^S/^Q to the server
	ControlDoStop     byte = 0x20 // handle ^S/^Q locally again
	ControlWindow     byte = 0x80 // send the window size, now and when it changes
)

// ErrHandshake is returned (wrapped) for a handshake that breaks the
// protocol or its bounds.
var ErrHandshake = errors.New("bad rlogin handshake")

// Handshake is what a client said in its handshake. Every field is as the
// client sent it, within the bounds; use [Handshake.TermType] and
// [Handshake.SpeedValue] for the values that are safe to pass on.
type Handshake struct {
	ClientUser string // the user on the client's host
	ServerUser string // the user the client asks to be on the server
	TermSpeed  string // "terminal-type/speed", such as "xterm/38400"
}

// TermType returns the terminal type, if it is a plausible one: 1 to
// MaxTermLen letters, digits and "+._-", starting with a letter or a digit,
// as [terminal] term is checked. Otherwise it returns "", and the caller
// falls back to the policy's term.
func (h Handshake) TermType() string {
	term, _, _ := strings.Cut(h.TermSpeed, "/")
	if !validTerm(term) {
		return ""
	}
	return term
}

// SpeedValue returns the line speed in bit/s the client gave after the
// "/", or "" when there is none or it is not 1 to MaxSpeedDigits digits.
func (h Handshake) SpeedValue() string {
	_, speed, ok := strings.Cut(h.TermSpeed, "/")
	if !ok || speed == "" || len(speed) > MaxSpeedDigits {
		return ""
	}
	for i := 0; i < len(speed); i++ {
		if speed[i] < '0' || speed[i] > '9' {
			return ""
		}
	}
	return speed
}

// PrintableUser returns name if it is printable ASCII (space to ~), the
// only user names passed to a program, and "" otherwise: a name is free
// text from the client, and control bytes in an environment variable
// reach whatever logs or displays it.
func PrintableUser(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] > 0x7e {
			return ""
		}
	}
	return name
}

func validTerm(s string) bool {
	if s == "" || len(s) > MaxTermLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && !(i > 0 && (c == '+' || c == '.' || c == '_' || c == '-')) {
			return false
		}
	}
	return true
}

// HandshakeReader reads a handshake as it arrives, in pieces of any size.
// Its memory is fixed: MaxHandshakeLen bytes at most are kept.
type HandshakeReader struct {
	field int // 0: the leading \0; 1, 2, 3: the three strings; 4: done
	buf   [MaxHandshakeLen]byte
	n     int    // bytes of the current string in buf[start:]
	start int    // where the current string starts in buf
	ends  [3]int // where each finished string ends in buf
	err   error
}

// Feed consumes the handshake's bytes from p. It returns how many bytes of
// p belong to the handshake, and whether it is complete; the bytes after
// it are the client's first data. An error wrapping ErrHandshake reports
// a handshake that can't be one, and sticks.
func (r *HandshakeReader) Feed(p []byte) (consumed int, done bool, err error) {
	for consumed < len(p) {
		if r.err != nil || r.field == 4 {
			break
		}
		c := p[consumed]
		consumed++
		if r.field == 0 {
			if c != 0 {
				r.err = fmt.Errorf("%w: the first byte is 0x%02x, not NUL (is the client speaking rlogin?)", ErrHandshake, c)
				break
			}
			r.field = 1
			continue
		}
		if c == 0 {
			r.ends[r.field-1] = r.start + r.n
			r.start += r.n
			r.n = 0
			r.field++
			continue
		}
		limit := MaxUserLen
		name := [...]string{"client user name", "server user name", "terminal type and speed"}[r.field-1]
		if r.field == 3 {
			limit = MaxTermSpeedLen
		}
		if r.n >= limit {
			r.err = fmt.Errorf("%w: the %s is longer than %d bytes", ErrHandshake, name, limit)
			break
		}
		r.buf[r.start+r.n] = c
		r.n++
	}
	return consumed, r.field == 4, r.err
}

// Len returns how many bytes of the handshake were read.
func (r *HandshakeReader) Len() int {
	if r.field == 0 {
		return 0
	}
	return 1 + r.start + r.n + min(r.field-1, 3)
}

// Done reports whether the handshake is complete.
func (r *HandshakeReader) Done() bool { return r.field == 4 }

// Handshake returns what the client sent; it is complete once Done.
func (r *HandshakeReader) Handshake() Handshake {
	if r.field != 4 {
		return Handshake{}
	}
	return Handshake{
		ClientUser: string(r.buf[:r.ends[0]]),
		ServerUser: string(r.buf[r.ends[0]:r.ends[1]]),
		TermSpeed:  string(r.buf[r.ends[1]:r.ends[2]]),
	}
}

// The window-size message: the magic cookie, then rows, columns, x pixels
// and y pixels, each 16 bits big-endian.
var magic = [4]byte{0xff, 0xff, 's', 's'}

const windowMsgLen = len(magic) + 8

// MaxDataPerByte is the most data bytes one client byte can yield: a byte
// that breaks a half-seen cookie releases the cookie's bytes held so far.
const MaxDataPerByte = len(magic)

// Decoder takes window-size messages out of the client's data. Its zero
// value is not usable; make it with NewDecoder.
type Decoder struct {
	held    [windowMsgLen]byte // a message, or the start of one, not yet decided
	n       int
	maxWin  int
	cols    int
	rows    int
	changed bool
}

// NewDecoder returns a decoder that bounds the columns and rows a client
// can set to maxWin (a larger value is cut to it).
func NewDecoder(maxWin int) *Decoder {
	return &Decoder{maxWin: maxWin}
}

// DecodeInto appends the data in src to data, as far as data's capacity
// has room for MaxDataPerByte more bytes before each byte, and returns it
// with how many bytes of src were consumed. Window-size messages are taken
// out: [Decoder.WindowSize] reports the last one. A message may be split
// across calls.
func (d *Decoder) DecodeInto(data, src []byte) ([]byte, int) {
	n := 0
	for _, c := range src {
		if cap(data)-len(data) < MaxDataPerByte {
			break
		}
		data = d.decodeByte(data, c)
		n++
	}
	return data, n
}

func (d *Decoder) decodeByte(data []byte, c byte) []byte {
	if d.n >= len(magic) {
		// Inside a message: 8 bytes of sizes, whatever they are.
		d.held[d.n] = c
		d.n++
		if d.n == windowMsgLen {
			d.setWindow(d.held[len(magic):])
			d.n = 0
		}
		return data
	}
	if c == magic[d.n] {
		d.held[d.n] = c
		d.n++
		return data
	}
	if d.n == 0 {
		return append(data, c)
	}
	// A partial cookie that didn't go on. Its bytes were data after all,
	// except that a held 0xff 0xff followed by 0xff is still a cookie's
	// start: emit one 0xff and keep two.
	if c == 0xff && d.n == 2 {
		return append(data, 0xff)
	}
	data = append(data, d.held[:d.n]...)
	d.n = 0
	if c == magic[0] {
		d.held[0] = c
		d.n = 1
		return data
	}
	return append(data, c)
}

func (d *Decoder) setWindow(p []byte) {
	rows := int(binary.BigEndian.Uint16(p[0:2]))
	cols := int(binary.BigEndian.Uint16(p[2:4]))
	if rows == 0 || cols == 0 {
		return // "unknown", as a terminal that has no size says
	}
	d.rows, d.cols = min(rows, d.maxWin), min(cols, d.maxWin)
	d.changed = true
}

// WindowSize returns the last window size the client sent (0, 0 before
// any), and whether it arrived since the last call.
func (d *Decoder) WindowSize() (cols, rows int, changed bool) {
	changed, d.changed = d.changed, false
	return d.cols, d.rows, changed
}

// Env returns the program's variables from a handshake: TERM (when its
// terminal type is valid; fallback otherwise, if not ""),
// SOCKJAIL_RLOGIN_USER and SOCKJAIL_RLOGIN_SERVER_USER (when printable),
// and SOCKJAIL_TERM_SPEED (when a number). They are informational: the
// program runs as the policy's user whatever the client says.
func (h Handshake) Env(fallbackTerm string) []string {
	var env []string
	if term := h.TermType(); term != "" {
		env = append(env, "TERM="+term)
	} else if fallbackTerm != "" {
		env = append(env, "TERM="+fallbackTerm)
	}
	if u := PrintableUser(h.ClientUser); u != "" {
		env = append(env, "SOCKJAIL_RLOGIN_USER="+u)
	}
	if u := PrintableUser(h.ServerUser); u != "" {
		env = append(env, "SOCKJAIL_RLOGIN_SERVER_USER="+u)
	}
	if s := h.SpeedValue(); s != "" {
		env = append(env, "SOCKJAIL_TERM_SPEED="+s)
	}
	return env
}

// String describes the handshake for a log line, without the user names
// (a door server may send a password as one of them).
func (h Handshake) String() string {
	return "term=" + strconv.Quote(h.TermType()) + " speed=" + strconv.Quote(h.SpeedValue())
}
