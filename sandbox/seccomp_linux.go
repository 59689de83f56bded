package sandbox

import (
	"fmt"
	"io"
	"os"
	"slices"
	"unsafe"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/sockjail/sockjail/policy"
)

// MPTCPErrno is what socket(…, IPPROTO_MPTCP) returns while Landlock TCP
// rules are in force. Landlock's TCP rules do not cover MPTCP sockets, so
// MPTCP would bypass [network]; EPROTONOSUPPORT is what a kernel built
// without MPTCP answers, so programs (Go's net package among them) fall back
// to plain TCP instead of failing.
const MPTCPErrno = unix.EPROTONOSUPPORT

// ipprotoMPTCP is IPPROTO_MPTCP from <netinet/in.h>.
const ipprotoMPTCP = 262

// seccompPlan is the compiled filter of a Sandbox.
type seccompPlan struct {
	bpf   []byte // struct sock_filter[], 8 bytes each
	rules int
}

// planSeccomp compiles the policy's syscall rules to BPF once. Syscalls are
// added by number, so names newer than libseccomp 2.5.4 still work. The
// filter allows only the native x86-64 ABI: i386 (int 0x80) and x32
// syscalls kill the process, since they would bypass rules written for
// x86-64 numbers.
func (s *Sandbox) planSeccomp(g *gaps) error {
	if !seccompAvailable() {
		g.add("seccomp filters are not available in this kernel: every syscall would be allowed")
		return nil
	}
	sc := s.policy.Syscalls
	allowed, err := sc.Resolve()
	if err != nil {
		return fmt.Errorf("sockjail: syscalls: %w", err)
	}
	var def seccomp.ScmpAction
	switch sc.Action {
	case policy.ActionKill:
		def = seccomp.ActKillProcess
	case policy.ActionLog:
		def = seccomp.ActLog
	default:
		def = seccomp.ActErrno.SetReturnCode(int16(sc.ErrnoValue()))
	}
	f, err := seccomp.NewFilter(def)
	if err != nil {
		return fmt.Errorf("sockjail: seccomp: %w", err)
	}
	defer f.Release()
	if err := f.SetBadArchAction(seccomp.ActKillProcess); err != nil {
		return fmt.Errorf("sockjail: seccomp: %w", err)
	}
	// The spawner sets no_new_privs itself, before Landlock.
	if err := f.SetNoNewPrivsBit(false); err != nil {
		return fmt.Errorf("sockjail: seccomp: %w", err)
	}
	rules := 0
	for _, c := range allowed {
		if err := f.AddRule(seccomp.ScmpSyscall(c.Nr), seccomp.ActAllow); err != nil {
			return fmt.Errorf("sockjail: seccomp rule for %s (%d): %w", c.Name, c.Nr, err)
		}
		rules++
	}
	has := func(name string) bool {
		return slices.ContainsFunc(allowed, func(c policy.Syscall) bool { return c.Name == name })
	}
	if !has("clone3") && def != seccomp.ActLog {
		// glibc falls back to clone(2) only on ENOSYS.
		nr, _ := policy.LookupSyscall("clone3")
		if err := f.AddRule(seccomp.ScmpSyscall(nr), seccomp.ActErrno.SetReturnCode(int16(unix.ENOSYS))); err != nil {
			return fmt.Errorf("sockjail: seccomp rule for clone3: %w", err)
		}
		rules++
	}
	if s.report.LandlockNet && has("socket") {
		// int argument: compare the low 32 bits only, as the kernel does.
		cond, err := seccomp.MakeCondition(2, seccomp.CompareMaskedEqual, 0xffffffff, ipprotoMPTCP)
		if err != nil {
			return fmt.Errorf("sockjail: seccomp: %w", err)
		}
		nr, _ := policy.LookupSyscall("socket")
		if err := f.AddRuleConditional(seccomp.ScmpSyscall(nr), seccomp.ActErrno.SetReturnCode(int16(MPTCPErrno)), []seccomp.ScmpCondition{cond}); err != nil {
			return fmt.Errorf("sockjail: seccomp MPTCP rule: %w", err)
		}
		rules++
		if has("io_uring_setup") {
			// IORING_OP_SOCKET creates sockets without socket(2).
			g.add("syscalls allow io_uring_setup, which can create MPTCP sockets past the seccomp guard and so bypass Landlock TCP rules")
		}
	}
	bpf, err := exportBPF(f)
	if err != nil {
		return err
	}
	if len(bpf)/8 > 0xffff {
		return fmt.Errorf("sockjail: seccomp filter has %d instructions, more than the kernel's limit", len(bpf)/8)
	}
	s.sc = seccompPlan{bpf: bpf, rules: rules}
	s.report.SeccompRules = rules
	s.report.SeccompBPF = len(bpf) / 8
	return nil
}

// exportBPF returns the filter's raw BPF program. libseccomp 2.5 can only
// write it to a file, so it goes through a memfd.
func exportBPF(f *seccomp.ScmpFilter) ([]byte, error) {
	fd, err := unix.MemfdCreate("sockjail-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("sockjail: memfd for the seccomp filter: %w", err)
	}
	mf := os.NewFile(uintptr(fd), "sockjail-bpf")
	defer mf.Close()
	if err := f.ExportBPF(mf); err != nil {
		return nil, fmt.Errorf("sockjail: exporting the seccomp filter: %w", err)
	}
	if _, err := mf.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(mf)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 || len(b)%8 != 0 {
		return nil, fmt.Errorf("sockjail: seccomp export gave %d bytes, not a BPF program", len(b))
	}
	return b, nil
}

// seccompAvailable reports whether the kernel has seccomp filter mode.
func seccompAvailable() bool {
	// PR_GET_SECCOMP fails with EINVAL without CONFIG_SECCOMP; the
	// SECCOMP_GET_ACTION_AVAIL probe needs CONFIG_SECCOMP_FILTER.
	act := uint32(unix.SECCOMP_RET_ALLOW)
	_, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&act)))
	return e == 0
}
