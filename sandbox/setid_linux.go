package sandbox

import (
	"golang.org/x/sys/unix"
)

// SetIDErrno is what the seccomp filter answers a syscall that would give a
// file the set-user-ID or set-group-ID bit: EPERM, the kernel's own answer
// when the caller may not set a mode, and systemd's for RestrictSUIDSGID=.
const SetIDErrno = unix.EPERM

// setIDBits are S_ISUID and S_ISGID.
const setIDBits = unix.S_ISUID | unix.S_ISGID

// oCreateFlags are the open(2) flags that make the mode argument count:
// O_CREAT and __O_TMPFILE (O_TMPFILE without its O_DIRECTORY part).
const oCreateFlags = unix.O_CREAT | (unix.O_TMPFILE &^ unix.O_DIRECTORY)

// setIDCalls are the syscalls that take a mode the kernel keeps the set-ID
// bits of, and where that mode is: the argument index of the mode, and of
// the flags that must hold oCreateFlags for the mode to count (-1: always).
//
// Not here: mkdir and mkdirat, since the kernel masks their mode to
// 01777 (a directory's set-group-ID bit comes from its parent, never from
// the caller); chown and friends, since a chown clears both bits; and
// openat2, whose mode sits in memory a filter can't read (refused whole,
// see setIDGuard).
var setIDCalls = []struct {
	name        string
	nr          uint32
	mode, flags int
}{
	{"chmod", unix.SYS_CHMOD, 1, -1},
	{"fchmod", unix.SYS_FCHMOD, 1, -1},
	{"fchmodat", unix.SYS_FCHMODAT, 2, -1},
	{"fchmodat2", unix.SYS_FCHMODAT2, 2, -1},
	{"creat", unix.SYS_CREAT, 1, -1},
	{"mknod", unix.SYS_MKNOD, 1, -1},
	{"mknodat", unix.SYS_MKNODAT, 2, -1},
	{"open", unix.SYS_OPEN, 2, 1},
	{"openat", unix.SYS_OPENAT, 3, 2},
}

// setIDGuard returns a BPF block, placed in front of the rest of the
// filter, that refuses every way of making a set-user-ID or set-group-ID
// file with SetIDErrno, whoever the program's user is, and openat2 with
// ENOSYS (C libraries fall back to openat, which the block can check).
// allowed says which syscalls the policy allows; the block checks only
// those, and the rest of the filter refuses the others as the policy says.
//
// Why for every user: such a file, left in a writable directory, gives
// whoever runs it the program's uid, outside the sandbox and after the
// session. A host user would so gain nobody's rights over other sessions'
// files, sockjail's own user's rights when it runs unprivileged, or a
// dynamic uid's rights over the next caller that gets it. no_new_privs makes
// the bits useless inside the sandbox, so no program loses anything it could
// use there.
//
// Not covered: io_uring's IORING_OP_OPENAT, which creates files without
// open(2) (planSeccomp reports a policy that allows io_uring_setup), and a
// set-ID file that already exists and that the policy lets the program
// write to (a write by its owner keeps the bits: only the host's
// administrator can make such a file, and it is theirs to keep out of
// writable paths).
func setIDGuard(allowed func(string) bool) []byte {
	var a bpfAsm
	a.emit(bpfInsn{code: bpfLdAbsW, k: offArch},
		bpfInsn{code: bpfJeqK, k: unix.AUDIT_ARCH_X86_64, jf: lEnd},
		bpfInsn{code: bpfLdAbsW, k: offNr})
	any := false
	check := make([]bpfLabel, len(setIDCalls))
	for i, c := range setIDCalls {
		if !allowed(c.name) {
			continue
		}
		any = true
		// A holds the number here; jump to this call's check.
		check[i] = a.newLabel()
		a.emit(bpfInsn{code: bpfJeqK, k: c.nr, jt: check[i]})
	}
	if allowed("openat2") {
		any = true
		a.emit(bpfInsn{code: bpfJeqK, k: unix.SYS_OPENAT2, jt: lENOSYS})
	}
	if !any {
		return nil
	}
	a.jump(lEnd)
	for i, c := range setIDCalls {
		if !allowed(c.name) {
			continue
		}
		a.mark(check[i])
		if c.flags >= 0 {
			a.emit(bpfInsn{code: bpfLdAbsW, k: offArgLo(c.flags)},
				bpfInsn{code: bpfJsetK, k: oCreateFlags, jf: lEnd})
		}
		a.emit(bpfInsn{code: bpfLdAbsW, k: offArgLo(c.mode)},
			bpfInsn{code: bpfJsetK, k: setIDBits, jt: lEPERM, jf: lEnd})
	}
	a.ret(lEPERM, SetIDErrno)
	a.ret(lENOSYS, unix.ENOSYS)
	a.mark(lEnd)
	return a.assemble()
}

// offArgLo is the offset of the low 32 bits of argument i in struct
// seccomp_data (little-endian u64s after nr, arch and the instruction
// pointer).
func offArgLo(i int) uint32 { return offArg0Lo + 8*uint32(i) }
