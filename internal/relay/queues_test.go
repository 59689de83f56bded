package relay

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/telnet"
)

// aytFlood is the pattern of the audit's crash (issue 21): two AYTs, whose
// answers are 9 bytes for 2, and a TIMING-MARK, repeated.
var aytFlood = []byte{telnet.IAC, telnet.AYT, telnet.IAC, telnet.AYT, telnet.IAC, telnet.DO, telnet.OptTimingMark}

// TestReplyFloodClientNeverReads is the audit's crash of `serve` on the
// relay alone: a client with a small receive buffer sends AYT and
// TIMING-MARK without reading the answers, in writes that end on IAC. The
// relay must stop reading it instead of overflowing its reply queue, and
// once the client reads, every answer must arrive: none dropped, none
// torn.
func TestReplyFloodClientNeverReads(t *testing.T) {
	const patterns = 3000 // 21 kB in, 63 kB of answers
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"on", Config{PTY: true, Telnet: telnet.On, NegotiateWait: time.Millisecond}},
		{"passive", Config{PTY: true, Telnet: telnet.Passive}},
		{"pipes", Config{Telnet: telnet.On, CRLF: true, NegotiateWait: time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client, fd := tcpPair(t)
			// Small buffers on both sides, so that the relay's queue, not
			// the kernel's, is what fills up.
			if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096); err != nil {
				t.Fatal(err)
			}
			if err := client.SetReadBuffer(4096); err != nil {
				t.Fatal(err)
			}
			wrote := make(chan error, 1)
			go func() {
				// Every write but the last ends on an IAC.
				all := bytes.Repeat(aytFlood, patterns)
				for len(all) > 0 {
					n := min(len(all), 5+len(aytFlood)*3)
					if _, err := client.Write(all[:n]); err != nil {
						wrote <- err
						return
					}
					all = all[n:]
				}
				wrote <- nil
			}()
			s := startOn(t, fd, tc.cfg, "/bin/sh", "-c", "cat >/dev/null; echo END")
			s.client = client
			// Never read for a while: the relay must sit on a full queue.
			select {
			case err := <-s.done:
				t.Fatalf("Run returned while the client was flooding it: %v", err)
			case <-time.After(2 * time.Second):
			}
			got := make(chan []byte, 1)
			go func() {
				var all []byte
				buf := make([]byte, 4096)
				client.SetReadDeadline(time.Now().Add(30 * time.Second))
				for {
					n, err := client.Read(buf)
					all = append(all, buf[:n]...)
					if err != nil {
						got <- all
						return
					}
				}
			}()
			if err := <-wrote; err != nil {
				t.Fatalf("client write: %v", err)
			}
			client.CloseWrite()
			if err := s.wait(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			out := <-got
			if n := bytes.Count(out, []byte("\r\n[Yes]\r\n")); n != 2*patterns {
				t.Errorf("%d AYT answers, want %d", n, 2*patterns)
			}
			if n := bytes.Count(out, []byte{telnet.IAC, telnet.WILL, telnet.OptTimingMark}); n != patterns {
				t.Errorf("%d TIMING-MARK answers, want %d", n, patterns)
			}
			if !bytes.Contains(out, []byte("END")) {
				t.Errorf("the program's output did not arrive after the answers")
			}
		})
	}
}

