package rlogin

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestHandshake(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		consumed int // of the whole input, when done
		done     bool
		err      string // a substring of the error, "" for none
		want     Handshake
		env      []string
	}{
		{
			name: "inetutils client", in: "\x00alice\x00bob\x00xterm/38400\x00",
			consumed: 23, done: true,
			want: Handshake{"alice", "bob", "xterm/38400"},
			env:  []string{"TERM=xterm", "SOCKJAIL_RLOGIN_USER=alice", "SOCKJAIL_RLOGIN_SERVER_USER=bob", "SOCKJAIL_TERM_SPEED=38400"},
		},
		{
			name: "data after the handshake stays", in: "\x00a\x00b\x00vt100/9600\x00ls\r",
			consumed: 16, done: true,
			want: Handshake{"a", "b", "vt100/9600"},
			env:  []string{"TERM=vt100", "SOCKJAIL_RLOGIN_USER=a", "SOCKJAIL_RLOGIN_SERVER_USER=b", "SOCKJAIL_TERM_SPEED=9600"},
		},
		{
			name: "empty fields", in: "\x00\x00\x00\x00",
			consumed: 4, done: true,
			env: []string{"TERM=fallback"},
		},
		{
			name: "no speed", in: "\x00u\x00u\x00xterm-256color\x00",
			consumed: 20, done: true,
			want: Handshake{"u", "u", "xterm-256color"},
			env:  []string{"TERM=xterm-256color", "SOCKJAIL_RLOGIN_USER=u", "SOCKJAIL_RLOGIN_SERVER_USER=u"},
		},
		{
			name: "bad term and speed fall back", in: "\x00u\x00v\x00../../etc;rm/38400x\x00",
			consumed: 25, done: true,
			want: Handshake{"u", "v", "../../etc;rm/38400x"},
			env:  []string{"TERM=fallback", "SOCKJAIL_RLOGIN_USER=u", "SOCKJAIL_RLOGIN_SERVER_USER=v"},
		},
		{
			name: "control bytes in a user name drop it", in: "\x00\x1b[2Jx\x00ok user\x00ansi/115200\x00",
			consumed: 27, done: true,
			want: Handshake{"\x1b[2Jx", "ok user", "ansi/115200"},
			env:  []string{"TERM=ansi", "SOCKJAIL_RLOGIN_SERVER_USER=ok user", "SOCKJAIL_TERM_SPEED=115200"},
		},
		{name: "unfinished", in: "\x00alice\x00bo", consumed: 9},
		{name: "not rlogin", in: "GET / HTTP/1.0\r\n", consumed: 1, err: "first byte is 0x47"},
		{name: "telnet", in: "\xff\xfd\x18", consumed: 1, err: "not NUL"},
		{name: "client user too long", in: "\x00" + strings.Repeat("a", MaxUserLen+1), consumed: 1 + MaxUserLen + 1, err: "client user name is longer than 64"},
		{name: "server user too long", in: "\x00a\x00" + strings.Repeat("b", 1000), consumed: 3 + MaxUserLen + 1, err: "server user name is longer"},
		{name: "term too long", in: "\x00a\x00b\x00" + strings.Repeat("x", MaxTermSpeedLen+1), consumed: 5 + MaxTermSpeedLen + 1, err: "terminal type and speed is longer than 80"},
		{
			name: "longest allowed", in: "\x00" + strings.Repeat("a", MaxUserLen) + "\x00" + strings.Repeat("b", MaxUserLen) + "\x00" + strings.Repeat("t", MaxTermSpeedLen) + "\x00",
			consumed: MaxHandshakeLen, done: true,
			want: Handshake{strings.Repeat("a", MaxUserLen), strings.Repeat("b", MaxUserLen), strings.Repeat("t", MaxTermSpeedLen)},
			env:  []string{"TERM=fallback", "SOCKJAIL_RLOGIN_USER=" + strings.Repeat("a", MaxUserLen), "SOCKJAIL_RLOGIN_SERVER_USER=" + strings.Repeat("b", MaxUserLen)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, and one byte at a time: the same result.
			for _, step := range []int{len(tt.in), 1} {
				var r HandshakeReader
				consumed, done := 0, false
				var err error
				for consumed < len(tt.in) && !done && err == nil {
					var n int
					n, done, err = r.Feed([]byte(tt.in[consumed:min(len(tt.in), consumed+step)]))
					consumed += n
					if n == 0 && !done && err == nil {
						break
					}
				}
				if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrHandshake)) {
					t.Fatalf("step %d: error %v, want one containing %q", step, err, tt.err)
				}
				if consumed != tt.consumed || done != tt.done || r.Done() != tt.done {
					t.Fatalf("step %d: consumed %d done %v, want %d %v", step, consumed, done, tt.consumed, tt.done)
				}
				if !done {
					continue
				}
				if h := r.Handshake(); h != tt.want {
					t.Fatalf("step %d: handshake %+v, want %+v", step, h, tt.want)
				}
				if env := r.Handshake().Env("fallback"); !slices.Equal(env, tt.env) {
					t.Fatalf("step %d: env %q, want %q", step, env, tt.env)
				}
			}
		})
	}
}

