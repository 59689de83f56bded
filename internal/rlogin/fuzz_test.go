package rlogin

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// FuzzRlogin feeds a client's stream, split at any point, through the
// handshake reader and the decoder. It checks that neither panics, that the
// handshake stays within its bounds, that what reaches the environment is
// valid, that the window size is bounded, and that the data is exactly the
// stream without its window-size messages (a simple reference decoder),
// however the stream is split.
func FuzzRlogin(f *testing.F) {
	f.Add([]byte("\x00alice\x00bob\x00xterm/38400\x00ls\r"+win(24, 80, 0, 0)+"q"), uint8(5), uint8(1))
	f.Add([]byte("\x00\x00\x00\x00\xff\xff\xff"+win(0, 0, 1, 1)+"\xff\xffs"), uint8(9), uint8(2))
	f.Add([]byte("\x00"+strings.Repeat("u", 70)), uint8(3), uint8(7))
	f.Add([]byte("\x00u\x00u\x00\x1b]0;x\x07/99999999999\x00"+win(65535, 65535, 65535, 65535)), uint8(30), uint8(0))
	f.Add([]byte("GET / HTTP/1.0\r\n\r\n"), uint8(1), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, split, step uint8) {
		const maxWin = 300
		wholeH, wholeData, wholeWin := decodeStream(in, len(in)+1, maxWin)
		chunk := int(step)%13 + 1
		k := min(int(split), len(in))
		// Split at k, each piece in chunks: the same result.
		partsH, partsData, partsWin := decodeSplit(in, k, chunk, maxWin)
		if wholeH != partsH || !bytes.Equal(wholeData, partsData) || wholeWin != partsWin {
			t.Fatalf("split at %d in chunks of %d changed the result:\n%+v %q %v\n%+v %q %v", k, chunk, wholeH, wholeData, wholeWin, partsH, partsData, partsWin)
		}
		h := wholeH
		if len(h.ClientUser) > MaxUserLen || len(h.ServerUser) > MaxUserLen || len(h.TermSpeed) > MaxTermSpeedLen {
			t.Fatalf("handshake past its bounds: %+v", h)
		}
		for _, kv := range h.Env("vt100") {
			name, value, _ := strings.Cut(kv, "=")
			for i := 0; i < len(value); i++ {
				if value[i] < 0x20 || value[i] > 0x7e {
					t.Fatalf("%s has byte 0x%02x", name, value[i])
				}
			}
			if name == "TERM" && !validTerm(value) || name == "SOCKJAIL_TERM_SPEED" && h.SpeedValue() != value {
				t.Fatalf("invalid %s", kv)
			}
		}
		if wholeWin[0] > maxWin || wholeWin[1] > maxWin {
			t.Fatalf("window %v past %d", wholeWin, maxWin)
		}
	})
}

// decodeSplit decodes in as two pieces split at k, each fed in chunks.
func decodeSplit(in []byte, k, chunk, maxWin int) (Handshake, []byte, [2]int) {
	var s stream
	s.init(maxWin)
	s.feed(in[:k], chunk)
	s.feed(in[k:], chunk)
	return s.finish()
}

// decodeStream decodes in fed in chunks, checking the data against the
// reference decoder.
func decodeStream(in []byte, chunk, maxWin int) (Handshake, []byte, [2]int) {
	var s stream
	s.init(maxWin)
	s.feed(in, chunk)
	h, data, win := s.finish()
	if s.err == nil && s.r.Done() {
		wantData, wantWin := reference(in[s.hsLen:], maxWin)
		if !bytes.Equal(data, wantData) || win != wantWin {
			panic("decoder and reference differ")
		}
	}
	return h, data, win
}

type stream struct {
	r     HandshakeReader
	d     *Decoder
	err   error
	hsLen int
	data  []byte
	win   [2]int
}

func (s *stream) init(maxWin int) { s.d = NewDecoder(maxWin) }

func (s *stream) feed(in []byte, chunk int) {
	for len(in) > 0 && s.err == nil {
		p := in[:min(chunk, len(in))]
		in = in[len(p):]
		if !s.r.Done() {
			n, _, err := s.r.Feed(p)
			s.hsLen += n
			if err != nil {
				s.err = err
				return
			}
			p = p[n:]
		}
		for len(p) > 0 {
			out, n := s.d.DecodeInto(make([]byte, 0, 7), p)
			if len(out) > MaxDataPerByte*max(n, 1) {
				panic("more data than the bound")
			}
			s.data = append(s.data, out...)
			p = p[n:]
			if cols, rows, changed := s.d.WindowSize(); changed {
				s.win = [2]int{cols, rows}
			}
		}
	}
}

func (s *stream) finish() (Handshake, []byte, [2]int) {
	// What a cookie held at the end was, had the client finished.
	return s.r.Handshake(), append(s.data, s.d.held[:s.d.n]...), s.win
}

// reference takes window-size messages out of data the obvious way, with
// an unfinished message at the end left as data.
func reference(in []byte, maxWin int) ([]byte, [2]int) {
	var out []byte
	var win [2]int
	for i := 0; i < len(in); {
		if i+windowMsgLen <= len(in) && bytes.Equal(in[i:i+4], magic[:]) {
			rows := int(binary.BigEndian.Uint16(in[i+4:]))
			cols := int(binary.BigEndian.Uint16(in[i+6:]))
			if rows != 0 && cols != 0 {
				win = [2]int{min(cols, maxWin), min(rows, maxWin)}
			}
			i += windowMsgLen
			continue
		}
		if len(in)-i < windowMsgLen && bytes.HasPrefix(magic[:], in[i:min(len(in), i+4)]) && len(in)-i >= 1 {
			// A message or cookie cut by the end of the stream.
			if bytes.Equal(in[i:min(len(in), i+4)], magic[:min(4, len(in)-i)]) {
				out = append(out, in[i:]...)
				break
			}
		}
		out = append(out, in[i])
		i++
	}
	return out, win
}
