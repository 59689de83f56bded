package telnet

import (
	"bytes"
	"testing"
)

// FuzzDecode checks, for any client input split at any point, that Decode
// never panics, never breaks its output bound, gives the same result however
// the stream is split, keeps TERM sanitized and the window size bounded, and
// only ever replies with well-formed telnet sequences.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("hello\r\n"), uint8(3), uint8(1))
	f.Add(b(IAC, DO, OptEcho, IAC, WILL, OptNAWS, IAC, SB, OptNAWS, 0, 80, 0, 24, IAC, SE), uint8(7), uint8(3))
	f.Add(b(IAC, WILL, OptTTYPE, IAC, SB, OptTTYPE, 0, "XTERM", IAC, SE), uint8(4), uint8(1))
	f.Add(b(IAC, SB, OptNAWS, IAC, IAC, IAC, SE, "\r", 0, "\r\n", IAC, IAC), uint8(5), uint8(6))
	f.Add(b(IAC, AYT, IAC, DO, OptTimingMark, IAC, WILL, OptLinemode, IAC), uint8(0), uint8(4))
	f.Add(b(IAC, WILL, OptBinary, "\r\n\r", 0, IAC, IAC, IAC, DO, OptBinary, "\r", IAC, WONT, OptBinary, "\r\n"), uint8(4), uint8(1|8|16))
	f.Add(b(IAC, DONT, OptBinary, "a\r", IAC, WILL, OptBinary, "\n", IAC, WONT, OptBinary), uint8(6), uint8(1|16))
	f.Fuzz(func(t *testing.T, in []byte, split uint8, flags uint8) {
		cfg := Config{Mode: Mode(flags % 3), Echo: flags&4 != 0, CRLFToLF: flags&8 != 0, Binary: flags&16 != 0, MaxCols: 200, MaxRows: 60}
		whole := New(cfg)
		whole.Start(nil)
		data1, reply1 := whole.Decode(nil, nil, in)
		if len(data1) > len(in)+1 {
			t.Fatalf("Decode appended %d data bytes for %d input bytes", len(data1), len(in))
		}

		parts := New(cfg)
		parts.Start(nil)
		k := int(split)
		if k > len(in) {
			k = len(in)
		}
		data2, reply2 := parts.Decode(nil, nil, in[:k])
		data2, reply2 = parts.Decode(data2, reply2, in[k:])
		if !bytes.Equal(data1, data2) || !bytes.Equal(reply1, reply2) {
			t.Fatalf("split at %d changed the result:\n% x / % x\n% x / % x", k, data1, reply1, data2, reply2)
		}
		if whole.Term() != SanitizeTerm(whole.Term()) {
			t.Fatalf("Term %q is not sanitized", whole.Term())
		}
		if c, r, _ := whole.WindowSize(); c < 0 || c > 200 || r < 0 || r > 60 {
			t.Fatalf("window %dx%d out of bounds", c, r)
		}
		checkReplies(t, reply1)

		// Byte by byte, through fixed buffers whose room the split decides:
		// no byte yields more than the per-byte bounds, DecodeInto never
		// reallocates, and what it leaves unconsumed, offered again once
		// the buffers are drained, gives the same result.
		bytewise := New(cfg)
		bytewise.Start(nil)
		var data3, reply3 []byte
		room := MaxReplyPerByte + k%7
		for rest := in; len(rest) > 0; {
			dbuf, rbuf := make([]byte, 0, MaxDataPerByte+k%3), make([]byte, 0, room)
			d, r, n := bytewise.DecodeInto(dbuf, rbuf, rest)
			if n == 0 || len(d) > n*MaxDataPerByte || len(r) > n*MaxReplyPerByte {
				t.Fatalf("DecodeInto consumed %d bytes into %d data and %d reply bytes", n, len(d), len(r))
			}
			if cap(d) != cap(dbuf) || cap(r) != cap(rbuf) {
				t.Fatal("DecodeInto reallocated a buffer")
			}
			data3, reply3 = append(data3, d...), append(reply3, r...)
			rest = rest[n:]
		}
		if !bytes.Equal(data1, data3) || !bytes.Equal(reply1, reply3) {
			t.Fatalf("DecodeInto changed the result:\n% x / % x\n% x / % x", data1, reply1, data3, reply3)
		}
		one := New(cfg)
		one.Start(nil)
		for i := range in {
			d, r := one.Decode(nil, nil, in[i:i+1])
			if len(d) > MaxDataPerByte || len(r) > MaxReplyPerByte {
				t.Fatalf("byte %d (% x) yielded %d data and %d reply bytes", i, in[i], len(d), len(r))
			}
		}
		if cfg.Mode == Passive && whole.Start(nil) != nil {
			t.Fatal("passive mode initiated negotiation")
		}
	})
}

