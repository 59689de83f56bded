package testenv

import (
	"fmt"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Hosts of the same kind differ in what a foreign-ABI syscall does to an
// unconfined program (docs/design.md, "Hosts differ"): on one, `int 0x80`
// reaches the kernel's i386 syscall table; on another, the instruction
// faults (SIGSEGV) before the kernel's syscall entry runs at all, because
// the kernel or the hypervisor offers no i386 entry. Likewise the x32 ABI
// exists only where the kernel was built with it. A test that asserts what
// the sandbox does with such a syscall must first learn, from a control run
// of the same program unconfined on the same host, what the host does.

// ForeignSyscallWant returns the outcome a sandboxed attempt at a
// foreign-ABI syscall (i386 `int 0x80`, an x32 number) must have, given
// control, the same attempt's outcome unconfined on this host: "ok" or an
// errno name (the syscall got an answer) or a signal name (the program was
// killed).
//
// When the control got any answer, the kernel's syscall entry ran, and the
// sandbox's seccomp filter runs in that entry before the syscall table: it
// must kill the program with SIGSYS. When the control was killed by a
// signal, the fault came before any syscall entry, where no filter can act:
// the sandboxed program must die of the same signal, and so no foreign
// syscall gets through there either. SIGSYS as the control's outcome is an
// error: something already filters syscalls around the test, and what the
// sandbox adds can't be told apart.
func ForeignSyscallWant(control string) (string, error) {
	switch {
	case control == "":
		return "", fmt.Errorf("the unconfined control gave no outcome")
	case control == "SIGSYS":
		return "", fmt.Errorf("the unconfined control was killed by SIGSYS: a seccomp filter around the test already refuses the syscall, so the sandbox's own can't be tested")
	case strings.HasPrefix(control, "SIG"):
		if unix.SignalNum(control) == 0 {
			return "", fmt.Errorf("the unconfined control's outcome %q is no signal name", control)
		}
		return control, nil
	case control == "ok" || isErrnoName(control):
		return "SIGSYS", nil
	}
	return "", fmt.Errorf("the unconfined control's outcome %q is neither ok, an errno name nor a signal name", control)
}

// isErrnoName reports whether name is the name of an errno (ENOSYS).
func isErrnoName(name string) bool {
	for e := syscall.Errno(1); e < 256; e++ {
		if unix.ErrnoName(e) == name {
			return true
		}
	}
	return false
}
