// Package sigcatch catches a few signals without os/signal's threads: a
// small C handler writes each caught signal's number to a pipe, which a
// goroutine reads through the netpoller.
//
// os/signal.Notify keeps two OS threads blocked for the life of the
// process (the runtime's thread that makes sure a blocked signal is taken,
// and the one sleeping in signal_recv). `sockjail run` lives for one
// connection, and on hosts where starting a thread and switching to it is
// dear, those two threads were about 13 page faults and 30 context switches
// of every connection (docs/design.md, issue 18).
//
// Not covered: a signal that arrives before Catch has its default effect
// (as it had during the process's start anyway); os/signal must not be
// used in the same process for the signals caught here (it would put the
// Go runtime's handler back); Catch works once per process; more than a
// pipe's worth of signals that nobody reads are dropped.
package sigcatch

/*
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int sj_sigcatch_fd = -1;

// The handler is async-signal-safe: one write(2) of one byte, errno kept.
static void sj_sigcatch_handler(int sig) {
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	(void)!write(sj_sigcatch_fd, &b, 1);
	errno = saved;
}

// sj_sigcatch installs the handler for sig. SA_ONSTACK: a handler
// installed beside the Go runtime must run on the signal stack, never on
// a goroutine's small stack. Returns 0 or an errno.
static int sj_sigcatch(int fd, int sig) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = sj_sigcatch_handler;
	sa.sa_flags = SA_RESTART | SA_ONSTACK;
	sigfillset(&sa.sa_mask);
	sj_sigcatch_fd = fd;
	return sigaction(sig, &sa, NULL) == 0 ? 0 : errno;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
)

// Catcher receives the caught signals.
type Catcher struct {
	r *os.File
}

var (
	mu      sync.Mutex
	catcher *Catcher
)

// Catch installs the handler for sigs (numbers below 256) and returns the
// Catcher that receives them.
func Catch(sigs ...syscall.Signal) (*Catcher, error) {
	mu.Lock()
	defer mu.Unlock()
	if catcher != nil {
		return nil, errors.New("sigcatch: Catch called twice")
	}
	var p [2]int
	// Non-blocking both ways: the handler must never block, and the read
	// end is served by the netpoller.
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil, fmt.Errorf("sigcatch: creating the pipe: %w", err)
	}
	for _, sig := range sigs {
		if sig <= 0 || sig > 255 {
			syscall.Close(p[0])
			syscall.Close(p[1])
			return nil, fmt.Errorf("sigcatch: signal %d out of range", sig)
		}
		// The write end stays open for the life of the process: the
		// handler may run at any time.
		if e := C.sj_sigcatch(C.int(p[1]), C.int(sig)); e != 0 {
			return nil, fmt.Errorf("sigcatch: installing a handler for %v: %w", sig, syscall.Errno(e))
		}
	}
	catcher = &Catcher{r: os.NewFile(uintptr(p[0]), "sigcatch")}
	return catcher, nil
}

// Next waits for the next caught signal.
func (c *Catcher) Next() (syscall.Signal, error) {
	var b [1]byte
	for {
		n, err := c.r.Read(b[:])
		if n == 1 {
			return syscall.Signal(b[0]), nil
		}
		if err != nil {
			return 0, fmt.Errorf("sigcatch: reading the pipe: %w", err)
		}
	}
}