// FuzzRelay drives the relay itself, on pipes, with random client bytes
// (repeated 1+reps² times, up to 64 KiB, so that a short input can
// flood it; BINARY offered or not, and asked for or refused in them), a
// random program
// output and random sizes for every read and write on both sides, the
// relay's own included (through chop). Between any two of its steps the
// relay's three queues must keep their invariant (within their fixed
// buffers, which never change), and at the end nothing may be lost or
// reordered: the program got exactly the decoded input, and the client got
// exactly the program's output interleaved with the telnet replies, as a
// reference decoder produces them from the whole stream at once.
//
// It does not cover the pty (whose echo and line discipline make the
// program's input unpredictable); the queues are the same there.
func FuzzRelay(f *testing.F) {
	f.Add(aytFlood, uint8(200), uint64(1), uint16(100), uint8(1))
	f.Add(aytFlood[:5], uint8(255), uint64(2), uint16(0), uint8(2))
	f.Add([]byte{telnet.IAC, telnet.WILL, telnet.OptTTYPE, telnet.IAC, telnet.AYT, 'x', '\r'}, uint8(100), uint64(3), uint16(5000), uint8(1|4))
	f.Add([]byte("hello\r\nworld\r\x00"), uint8(50), uint64(4), uint16(3000), uint8(0|4))
	f.Add([]byte{telnet.IAC, telnet.SB, telnet.OptNAWS, 0, 80, telnet.IAC, telnet.AYT, telnet.IAC, telnet.DO, telnet.OptEcho}, uint8(120), uint64(5), uint16(20000), uint8(2))
	f.Add([]byte{telnet.IAC, telnet.WILL, telnet.OptBinary, '\r', '\n', '\r', 0, telnet.IAC, telnet.IAC, telnet.IAC, telnet.DO, telnet.OptBinary}, uint8(30), uint64(6), uint16(4000), uint8(1|4|8))
	f.Add([]byte{telnet.IAC, telnet.DO, telnet.OptBinary, telnet.IAC, telnet.AYT, telnet.IAC, telnet.WONT, telnet.OptBinary, '\r'}, uint8(90), uint64(7), uint16(9000), uint8(1|8))
	f.Fuzz(func(t *testing.T, in []byte, reps uint8, seed uint64, outLen uint16, flags uint8) {
		mode := telnet.Mode(flags % 3)
		// Binary is offered only in On mode; a client's own BINARY
		// requests are in the random input in every mode.
		cfg := Config{Telnet: mode, CRLF: flags&4 != 0, Binary: flags&8 != 0 && mode == telnet.On, NegotiateWait: time.Millisecond}
		client := bytes.Repeat(in, 1+int(reps)*int(reps))
		client = client[:min(len(client), 64<<10)]
		output := bytes.Repeat([]byte("0123456789"), int(outLen)/10+1)[:outLen]
		checkRelayed(t, cfg, client, output, seed)
	})
}

// checkRelayed runs one FuzzRelay case.
func checkRelayed(t *testing.T, cfg Config, client, output []byte, seed uint64) {
	sp, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfd, sfd := sp[0], sp[1]
	defer syscall.Close(cfd)
	defer syscall.Close(sfd)
	for _, fd := range sp {
		syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096)
		syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
	}
	r, err := New(cfg, sfd, sfd)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stdin, stdout, _, _ := r.ProgramFiles()
	progIn, err := syscall.Dup(stdin)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(progIn)
	progOut, err := syscall.Dup(stdout)
	if err != nil {
		t.Fatal(err)
	}

	// The relay's own reads and writes: sized at random, and every one
	// preceded by a check of the queues.
	rng := rand.New(rand.NewPCG(seed, 1))
	bufs := [3]*fifo{&r.fromConn, &r.toProg, &r.toConn}
	var orig [3]*byte
	for i, q := range bufs {
		orig[i] = &q.buf[0]
	}
	r.chop = func(size int) int {
		for i, q := range bufs {
			if len(q.buf) != BufSize || &q.buf[0] != orig[i] || q.r < 0 || q.r > q.w || q.w > len(q.buf) {
				t.Errorf("queue %d broke its invariant: r=%d w=%d len=%d (want %d), same buffer %v",
					i, q.r, q.w, len(q.buf), BufSize, &q.buf[0] == orig[i])
			}
		}
		return randSize(rng, size)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sizes := func(n uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, n)) }

	// The client: one goroutine writes, then half-closes; the other
	// starts reading only once the writer is done or 20 ms passed, so
	// that the relay meets a client that does not read.
	written := make(chan struct{})
	go func() {
		defer close(written)
		writeAll(cfd, client, sizes(2))
		syscall.Shutdown(cfd, syscall.SHUT_WR)
	}()
	received := make(chan []byte, 1)
	go func() {
		select {
		case <-written:
		case <-time.After(20 * time.Millisecond):
		}
		received <- readAll(cfd, sizes(3))
	}()
	// The program: it reads its input to EOF while writing its output,
	// and closes its output only after both, so that no input is moot.
	gotInput := make(chan []byte, 1)
	go func() { gotInput <- readAll(progIn, sizes(4)) }()
	wroteOutput := make(chan struct{})
	go func() {
		defer close(wroteOutput)
		writeAll(progOut, output, sizes(5))
	}()
	go func() {
		<-wroteOutput
		in := <-gotInput
		syscall.Close(progOut)
		gotInput <- in
	}()

	if cfg.Telnet == telnet.On {
		if err := r.Negotiate(ctx); err != nil {
			t.Fatalf("Negotiate: %v", err)
		}
	}
	if err := r.Run(ctx); err != nil {
		t.Fatalf("Run: %v (client EOF %v, passed on %v, program EOF %v; queued %d, %d, %d)", err,
			r.connEOF, r.eofSent, r.progEOF, r.fromConn.len(), r.toProg.len(), r.toConn.len())
	}
	input := <-gotInput
	syscall.Shutdown(sfd, syscall.SHUT_RDWR)
	wire := <-received
	<-written // its fd is closed on return, and the number reused

	ref := telnet.New(telnet.Config{Mode: cfg.Telnet, CRLFToLF: true, Binary: cfg.Binary})
	var wantReply []byte
	if cfg.Telnet == telnet.On {
		wantReply = ref.Start(nil)
	}
	wantInput, wantReply := ref.Decode(nil, wantReply, client)
	if !bytes.Equal(input, wantInput) {
		t.Fatalf("the program got %d bytes of input, want %d:\n% x\nwant\n% x", len(input), len(wantInput), head(input), head(wantInput))
	}
	gotOutput, gotReply, err := splitReplies(wire)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotReply, wantReply) {
		t.Fatalf("the client got %d bytes of replies, want %d:\n% x\nwant\n% x", len(gotReply), len(wantReply), head(gotReply), head(wantReply))
	}
	if !bytes.Equal(gotOutput, output) {
		t.Fatalf("the client got %d bytes of output, want %d", len(gotOutput), len(output))
	}
}