// TestHandshakeLogValue checks that the log's description of a handshake
// never carries the user names.
func TestHandshakeLogValue(t *testing.T) {
	h := Handshake{"secret-password", "bob", "xterm/38400"}
	if s := h.String(); strings.Contains(s, "secret") || strings.Contains(s, "bob") || s != `term="xterm" speed="38400"` {
		t.Errorf("String() = %s", s)
	}
}

func win(rows, cols, x, y int) string {
	return string([]byte{0xff, 0xff, 's', 's', byte(rows >> 8), byte(rows), byte(cols >> 8), byte(cols), byte(x >> 8), byte(x), byte(y >> 8), byte(y)})
}

func TestDecoder(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		data       string
		cols, rows int
		changed    bool
	}{
		{name: "plain", in: "hello\r", data: "hello\r"},
		{name: "window", in: "a" + win(24, 80, 640, 480) + "b", data: "ab", cols: 80, rows: 24, changed: true},
		{name: "two windows, last wins", in: win(24, 80, 0, 0) + win(50, 132, 0, 0), cols: 132, rows: 50, changed: true},
		{name: "bounded", in: win(60000, 9000, 0, 0), cols: 500, rows: 500, changed: true},
		{name: "zero size ignored", in: win(0, 80, 0, 0) + "x", data: "x"},
		{name: "lone 0xff is data", in: "\xffa\xff", data: "\xffa"}, // the last 0xff may start a cookie
		{name: "broken cookie is data", in: "\xff\xffsx", data: "\xff\xffsx"},
		{name: "0xff 0xff 0xff then cookie", in: "\xff" + win(30, 100, 0, 0), data: "\xff", cols: 100, rows: 30, changed: true},
		{name: "0xff 0xff s 0xff then cookie", in: "\xff\xffs" + win(30, 100, 0, 0), data: "\xff\xffs", cols: 100, rows: 30, changed: true},
		{name: "cookie with 0xff sizes", in: win(0xffff, 0xffff, 0xffff, 0xffff) + "z", data: "z", cols: 500, rows: 500, changed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, step := range []int{len(tt.in), 1, 5} {
				d := NewDecoder(500)
				var data []byte
				for i := 0; i < len(tt.in); i += step {
					var n int
					out := make([]byte, 0, 64)
					out, n = d.DecodeInto(out, []byte(tt.in[i:min(len(tt.in), i+step)]))
					if n != min(step, len(tt.in)-i) {
						t.Fatalf("consumed %d of %d with room", n, step)
					}
					data = append(data, out...)
				}
				cols, rows, changed := d.WindowSize()
				if string(data) != tt.data || cols != tt.cols || rows != tt.rows || changed != tt.changed {
					t.Fatalf("step %d: data %q %dx%d changed %v, want %q %dx%d %v", step, data, cols, rows, changed, tt.data, tt.cols, tt.rows, tt.changed)
				}
				if _, _, changed := d.WindowSize(); changed {
					t.Fatalf("changed twice")
				}
			}
		})
	}
}

// TestDecoderRoom checks that DecodeInto stops while data lacks room for
// what the next byte could release, and goes on from there.
func TestDecoderRoom(t *testing.T) {
	d := NewDecoder(500)
	in := []byte("\xff\xffsx12345")
	out, n := d.DecodeInto(make([]byte, 0, MaxDataPerByte-1), in)
	if n != 0 || len(out) != 0 {
		t.Fatalf("with %d bytes of room: consumed %d, got %q", MaxDataPerByte-1, n, out)
	}
	out, n = d.DecodeInto(make([]byte, 0, MaxDataPerByte), in)
	if n != 4 || !bytes.Equal(out, []byte("\xff\xffsx")) {
		t.Fatalf("with %d bytes of room: consumed %d, got %q", MaxDataPerByte, n, out)
	}
}
