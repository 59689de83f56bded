package fdio

import (
	"bytes"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// socketPair returns a connected pair of stream sockets.
func socketPair(t *testing.T) (int, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

// TestRecvSend: Recv returns EAGAIN on an empty socket, peeks without
// consuming, reads what Send sent, and returns 0 at end of stream.
func TestRecvSend(t *testing.T) {
	a, b := socketPair(t)
	buf := make([]byte, 16)
	if _, err := Recv(a, buf, 0); err != unix.EAGAIN {
		t.Fatalf("Recv on an empty socket: %v, want EAGAIN", err)
	}
	if n, err := Send(b, []byte("hello")); n != 5 || err != nil {
		t.Fatalf("Send = %d, %v", n, err)
	}
	if n, err := Recv(a, buf, unix.MSG_PEEK); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Recv(MSG_PEEK) = %q, %v", buf[:n], err)
	}
	if n, err := Recv(a, buf, 0); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Recv = %q, %v", buf[:n], err)
	}
	unix.Shutdown(b, unix.SHUT_WR)
	if n, err := Recv(a, buf, 0); n != 0 || err != nil {
		t.Fatalf("Recv at EOF = %d, %v; want 0, nil", n, err)
	}
	// Send to a closed peer: EPIPE, and no SIGPIPE (it would kill the
	// test binary).
	unix.Close(a)
	if _, err := Send(b, []byte("x")); err != unix.EPIPE {
		t.Fatalf("Send to a closed peer: %v, want EPIPE", err)
	}
}

// TestWriteAllRead: WriteAll writes more than a socket buffer holds while
// the other side reads it all back with Read.
func TestWriteAllRead(t *testing.T) {
	a, b := socketPair(t)
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	done := make(chan error, 1)
	go func() {
		done <- WriteAll(b, want)
		unix.Shutdown(b, unix.SHUT_WR)
	}()
	var got []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := Read(a, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		got = append(got, buf[:n]...)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want %d equal ones", len(got), len(want))
	}
}

// TestPoll: Poll reports a readable socket, returns 0 at its deadline and
// not before, and is not ended early by signals.
func TestPoll(t *testing.T) {
	a, b := socketPair(t)
	fds := []unix.PollFd{{Fd: int32(a), Events: unix.POLLIN}}
	if n, err := Poll(fds, time.Now().Add(-time.Second)); n != 0 || err != nil {
		t.Fatalf("Poll past its deadline = %d, %v; want 0, nil", n, err)
	}

	// Signals arrive while Poll waits; they must not end the wait early.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				unix.Kill(os.Getpid(), syscall.SIGUSR1)
			}
		}
	}()
	const wait = 200 * time.Millisecond
	start := time.Now()
	n, err := Poll(fds, start.Add(wait))
	if n != 0 || err != nil {
		t.Fatalf("Poll on an idle socket = %d, %v; want 0, nil", n, err)
	}
	if took := time.Since(start); took < wait {
		t.Fatalf("Poll returned after %v, before its deadline %v", took, wait)
	}

	unix.Write(b, []byte("x"))
	fds[0].Revents = 0
	if n, err := Poll(fds, time.Time{}); n != 1 || err != nil || fds[0].Revents&unix.POLLIN == 0 {
		t.Fatalf("Poll on a readable socket = %d, %v, revents %#x", n, err, fds[0].Revents)
	}
}