// splitReplies separates what the client received into the program's
// output (digits only, in FuzzRelay) and the telnet replies, each of which
// must be whole.
func splitReplies(wire []byte) (output, reply []byte, err error) {
	ttypeSend := []byte{telnet.IAC, telnet.SB, telnet.OptTTYPE, 1, telnet.IAC, telnet.SE}
	for len(wire) > 0 {
		n := 0
		switch {
		case wire[0] >= '0' && wire[0] <= '9':
			output = append(output, wire[0])
			wire = wire[1:]
			continue
		case bytes.HasPrefix(wire, []byte("\r\n[Yes]\r\n")):
			n = 9
		case bytes.HasPrefix(wire, ttypeSend):
			n = len(ttypeSend)
		case len(wire) >= 3 && wire[0] == telnet.IAC && wire[1] >= telnet.WILL && wire[1] <= telnet.DONT:
			n = 3
		default:
			return nil, nil, fmt.Errorf("the client got a torn or unknown reply: % x", head(wire))
		}
		reply = append(reply, wire[:n]...)
		wire = wire[n:]
	}
	return output, reply, nil
}

func head(p []byte) []byte { return p[:min(len(p), 64)] }

// randSize picks a size in 1..n, small ones often.
func randSize(rng *rand.Rand, n int) int {
	if n <= 1 {
		return n
	}
	switch rng.IntN(3) {
	case 0:
		return 1 + rng.IntN(min(n, 10))
	case 1:
		return 1 + rng.IntN(n)
	}
	return n
}

// writeAll writes p to the blocking fd in random sizes.
func writeAll(fd int, p []byte, rng *rand.Rand) {
	for len(p) > 0 {
		n, err := syscall.Write(fd, p[:randSize(rng, len(p))])
		if err == syscall.EINTR || err == syscall.EAGAIN {
			continue
		}
		if err != nil {
			panic(fmt.Sprintf("writing fd %d: %v", fd, err)) // a test bug: an fd closed twice
		}
		p = p[n:]
	}
}

// readAll reads the blocking fd to EOF in random sizes.
func readAll(fd int, rng *rand.Rand) []byte {
	var all []byte
	buf := make([]byte, 8192)
	for {
		n, err := syscall.Read(fd, buf[:randSize(rng, len(buf))])
		if err == syscall.EINTR || err == syscall.EAGAIN {
			continue
		}
		if err != nil {
			panic(fmt.Sprintf("reading fd %d: %v", fd, err)) // a test bug: an fd closed twice
		}
		if n == 0 {
			return all
		}
		all = append(all, buf[:n]...)
	}
}
