package telnet

import (
	"bytes"
	"testing"
)

// b builds a byte string from ints and strings, so that tests can spell
// telnet sequences readably: b(IAC, WILL, OptEcho, "abc").
func b(parts ...any) []byte {
	var out []byte
	for _, p := range parts {
		switch v := p.(type) {
		case int:
			out = append(out, byte(v))
		case byte:
			out = append(out, v)
		case string:
			out = append(out, v...)
		default:
			panic("b: bad part")
		}
	}
	return out
}

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mode
		ok   bool
	}{
		{"", Off, true}, {"off", Off, true}, {"false", Off, true},
		{"on", On, true}, {"true", On, true}, {"ON", On, true},
		{"passive", Passive, true}, {"yes", Off, false}, {"active", Off, false},
	} {
		got, err := ParseMode(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []byte
	}{
		{"on with pty", Config{Mode: On, Echo: true},
			b(IAC, WILL, OptEcho, IAC, WILL, OptSGA, IAC, DO, OptNAWS, IAC, DO, OptTTYPE)},
		{"on without pty", Config{Mode: On}, b(IAC, DO, OptNAWS, IAC, DO, OptTTYPE)},
		{"on with binary", Config{Mode: On, Echo: true, Binary: true},
			b(IAC, WILL, OptEcho, IAC, WILL, OptSGA, IAC, WILL, OptBinary, IAC, DO, OptBinary, IAC, DO, OptNAWS, IAC, DO, OptTTYPE)},
		{"passive never offers binary", Config{Mode: Passive, Binary: true}, nil},
		{"passive never initiates", Config{Mode: Passive, Echo: true}, nil},
		{"off", Config{Mode: Off, Echo: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := New(tc.cfg).Start(nil); !bytes.Equal(got, tc.want) {
				t.Errorf("Start = % x, want % x", got, tc.want)
			}
		})
	}
}