// checkReplies fails unless reply is a sequence of IAC WILL/WONT/DO/DONT x,
// IAC SB TTYPE SEND IAC SE and AYT answers.
func checkReplies(t *testing.T, reply []byte) {
	t.Helper()
	for len(reply) > 0 {
		switch {
		case bytes.HasPrefix(reply, []byte(ayt)):
			reply = reply[len(ayt):]
		case bytes.HasPrefix(reply, b(IAC, SB, OptTTYPE, ttypeSEND, IAC, SE)):
			reply = reply[6:]
		case len(reply) >= 3 && reply[0] == IAC && reply[1] >= WILL && reply[1] <= DONT:
			reply = reply[3:]
		default:
			t.Fatalf("malformed reply % x", reply)
		}
	}
}

// FuzzRoundTrip checks that what Encode sends, a telnet peer decodes back
// to the program's bytes (CR LF aside, which NVT cannot tell from a newline).
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("menu\r\n> "))
	f.Add(b(IAC, 0, "\r", IAC, IAC, "\r"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if bytes.Contains(in, []byte("\r\n")) {
			return
		}
		enc := New(Config{Mode: On})
		wire := enc.Flush(enc.Encode(nil, in))
		if len(wire) > 2*len(in)+1 || len(wire) > MaxEncodePerByte*len(in) {
			t.Fatalf("Encode grew %d bytes to %d", len(in), len(wire))
		}
		dec := New(Config{Mode: On})
		got, reply := dec.Decode(nil, nil, wire)
		if !bytes.Equal(got, in) || len(reply) != 0 {
			t.Fatalf("round trip of % x gave % x (reply % x)", in, got, reply)
		}
	})
}

// FuzzBinaryRoundTrip checks BINARY in both directions on one stream: the
// program's output before the client's DO BINARY goes as NVT, the rest as
// binary, and a telnet peer that reads the server's WILL BINARY at that
// point decodes exactly the program's bytes, CR LF and CR NUL included
// after the switch. It also checks the encoder's bound in binary mode.
func FuzzBinaryRoundTrip(f *testing.F) {
	f.Add([]byte("menu\r"+"\r\n\x00\xff\r"), uint8(5))
	f.Add(b(IAC, 0, "\r", IAC, IAC, "\r\n"), uint8(0))
	f.Add(b("\r\n", IAC), uint8(255))
	f.Fuzz(func(t *testing.T, in []byte, at uint8) {
		k := min(int(at), len(in))
		before, after := in[:k], in[k:]
		if bytes.Contains(before, []byte("\r\n")) {
			return // NVT cannot tell CR LF from a newline
		}
		enc := New(Config{Mode: On})
		wire := enc.Encode(nil, before)
		_, reply := enc.Decode(nil, nil, b(IAC, DO, OptBinary))
		if !enc.BinaryOut() {
			t.Fatal("DO BINARY did not turn binary output on")
		}
		wire = append(wire, reply...)
		bin := enc.Encode(nil, after)
		if len(bin) > 2*len(after) || len(bin) > MaxEncodePerByte*len(after) {
			t.Fatalf("binary Encode grew %d bytes to %d", len(after), len(bin))
		}
		wire = enc.Flush(append(wire, bin...))
		// The peer: a server-side decoder reading the server's stream as
		// a client would, which takes WILL BINARY as the switch.
		dec := New(Config{Mode: On})
		got, _ := dec.Decode(nil, nil, wire)
		if want := append(append([]byte(nil), before...), after...); !bytes.Equal(got, want) {
			t.Fatalf("round trip of % x | % x gave % x", before, after, got)
		}
	})
}
