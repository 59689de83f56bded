package conn

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkCloseLatency measures what a caller waits for after the
// program ends: the time from the program's exit (its Wait returning) to
// the client's EOF, on loopback, with a real child (printf) writing a line
// to the socket. Each iteration does it twice, once with Close and once
// with a bare close(2) as the baseline, and reports both and their ratio.
// The client sends nothing, so the bare close is clean too and the two
// compare like for like.
func BenchmarkCloseLatency(b *testing.B) {
	l := listenTCP(b, "127.0.0.1")
	var sj, bare time.Duration
	once := func(useClose bool) time.Duration {
		client, fd := l.dial(b, "")
		got := readAllClose(client)
		runChild(b, fd, "printf", `Hello World\n`)
		exited := time.Now()
		if useClose {
			c, err := FromFD(fd)
			if err != nil {
				b.Fatal(err)
			}
			go c.Close(context.Background(), testOptions)
		} else {
			unix.Close(fd)
		}
		r := <-got
		if r.err != nil || r.n != int64(len("Hello World\n")) {
			b.Fatalf("client read %d bytes, then %v", r.n, r.err)
		}
		return r.at.Sub(exited)
	}
	for b.Loop() {
		sj += once(true)
		bare += once(false)
	}
	n := float64(b.N)
	b.ReportMetric(float64(sj.Nanoseconds())/n, "close-ns/conn")
	b.ReportMetric(float64(bare.Nanoseconds())/n, "bare-close-ns/conn")
	b.ReportMetric(float64(sj)/float64(bare), "ratio-to-bare")
}
