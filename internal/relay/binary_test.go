package relay

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/telnet"
	"github.com/sockjail/sockjail/internal/telnet/telnettest"
)

// everyByte is each byte value four times over, in an order that puts CR
// before LF, NUL and IAC, the pairs NVT and crlf would change.
func everyByte() []byte {
	var p []byte
	for round := 0; round < 4; round++ {
		for i := 0; i < 256; i++ {
			p = append(p, byte(i+round*13), '\r', byte(i))
		}
	}
	return append(p, "\r\n\r\x00\xff\xff\r"...)
}

// TestBinaryRelay sends every byte value through the relay and a program
// that copies its input to its output, with a real telnet client that
// agrees to BINARY or not, and checks what arrives each way: with BINARY
// both ways, exactly what was sent, on pipes with crlf on as on a raw pty;
// without it, NVT's line ends and crlf's mapping.
func TestBinaryRelay(t *testing.T) {
	blob := everyByte()
	// The program side of a raw pty: no echo, no line discipline, no
	// ONLCR, and a marker once it is so.
	rawCat := []string{"/bin/sh", "-c", "stty raw -echo -iexten; printf READY; exec cat"}
	pipeCat := []string{"/bin/sh", "-c", "printf READY; exec cat"}
	for _, tc := range []struct {
		name   string
		cfg    Config
		accept bool // the client agrees to BINARY when offered
		ask    bool // the client asks for BINARY itself
		argv   []string
		send   []byte
		want   []byte
	}{
		{name: "offered, agreed, pipes with crlf",
			cfg:    Config{Telnet: telnet.On, Binary: true, CRLF: true},
			accept: true, argv: pipeCat, send: blob, want: blob},
		{name: "asked by the client, pipes with crlf",
			cfg:    Config{Telnet: telnet.On, CRLF: true},
			accept: true, ask: true, argv: pipeCat, send: blob, want: blob},
		{name: "asked by the client in passive mode",
			cfg:    Config{Telnet: telnet.Passive, CRLF: true},
			accept: true, ask: true, argv: pipeCat, send: blob, want: blob},
		{name: "offered, agreed, raw pty",
			cfg:    Config{PTY: true, Telnet: telnet.On, Binary: true},
			accept: true, argv: rawCat, send: blob, want: blob},
		{name: "offered, refused: NVT and crlf",
			cfg:  Config{Telnet: telnet.On, Binary: true, CRLF: true},
			argv: pipeCat,
			send: []byte("a\r\nb\rc\nd\xffe\x00"),
			want: []byte("a\r\nb\rc\r\nd\xffe\x00")}, // in: CR LF is LF; out: LF is CR LF
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn, fd := tcpPair(t)
			conn.SetDeadline(time.Now().Add(30 * time.Second))
			client := telnettest.New(conn, tc.accept)
			if tc.ask {
				if err := client.AskBinary(); err != nil {
					t.Fatal(err)
				}
			}
			want := append([]byte("READY"), tc.want...)
			ready, received := make(chan struct{}), make(chan []byte, 1)
			go func() {
				got := make([]byte, len(want))
				n, err := io.ReadFull(client, got[:5])
				close(ready)
				if err == nil {
					n, err = io.ReadFull(client, got[5:])
					n += 5
				}
				if err != nil {
					t.Errorf("client read %d of %d bytes: %v (%q)", n, len(want), err, got[:n])
				}
				received <- got[:n]
			}()
			s := startOn(t, fd, tc.cfg, tc.argv...)
			s.client = conn
			<-ready
			if tc.accept {
				select {
				case <-client.BinaryReady():
				case <-time.After(20 * time.Second):
					t.Fatal("BINARY not agreed both ways")
				}
			}
			if _, err := client.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			got := <-received
			if !bytes.Equal(got, want) {
				t.Errorf("the client got\n%q\nwant\n%q", got, want)
			}
			in, out := client.Binary()
			if in != tc.accept || out != tc.accept {
				t.Errorf("binary in %v out %v, want %v", in, out, tc.accept)
			}
		})
	}
}
