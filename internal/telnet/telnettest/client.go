// Package telnettest is the client side of telnet, for tests that need a
// peer which negotiates BINARY (RFC 856) and passes a byte stream through
// a telnet connection: a file transfer program's stdin and stdout, say.
//
// It is a small but real telnet client: it answers every option the
// server offers, agrees to BINARY in each direction when asked to, doubles
// IAC in what it sends and undoubles it in what it receives, and applies
// NVT's CR rules in a direction that is not binary. It does not cover
// subnegotiation beyond skipping it (it refuses TERMINAL-TYPE and NAWS), nor
// line mode, nor urgent data.
package telnettest

import (
	"errors"
	"io"
	"net"
	"sync"
)

// Telnet bytes (RFC 854, RFC 856).
const (
	iac    = 255
	dont   = 254
	do     = 253
	wont   = 252
	will   = 251
	sb     = 250
	se     = 240
	binary = 0
)

// Client is one telnet connection's client side. Read and Write may be
// used from two goroutines at once (one each).
type Client struct {
	conn   *net.TCPConn
	accept bool // agree to BINARY when the server asks

	wmu    sync.Mutex // one writer on conn: data and replies interleave whole
	outCR  bool       // Write: the last byte sent as NVT was CR
	binIn  bool       // the server sends binary (it said WILL, we said DO)
	binOut bool       // we send binary (it said DO, we said WILL)
	asked  bool       // AskBinary sent DO and WILL: their answers need no reply

	raw   [8192]byte
	rawN  int
	rawAt int
	st    int  // parse state, see Read
	verb  byte // WILL/WONT/DO/DONT being parsed
	inCR  bool // Read: the last data byte received as NVT was CR
	ready chan struct{}
	once  sync.Once
}

// parse states of Read
const (
	stData = iota
	stIAC
	stOpt
	stSB
	stSBIAC
)

// New returns the client side of conn. With acceptBinary it agrees to
// BINARY in each direction the server offers (WILL BINARY answered DO, DO
// BINARY answered WILL); without it, it refuses, as an NVT-only client
// would.
func New(conn *net.TCPConn, acceptBinary bool) *Client {
	return &Client{conn: conn, accept: acceptBinary, ready: make(chan struct{})}
}

// AskBinary asks the server for BINARY both ways (DO BINARY, WILL
// BINARY), as a client does whose user typed `set binary`.
func (c *Client) AskBinary() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.asked = true
	_, err := c.conn.Write([]byte{iac, do, binary, iac, will, binary})
	return err
}

// Binary reports whether each direction is binary as far as the client
// knows: in, what the server sends; out, what the client sends.
func (c *Client) Binary() (in, out bool) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.binIn, c.binOut
}

// BinaryReady is closed once both directions are binary.
func (c *Client) BinaryReady() <-chan struct{} { return c.ready }

// Read returns data the server sent, with negotiation removed and
// answered.
func (c *Client) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n := 0
		for c.rawAt < c.rawN && n < len(p) {
			b := c.raw[c.rawAt]
			c.rawAt++
			var keep bool
			var err error
			keep, err = c.parse(b)
			if err != nil {
				return n, err
			}
			if keep {
				p[n] = b
				n++
			}
		}
		if n > 0 {
			return n, nil
		}
		m, err := c.conn.Read(c.raw[:])
		c.rawN, c.rawAt = m, 0
		if m == 0 && err != nil {
			return 0, err
		}
	}
}

// parse handles one received byte and reports whether it is data.
func (c *Client) parse(b byte) (bool, error) {
	switch c.st {
	case stData:
		if b == iac {
			c.st = stIAC
			return false, nil
		}
		if c.isBinIn() {
			return true, nil
		}
		// NVT: CR NUL is CR; CR LF stays CR LF.
		wasCR := c.inCR
		c.inCR = b == '\r'
		if wasCR && b == 0 {
			return false, nil
		}
		return true, nil
	case stIAC:
		c.st = stData
		switch b {
		case iac:
			c.inCR = false
			return true, nil
		case will, wont, do, dont:
			c.verb, c.st = b, stOpt
		case sb:
			c.st = stSB
		}
		return false, nil // other commands: nothing for a byte stream
	case stOpt:
		c.st = stData
		return false, c.answer(c.verb, b)
	case stSB:
		if b == iac {
			c.st = stSBIAC
		}
		return false, nil
	case stSBIAC:
		if b == se {
			c.st = stData
		} else {
			c.st = stSB
		}
		return false, nil
	}
	return false, errors.New("telnettest: bad parse state")
}

func (c *Client) isBinIn() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.binIn
}

// answer replies to one WILL/WONT/DO/DONT. Only a change of state gets a
// reply, so that two peers that both acknowledge never loop.
func (c *Client) answer(verb, opt byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var reply []byte
	switch {
	case verb == will && opt == binary && (c.accept || c.asked):
		if !c.binIn {
			c.binIn = true
			if !c.asked {
				reply = []byte{iac, do, binary}
			}
		}
	case verb == do && opt == binary && (c.accept || c.asked):
		if !c.binOut {
			c.binOut = true
			// A CR sent as NVT owes its NUL before the switch.
			if c.outCR {
				reply = append(reply, 0)
				c.outCR = false
			}
			if !c.asked {
				reply = append(reply, iac, will, binary)
			}
		}
	case verb == wont && opt == binary:
		if c.binIn && !c.asked {
			reply = []byte{iac, dont, binary}
		}
		c.binIn = false
	case verb == dont && opt == binary:
		if c.binOut && !c.asked {
			reply = []byte{iac, wont, binary}
		}
		c.binOut = false
	case verb == will:
		reply = []byte{iac, dont, opt}
	case verb == do:
		reply = []byte{iac, wont, opt}
	}
	if c.binIn && c.binOut {
		c.once.Do(func() { close(c.ready) })
	}
	if reply == nil {
		return nil
	}
	_, err := c.conn.Write(reply)
	return err
}

// Write sends p as data: IAC doubled and, while the client does not send
// binary, CR as CR NUL unless LF follows (RFC 854).
func (c *Client) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	buf := make([]byte, 0, 2*len(p))
	for _, b := range p {
		if c.outCR && b != '\n' && !c.binOut {
			buf = append(buf, 0)
		}
		c.outCR = false
		switch {
		case b == iac:
			buf = append(buf, iac, iac)
		case b == '\r' && !c.binOut:
			buf = append(buf, b)
			c.outCR = true
		default:
			buf = append(buf, b)
		}
	}
	if _, err := c.conn.Write(buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseWrite half-closes the connection, after the NUL a trailing NVT CR
// owes.
func (c *Client) CloseWrite() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.outCR {
		c.outCR = false
		c.conn.Write([]byte{0})
	}
	return c.conn.CloseWrite()
}

var _ io.ReadWriter = (*Client)(nil)
