package relay

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// BenchmarkThroughput relays 16 MiB of program output to a loopback TCP
// client through a pty, through pipes, and bare (the program writing to the
// socket itself, sockjail's zero-copy path), in the same run, and reports
// each as MB/s and as a ratio to bare.
func BenchmarkThroughput(b *testing.B) {
	const size = 16 << 20
	argv := []string{"/bin/sh", "-c", "head -c 16777216 /dev/zero"}
	run := func(b *testing.B, cfg *Config) time.Duration {
		ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		client, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
		if err != nil {
			b.Fatal(err)
		}
		defer client.Close()
		server, _ := ln.AcceptTCP()
		f, _ := server.File()
		server.Close()
		fd, _ := syscall.Dup(int(f.Fd()))
		f.Close()
		defer syscall.Close(fd)

		start := time.Now()
		cmd := exec.Command(argv[0], argv[1:]...)
		var r *Relay
		if cfg == nil {
			cmd.Stdout = os.NewFile(uintptr(fd), "conn")
		} else {
			if r, err = New(*cfg, fd, fd); err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			in, out, _, ctty := r.ProgramFiles()
			cmd.Stdin, cmd.Stdout = os.NewFile(uintptr(in), "in"), os.NewFile(uintptr(out), "out")
			if ctty {
				cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
			}
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		if r != nil {
			go func() { done <- r.Run(context.Background()) }()
		} else {
			done <- nil
		}
		n, _ := io.CopyN(io.Discard, client, size)
		elapsed := time.Since(start)
		cmd.Wait()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if n != size {
			b.Fatalf("got %d bytes", n)
		}
		return elapsed
	}
	var bare, pty, pipes time.Duration
	for range b.N {
		bare += run(b, nil)
		pty += run(b, &Config{PTY: true})
		pipes += run(b, &Config{LineRate: 0, CRLF: true})
	}
	mbps := func(d time.Duration) float64 { return float64(b.N) * size / 1e6 / d.Seconds() }
	b.ReportMetric(mbps(bare), "bare-MB/s")
	b.ReportMetric(mbps(pty), "pty-MB/s")
	b.ReportMetric(mbps(pipes), "pipes-MB/s")
	b.ReportMetric(float64(pty)/float64(bare), "pty/bare-time")
	b.ReportMetric(float64(pipes)/float64(bare), "pipes/bare-time")
}