// TestDecode feeds client bytes, after Start, and checks the program's
// input and the replies.
func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       Config
		in        []byte
		data      []byte
		reply     []byte
		term      string
		cols, row int
	}{
		{name: "plain data", cfg: Config{Mode: On}, in: b("hello"), data: b("hello")},
		{name: "IAC IAC is one 0xFF", cfg: Config{Mode: On}, in: b("a", IAC, IAC, "b", IAC, IAC, IAC, IAC), data: b("a", 0xff, "b", 0xff, 0xff)},
		{name: "CR NUL to CR", cfg: Config{Mode: On}, in: b("ls\r\x00"), data: b("ls\r")},
		{name: "CR LF to CR for a pty", cfg: Config{Mode: On}, in: b("ls\r\nx"), data: b("ls\rx")},
		{name: "CR LF to LF for a pipe", cfg: Config{Mode: On, CRLFToLF: true}, in: b("ls\r\n\r\x00x\ry"), data: b("ls\n\rx\ry")},
		{name: "LF alone passes", cfg: Config{Mode: On}, in: b("ls\n"), data: b("ls\n")},
		{name: "inetutils telnet answers",
			cfg: Config{Mode: On, Echo: true},
			in: b(IAC, DO, OptEcho, IAC, DO, OptSGA, IAC, WILL, OptNAWS, IAC, WILL, OptTTYPE,
				IAC, SB, OptNAWS, 0, 80, 0, 24, IAC, SE,
				IAC, SB, OptTTYPE, ttypeIS, "XTERM-256COLOR", IAC, SE, "x"),
			data:  b("x"),
			reply: b(IAC, SB, OptTTYPE, ttypeSEND, IAC, SE),
			term:  "xterm-256color", cols: 80, row: 24},
		{name: "NAWS with doubled IAC and clamping",
			cfg:  Config{Mode: On, MaxCols: 300, MaxRows: 100},
			in:   b(IAC, WILL, OptNAWS, IAC, SB, OptNAWS, 0, IAC, IAC, 3, 0xe8, IAC, SE),
			cols: 255, row: 100},
		{name: "NAWS zero means unknown", cfg: Config{Mode: On},
			in: b(IAC, WILL, OptNAWS, IAC, SB, OptNAWS, 0, 0, 0, 24, IAC, SE)},
		{name: "NAWS not agreed is ignored", cfg: Config{Mode: Passive},
			in:    b(IAC, SB, OptNAWS, 0, 80, 0, 24, IAC, SE),
			reply: nil},
		{name: "client offers NAWS in passive mode", cfg: Config{Mode: Passive},
			in:    b(IAC, WILL, OptNAWS, IAC, SB, OptNAWS, 0, 100, 0, 40, IAC, SE),
			reply: b(IAC, DO, OptNAWS), cols: 100, row: 40},
		{name: "TTYPE is sanitized and bounded", cfg: Config{Mode: On},
			in:    b(IAC, WILL, OptTTYPE, IAC, SB, OptTTYPE, ttypeIS, "VT100;rm -rf /$(x)", IAC, SE),
			reply: b(IAC, SB, OptTTYPE, ttypeSEND, IAC, SE),
			term:  "vt100rm-rfx"},
		{name: "second TTYPE IS does not change TERM", cfg: Config{Mode: On},
			in: b(IAC, WILL, OptTTYPE, IAC, SB, OptTTYPE, ttypeIS, "ansi", IAC, SE,
				IAC, SB, OptTTYPE, ttypeIS, "evil", IAC, SE),
			reply: b(IAC, SB, OptTTYPE, ttypeSEND, IAC, SE), term: "ansi"},
		{name: "oversized subnegotiation is dropped", cfg: Config{Mode: On},
			in:   b(IAC, WILL, OptTTYPE, IAC, SB, OptTTYPE, ttypeIS, string(bytes.Repeat([]byte("a"), 200)), IAC, SE, "z"),
			data: b("z"), reply: b(IAC, SB, OptTTYPE, ttypeSEND, IAC, SE)},
		{name: "refusals", cfg: Config{Mode: On},
			in: b(IAC, WILL, OptLinemode, IAC, WILL, OptNewEnviron, IAC, DO, OptEcho, IAC, WILL, OptEcho, IAC, DO, 200),
			reply: b(IAC, DONT, OptLinemode, IAC, DONT, OptNewEnviron,
				IAC, WONT, OptEcho, IAC, DONT, OptEcho, IAC, WONT, 200)},
		{name: "WONT and DONT for options off get no reply", cfg: Config{Mode: On},
			in: b(IAC, WONT, OptLinemode, IAC, DONT, OptBinary, IAC, WONT, 99)},
		{name: "timing mark answered every time", cfg: Config{Mode: On},
			in:    b("a", IAC, DO, OptTimingMark, "b", IAC, DO, OptTimingMark),
			data:  b("ab"),
			reply: b(IAC, WILL, OptTimingMark, IAC, WILL, OptTimingMark)},
		{name: "client WILL TIMING-MARK refused", cfg: Config{Mode: On},
			in: b(IAC, WILL, OptTimingMark), reply: b(IAC, DONT, OptTimingMark)},
		{name: "commands", cfg: Config{Mode: On},
			in:    b("a", IAC, IP, IAC, BRK, IAC, EC, IAC, EL, IAC, NOP, IAC, DM, IAC, GA, IAC, AO, IAC, AYT, "b"),
			data:  b("a\x03\x03\x7f\x15b"),
			reply: b("\r\n[Yes]\r\n")},
		{name: "broken subnegotiation ends at the next command", cfg: Config{Mode: On},
			in:    b(IAC, SB, OptNAWS, 0, 80, IAC, WILL, OptSGA, "x"),
			data:  b("x"),
			reply: b(IAC, DO, OptSGA)},
		{name: "off mode passes everything", cfg: Config{Mode: Off},
			in: b(IAC, DO, OptEcho, "\r\n"), data: b(IAC, DO, OptEcho, "\r\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(tc.cfg)
			p.Start(nil)
			// Feed byte by byte and all at once: the result must not depend
			// on how TCP split the stream.
			for _, split := range []bool{false, true} {
				p, data, reply := decodeAfterStart(tc.cfg, tc.in, split)
				if !bytes.Equal(data, tc.data) {
					t.Errorf("split=%v data = %q, want %q", split, data, tc.data)
				}
				if !bytes.Equal(reply, tc.reply) {
					t.Errorf("split=%v reply = % x, want % x", split, reply, tc.reply)
				}
				if p.Term() != tc.term {
					t.Errorf("split=%v Term = %q, want %q", split, p.Term(), tc.term)
				}
				cols, rows, _ := p.WindowSize()
				if cols != tc.cols || rows != tc.row {
					t.Errorf("split=%v WindowSize = %dx%d, want %dx%d", split, cols, rows, tc.cols, tc.row)
				}
			}
		})
	}
}

