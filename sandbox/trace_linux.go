package sandbox

// Tracing sessions, for `sockjail learn`: the program runs with the same
// namespaces, private /tmp, credentials and limits as under `run`, but
// without Landlock and with a seccomp filter that sends every syscall to a
// user-notification listener instead of denying any. The listener goes to
// Options.Trace, whose supervisor records each call and lets it proceed.

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

/*
#include "spawn_linux.h"
*/
import "C"

// Trace is one tracing session's start, handed to [Options.Trace] before
// the program's execve.
type Trace struct {
	// Listener is the seccomp user-notification descriptor of the
	// session's filter: every syscall of the program and its children,
	// the first execve included, waits on it until a response lets it
	// go on (SECCOMP_USER_NOTIF_FLAG_CONTINUE). The receiver owns it.
	Listener *os.File
	// Report is what the session runs with (its TmpDir, namespaces).
	Report Report
}

// userNotifContinueKernel is the first kernel whose seccomp user
// notifications can let a call proceed (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
var userNotifContinueKernel = [2]int{5, 5}

// planTrace replaces the Landlock and seccomp plans of a tracing sandbox.
// Nothing is denied, so nothing the kernel lacks for denying is a gap; what
// tracing itself needs is an error.
func (s *Sandbox) planTrace() error {
	if !seccompAvailable() {
		return errors.New("tracing needs seccomp filters, which this kernel lacks")
	}
	if !kernelAtLeast(userNotifContinueKernel) {
		return fmt.Errorf("tracing needs seccomp user notifications that let a call continue (Linux %d.%d)",
			userNotifContinueKernel[0], userNotifContinueKernel[1])
	}
	s.report.Traced = true
	return nil
}

// traceFilter returns the tracing filter for a session whose listener is
// sent over the descriptor sock: foreign ABIs (i386, x32) kill the process
// as `run`'s filter does, the one sendmsg(sock, …, SJ_TRACE_SEND_FLAGS)
// that hands the listener over is allowed, and every other syscall is
// sent to the listener.
func traceFilter(sock int) []byte {
	const (
		ldArch  = 4  // offsetof(struct seccomp_data, arch)
		ldNR    = 0  // nr
		ldArg0  = 16 // args[0], low half (little-endian)
		ldArg0H = 20
		ldArg2  = 32
		ldArg2H = 36
		notify  = unix.SECCOMP_RET_USER_NOTIF
		kill    = unix.SECCOMP_RET_KILL_PROCESS
	)
	ld := func(off uint32) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
	}
	ret := func(v uint32) unix.SockFilter { return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: v} }
	// Jump targets are relative; the program ends with ALLOW, NOTIFY,
	// KILL, so each jump is computed from its own index.
	prog := []unix.SockFilter{
		ld(ldArch),
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.AUDIT_ARCH_X86_64},
		ld(ldNR),
		{Code: unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, K: 0x40000000},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.SYS_SENDMSG},
		ld(ldArg0),
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(sock)},
		ld(ldArg0H),
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: 0},
		ld(ldArg2),
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: C.SJ_TRACE_SEND_FLAGS},
		ld(ldArg2H),
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: 0},
		ret(unix.SECCOMP_RET_ALLOW),
		ret(notify),
		ret(kill),
	}
	allow := len(prog) - 3
	notifyAt, killAt := allow+1, allow+2
	for i := range prog {
		f := &prog[i]
		if f.Code&0x07 != unix.BPF_JMP {
			continue
		}
		rel := func(to int) uint8 { return uint8(to - i - 1) }
		switch {
		case i == 1: // arch: native goes on, anything else is killed
			f.Jt, f.Jf = 0, rel(killAt)
		case i == 3: // x32 bit: killed
			f.Jt, f.Jf = rel(killAt), 0
		default: // each test of the handover: else notify
			f.Jt, f.Jf = 0, rel(notifyAt)
		}
	}
	b := make([]byte, 8*len(prog))
	for i, f := range prog {
		b[8*i] = byte(f.Code)
		b[8*i+1] = byte(f.Code >> 8)
		b[8*i+2] = f.Jt
		b[8*i+3] = f.Jf
		b[8*i+4] = byte(f.K)
		b[8*i+5] = byte(f.K >> 8)
		b[8*i+6] = byte(f.K >> 16)
		b[8*i+7] = byte(f.K >> 24)
	}
	return b
}

// traceHandover is one Start's socket pair for the listener's handover.
type traceHandover struct {
	ours, theirs int
}

func newTraceHandover() (*traceHandover, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("tracing socket pair: %w", err)
	}
	return &traceHandover{ours: fds[0], theirs: fds[1]}, nil
}

// receive closes our copy of the child's end and waits for the listener.
// It reads EOF when the child failed before sending it (the error pipe then
// says where).
func (h *traceHandover) receive() (*os.File, error) {
	unix.Close(h.theirs)
	h.theirs = -1
	defer func() { unix.Close(h.ours); h.ours = -1 }()
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(h.ours, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("receiving the tracing listener: %w", err)
		}
		if n == 0 {
			return nil, nil
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			return nil, fmt.Errorf("receiving the tracing listener: no descriptor")
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			return nil, fmt.Errorf("receiving the tracing listener: no descriptor")
		}
		return os.NewFile(uintptr(fds[0]), "seccomp-listener"), nil
	}
}

func (h *traceHandover) close() {
	for _, fd := range []int{h.ours, h.theirs} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}