// decodeAfterStart decodes in after Start, all at once or byte by byte
// (split): the result must not depend on how TCP split the stream.
func decodeAfterStart(cfg Config, in []byte, split bool) (p *Protocol, data, reply []byte) {
	p = New(cfg)
	p.Start(nil)
	if !split {
		data, reply = p.Decode(nil, nil, in)
		return p, data, reply
	}
	for i := range in {
		data, reply = p.Decode(data, reply, in[i:i+1])
	}
	return p, data, reply
}

func TestSettled(t *testing.T) {
	p := New(Config{Mode: On, Echo: true})
	p.Start(nil)
	if p.Settled() {
		t.Fatal("settled before any answer")
	}
	p.Decode(nil, nil, b(IAC, WONT, OptTTYPE, IAC, WILL, OptNAWS))
	if p.Settled() {
		t.Fatal("settled before the NAWS value")
	}
	p.Decode(nil, nil, b(IAC, SB, OptNAWS, 0, 132, 0, 43, IAC, SE))
	if !p.Settled() {
		t.Fatal("not settled after TTYPE refused and NAWS received")
	}
	if c, r, changed := p.WindowSize(); c != 132 || r != 43 || !changed {
		t.Errorf("WindowSize = %d, %d, %v", c, r, changed)
	}
	if _, _, changed := p.WindowSize(); changed {
		t.Error("WindowSize reports a change twice")
	}
}

func TestPassiveActivation(t *testing.T) {
	p := New(Config{Mode: Passive, Echo: true})
	if got := p.Encode(nil, b("a\r\n", IAC, "\rb")); !bytes.Equal(got, b("a\r\n", IAC, "\rb")) {
		t.Errorf("raw passive Encode = % x: must pass bytes unchanged", got)
	}
	if p.Active() {
		t.Fatal("active before any IAC")
	}
	_, reply := p.Decode(nil, nil, b(IAC, DO, OptEcho, IAC, DO, OptSGA))
	if want := b(IAC, WILL, OptEcho, IAC, WILL, OptSGA); !bytes.Equal(reply, want) {
		t.Errorf("reply = % x, want % x", reply, want)
	}
	if !p.Active() {
		t.Fatal("not active after the client spoke telnet")
	}
	if got := p.Encode(nil, b(IAC)); !bytes.Equal(got, b(IAC, IAC)) {
		t.Errorf("active Encode(IAC) = % x", got)
	}
}

func TestEncode(t *testing.T) {
	p := New(Config{Mode: On})
	var out []byte
	for _, chunk := range [][]byte{b("a\r\nb\r"), b("c\r"), b("\n", IAC, "\r"), nil} {
		out = p.Encode(out, chunk)
	}
	out = p.Flush(out)
	want := b("a\r\nb\r", 0, "c\r\n", IAC, IAC, "\r", 0)
	if !bytes.Equal(out, want) {
		t.Errorf("Encode = % x, want % x", out, want)
	}
}

// TestNoNegotiationLoop plays against a client that acknowledges every
// request, even for options already in the requested state (which RFC 854
// forbids but real clients do). The exchange must die out.
func TestNoNegotiationLoop(t *testing.T) {
	for _, cfg := range []Config{{Mode: On, Echo: true}, {Mode: On}, {Mode: Passive}} {
		p := New(cfg)
		toClient := p.Start(nil)
		toClient = append(toClient, b(IAC, WILL, OptLinemode, IAC, DO, OptBinary, IAC, DO, OptEcho, IAC, WILL, OptEcho, IAC, DONT, OptSGA)...)
		rounds := 0
		for len(toClient) > 0 {
			if rounds++; rounds > 10 {
				t.Fatalf("%+v: negotiation still going after 10 rounds: % x", cfg, toClient)
			}
			var fromClient []byte
			for i := 0; i+2 < len(toClient); i++ {
				if toClient[i] != IAC {
					continue
				}
				opt := toClient[i+2]
				switch toClient[i+1] {
				case DO:
					fromClient = append(fromClient, IAC, WILL, opt)
				case DONT:
					fromClient = append(fromClient, IAC, WONT, opt)
				case WILL:
					fromClient = append(fromClient, IAC, DO, opt)
				case WONT:
					fromClient = append(fromClient, IAC, DONT, opt)
				}
			}
			_, toClient = p.Decode(nil, nil, fromClient)
			// Drop the subnegotiation request; only verbs matter here.
			toClient = bytes.ReplaceAll(toClient, b(IAC, SB, OptTTYPE, ttypeSEND, IAC, SE), nil)
		}
	}
}

func TestSanitizeTerm(t *testing.T) {
	for in, want := range map[string]string{
		"XTERM":                                "xterm",
		"vt100":                                "vt100",
		"screen.xterm-256color":                "screen.xterm-256color",
		"a b\x00c\n=/":                         "abc",
		"":                                     "",
		string(bytes.Repeat([]byte("x"), 100)): string(bytes.Repeat([]byte("x"), MaxTermLen)),
	} {
		if got := SanitizeTerm(in); got != want {
			t.Errorf("SanitizeTerm(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestBinary negotiates BINARY (RFC 856) one direction at a time and checks
// the replies, the state of each direction, and what the client's bytes
// become for the program in that state. Input is decoded with CRLFToLF
// (a program on pipes), where NVT would change the most.
func TestBinary(t *testing.T) {
	const nvtIn = "a\r\nb\r\x00c\xff\xffd" // NVT: CR LF and CR NUL map, IAC IAC is 0xFF
	for _, tc := range []struct {
		name        string
		cfg         Config
		in          []byte
		reply, data []byte
		binIn       bool
		binOut      bool
	}{
		{name: "client WILL: its bytes are binary",
			cfg: Config{Mode: On}, in: b(IAC, WILL, OptBinary, nvtIn),
			reply: b(IAC, DO, OptBinary), data: b("a\r\nb\r\x00c\xffd"), binIn: true},
		{name: "client DO: the program's bytes are binary, the client's stay NVT",
			cfg: Config{Mode: On}, in: b(IAC, DO, OptBinary, nvtIn),
			reply: b(IAC, WILL, OptBinary), data: b("a\nb\rc\xffd"), binOut: true},
		{name: "both directions",
			cfg: Config{Mode: On}, in: b(IAC, WILL, OptBinary, IAC, DO, OptBinary, nvtIn),
			reply: b(IAC, DO, OptBinary, IAC, WILL, OptBinary), data: b("a\r\nb\r\x00c\xffd"), binIn: true, binOut: true},
		{name: "offered and agreed: no reply to the answers",
			cfg: Config{Mode: On, Binary: true}, in: b(IAC, DO, OptBinary, IAC, WILL, OptBinary, nvtIn),
			data: b("a\r\nb\r\x00c\xffd"), binIn: true, binOut: true},
		{name: "offered and refused",
			cfg: Config{Mode: On, Binary: true}, in: b(IAC, DONT, OptBinary, IAC, WONT, OptBinary, nvtIn),
			data: b("a\nb\rc\xffd")},
		{name: "offered, refused one way",
			cfg: Config{Mode: On, Binary: true}, in: b(IAC, DO, OptBinary, IAC, WONT, OptBinary, nvtIn),
			data: b("a\nb\rc\xffd"), binOut: true},
		{name: "client WONT after WILL: back to NVT mid-stream",
			cfg: Config{Mode: On}, in: b(IAC, WILL, OptBinary, "x\r\n", IAC, WONT, OptBinary, "y\r\n"),
			reply: b(IAC, DO, OptBinary, IAC, DONT, OptBinary), data: b("x\r\ny\n")},
		{name: "client DONT after DO",
			cfg: Config{Mode: On}, in: b(IAC, DO, OptBinary, IAC, DONT, OptBinary),
			reply: b(IAC, WILL, OptBinary, IAC, WONT, OptBinary)},
		{name: "a CR held back before WILL is resolved as NVT",
			cfg: Config{Mode: On}, in: b("a\r", IAC, WILL, OptBinary, "\n"),
			reply: b(IAC, DO, OptBinary), data: b("a\r\n"), binIn: true},
		{name: "repeated WILL and DO get no second reply",
			cfg: Config{Mode: On}, in: b(IAC, WILL, OptBinary, IAC, WILL, OptBinary, IAC, DO, OptBinary, IAC, DO, OptBinary),
			reply: b(IAC, DO, OptBinary, IAC, WILL, OptBinary), binIn: true, binOut: true},
		{name: "passive: a client that asks gets it",
			cfg: Config{Mode: Passive}, in: b(IAC, WILL, OptBinary, IAC, DO, OptBinary, "\r\n"),
			reply: b(IAC, DO, OptBinary, IAC, WILL, OptBinary), data: b("\r\n"), binIn: true, binOut: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.CRLFToLF = true
			for _, split := range []bool{false, true} {
				p, data, reply := decodeAfterStart(tc.cfg, tc.in, split)
				if !bytes.Equal(reply, tc.reply) {
					t.Errorf("split=%v reply = % x, want % x", split, reply, tc.reply)
				}
				if !bytes.Equal(data, tc.data) {
					t.Errorf("split=%v data = %q, want %q", split, data, tc.data)
				}
				if p.BinaryIn() != tc.binIn || p.BinaryOut() != tc.binOut {
					t.Errorf("split=%v binary in %v out %v, want %v %v", split, p.BinaryIn(), p.BinaryOut(), tc.binIn, tc.binOut)
				}
				if !p.Settled() && tc.cfg.Binary && (p.us[OptBinary] == qWantYes || p.him[OptBinary] == qWantYes) {
					t.Errorf("split=%v: BINARY still unanswered after the client's answers", split)
				}
			}
		})
	}
}

// TestEncodeBinary checks the program's output once the client agreed to
// binary: only IAC is doubled, a CR owes nothing, and a CR sent as NVT
// just before the switch gets its NUL ahead of the WILL.
func TestEncodeBinary(t *testing.T) {
	p := New(Config{Mode: On})
	var wire []byte
	wire = p.Encode(wire, b("x\r"))
	_, reply := p.Decode(nil, nil, b(IAC, DO, OptBinary))
	if want := b(0, IAC, WILL, OptBinary); !bytes.Equal(reply, want) {
		t.Fatalf("reply to DO BINARY after a CR = % x, want % x", reply, want)
	}
	wire = append(wire, reply...)
	wire = p.Encode(wire, b("\r", 0, "\r\n", IAC, "\n\r"))
	wire = p.Flush(wire)
	if want := b("x\r", 0, IAC, WILL, OptBinary, "\r", 0, "\r\n", IAC, IAC, "\n\r"); !bytes.Equal(wire, want) {
		t.Errorf("wire = % x, want % x", wire, want)
	}
	// DONT BINARY: NVT again.
	if _, reply := p.Decode(nil, nil, b(IAC, DONT, OptBinary)); !bytes.Equal(reply, b(IAC, WONT, OptBinary)) {
		t.Fatalf("reply to DONT BINARY = % x", reply)
	}
	if got := p.Flush(p.Encode(nil, b("a\rb\r"))); !bytes.Equal(got, b("a\r", 0, "b\r", 0)) {
		t.Errorf("after DONT BINARY Encode = % x, want NVT", got)
	}
}

// TestSettledBinary checks that an offer of BINARY is waited for in both
// directions, refused or agreed.
func TestSettledBinary(t *testing.T) {
	for _, answers := range [][]byte{
		b(IAC, DO, OptBinary, IAC, WILL, OptBinary),
		b(IAC, DONT, OptBinary, IAC, WONT, OptBinary),
	} {
		p := New(Config{Mode: On, Binary: true})
		p.Start(nil)
		p.Decode(nil, nil, b(IAC, WONT, OptTTYPE, IAC, WONT, OptNAWS))
		if p.Settled() {
			t.Fatal("settled before BINARY was answered")
		}
		p.Decode(nil, nil, answers[:3])
		if p.Settled() {
			t.Fatal("settled with one direction of BINARY unanswered")
		}
		p.Decode(nil, nil, answers[3:])
		if !p.Settled() {
			t.Fatalf("not settled after % x", answers)
		}
	}
}
