package sandbox

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
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
		return fmt.Errorf("syscalls: %w", err)
	}
	has := func(name string) bool { // allowed is sorted by name
		_, found := slices.BinarySearchFunc(allowed, name, func(c policy.Syscall, name string) int { return strings.Compare(c.Name, name) })
		return found
	}
	in := filterInput{action: sc.Action, errno: sc.ErrnoValue()}
	// Landlock has no access right for metadata: chmod, chown, utimes
	// and xattrs reach any file the program's uid owns, wherever it is.
	// Started unprivileged, that uid is sockjail's own and owns the
	// user's files; nobody may own files too. Only a dynamic uid, fresh
	// per session, owns nothing but the session's own files. So refuse
	// them unless the user is dynamic.
	shared := !s.dynamic
	// Without an IPC namespace, System V IPC objects and POSIX message
	// queues would be shared with other sessions and outlive this one.
	noIPCNS := !s.report.IPCNS
	refuse := map[string]bool{}
	if shared {
		for _, name := range metadataSyscalls {
			refuse[name] = true
		}
	}
	if noIPCNS {
		for _, name := range ipcSyscalls {
			refuse[name] = true
		}
	}
	for _, c := range allowed {
		if refuse[c.Name] {
			in.eacces = append(in.eacces, c.Nr)
			continue
		}
		in.allow = append(in.allow, c.Nr)
	}
	rules := len(in.allow) + len(in.eacces)
	// glibc falls back to clone(2) only on ENOSYS.
	if !has("clone3") && sc.Action != policy.ActionLog {
		in.clone3ENOSYS = true
		rules++
	}
	bpf, err := cachedFilter(in)
	if err != nil {
		return err
	}
	var guards prefixGuards
	if has("socket") {
		abi := s.ll.abi
		if s.report.LandlockNet {
			guards.mptcp = true
			rules++
			if has("io_uring_setup") {
				// IORING_OP_SOCKET creates sockets without socket(2).
				g.add("syscalls allow io_uring_setup, which can create MPTCP sockets past the seccomp guard and so bypass Landlock TCP rules")
			}
			// TCP Fast Open connects inside sendto/sendmsg/sendmmsg
			// without the connect(2) hook Landlock checks.
			guards.fastOpen = true
			rules++
			// Address families Landlock has no rules for.
			guards.families = true
			rules++
			if s.ll.cfg.HandledAccessNet&ll.AccessNetBindTCP != 0 {
				if len(s.policy.Network.BindTCP) == 0 {
					// listen(2) on an unbound socket binds an
					// ephemeral port without the bind(2) hook; with
					// no port to bind, nothing needs listen.
					guards.listen = true
					rules++
				} else {
					s.report.Skipped = append(s.report.Skipped, "listen(2) on an unbound TCP socket binds an ephemeral port that Landlock does not check (bind_tcp allows ports, so listen stays allowed)")
				}
			}
			if abi < landlockABIUDP {
				// No UDP keys exist: a policy that restricts the
				// network restricts UDP too.
				guards.udp = true
				rules++
			}
		}
		if abi > 0 && abi < landlockABIResolveUnix {
			if s.policy.Network.ScopeAbstractUnix {
				guards.unix = true
				rules++
			} else {
				// The policy opens unix IPC (abstract sockets), so
				// socket(AF_UNIX) must work; below ABI 9 nothing then
				// restricts connecting to a pathname socket. Not a
				// refusal: the policy asked for unix sockets.
				s.report.Skipped = append(s.report.Skipped, fmt.Sprintf("connect(2) to pathname unix sockets is not restricted (Landlock ABI %d < %d) because scope_abstract_unix = false allows unix sockets", abi, landlockABIResolveUnix))
			}
		}
	}
	if !has("unshare") && !has("setns") {
		// The policy keeps namespaces out; clone(2) can create them too.
		guards.namespaces = true
		rules += 2
	}
	setID := setIDGuard(has)
	if setID != nil {
		rules++
		if has("io_uring_setup") {
			g.add("syscalls allow io_uring_setup, whose IORING_OP_OPENAT can create set-user-ID files past the seccomp guard")
		}
	}
	bpf = append(append(setID, guards.program()...), bpf...)
	if len(bpf)/8 > 0xffff {
		return fmt.Errorf("seccomp filter has %d instructions, more than the kernel's limit", len(bpf)/8)
	}
	s.sc = seccompPlan{bpf: bpf, rules: rules}
	s.report.SeccompRules = rules
	s.report.SeccompBPF = len(bpf) / 8
	return nil
}

// ipcSyscalls reach System V IPC objects and POSIX message queues, which
// belong to the IPC namespace.
var ipcSyscalls = []string{
	"shmget", "shmat", "shmdt", "shmctl",
	"semget", "semop", "semtimedop", "semctl",
	"msgget", "msgsnd", "msgrcv", "msgctl",
	"mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
}

// metadataSyscalls change a file's metadata, which Landlock does not
// restrict. They are refused with EACCES when the program shares sockjail's
// uid.
var metadataSyscalls = []string{
	"chmod", "fchmod", "fchmodat", "fchmodat2",
	"chown", "fchown", "lchown", "fchownat",
	"utime", "utimes", "futimesat", "utimensat",
	"setxattr", "lsetxattr", "fsetxattr", "setxattrat",
	"removexattr", "lremovexattr", "fremovexattr", "removexattrat",
}

// filterInput is everything libseccomp's part of the filter depends on.
type filterInput struct {
	action       policy.SyscallAction
	errno        unix.Errno
	allow        []int // syscall numbers
	eacces       []int // syscall numbers refused with EACCES
	clone3ENOSYS bool
}

// key identifies in's compiled program: a hash of the inputs and of the
// libseccomp version that compiles them.
func (in filterInput) key() string {
	maj, mnr, mic := seccomp.GetLibraryVersion()
	b := make([]byte, 0, 128+8*(len(in.allow)+len(in.eacces)))
	// The same bytes as "sockjail-bpf 1\nlibseccomp %d.%d.%d\naction %s\n
	// errno %d\nclone3 %v\n", without fmt, whose first use in a fresh
	// process costs more than the rest of the key.
	b = append(b, "sockjail-bpf 1\nlibseccomp "...)
	b = strconv.AppendUint(b, uint64(maj), 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(mnr), 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64(mic), 10)
	b = append(b, "\naction "...)
	b = append(b, in.action...)
	b = append(b, "\nerrno "...)
	b = strconv.AppendInt(b, int64(in.errno), 10)
	b = append(b, "\nclone3 "...)
	b = strconv.AppendBool(b, in.clone3ENOSYS)
	b = append(b, '\n')
	for _, nr := range in.allow {
		b = strconv.AppendInt(b, int64(nr), 10)
		b = append(b, '\n')
	}
	for _, nr := range in.eacces {
		b = append(b, "eacces "...)
		b = strconv.AppendInt(b, int64(nr), 10)
		b = append(b, '\n')
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// compile builds in with libseccomp: default action from the policy,
// bad-arch action KILL_PROCESS, one allow rule per syscall number.
func (in filterInput) compile() ([]byte, error) {
	var def seccomp.ScmpAction
	switch in.action {
	case policy.ActionKill:
		def = seccomp.ActKillProcess
	case policy.ActionLog:
		def = seccomp.ActLog
	default:
		def = seccomp.ActErrno.SetReturnCode(int16(in.errno))
	}
	f, err := seccomp.NewFilter(def)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	defer f.Release()
	if err := f.SetBadArchAction(seccomp.ActKillProcess); err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	// A binary tree instead of a linear list: ~300 allowed syscalls would
	// otherwise cost up to ~300 comparisons on every syscall.
	if err := f.SetOptimize(2); err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	// The spawner sets no_new_privs itself, before Landlock.
	if err := f.SetNoNewPrivsBit(false); err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	for _, nr := range in.allow {
		if err := f.AddRule(seccomp.ScmpSyscall(nr), seccomp.ActAllow); err != nil {
			return nil, fmt.Errorf("seccomp rule for syscall %d: %w", nr, err)
		}
	}
	for _, nr := range in.eacces {
		if in.action == policy.ActionErrno && in.errno == unix.EACCES {
			break // the default action already says EACCES
		}
		if err := f.AddRule(seccomp.ScmpSyscall(nr), seccomp.ActErrno.SetReturnCode(int16(unix.EACCES))); err != nil {
			return nil, fmt.Errorf("seccomp rule for syscall %d: %w", nr, err)
		}
	}
	if in.clone3ENOSYS && !(in.action == policy.ActionErrno && in.errno == unix.ENOSYS) {
		if err := f.AddRule(seccomp.ScmpSyscall(nrClone3), seccomp.ActErrno.SetReturnCode(int16(unix.ENOSYS))); err != nil {
			return nil, fmt.Errorf("seccomp rule for clone3: %w", err)
		}
	}
	return exportBPF(f)
}

// exportBPF returns the filter's raw BPF program. libseccomp 2.5 can only
// write it to a file, so it goes through a memfd.
func exportBPF(f *seccomp.ScmpFilter) ([]byte, error) {
	fd, err := unix.MemfdCreate("sockjail-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd for the seccomp filter: %w", err)
	}
	mf := os.NewFile(uintptr(fd), "sockjail-bpf")
	defer mf.Close()
	if err := f.ExportBPF(mf); err != nil {
		return nil, fmt.Errorf("exporting the seccomp filter: %w", err)
	}
	if _, err := mf.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(mf)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 || len(b)%8 != 0 {
		return nil, fmt.Errorf("seccomp export gave %d bytes, not a BPF program", len(b))
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

// Classic BPF for the guards that libseccomp cannot express exactly
// (<linux/filter.h>, <linux/seccomp.h>, <linux/audit.h>).
const (
	bpfLdAbsW = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfJeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfJsetK  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	bpfRetK   = unix.BPF_RET | unix.BPF_K

	// Offsets in struct seccomp_data; args are little-endian u64s, and
	// these read their low 32 bits, which is all an int argument has.
	offNr     = 0
	offArch   = 4
	offArg0Lo = 16
	offArg2Lo = 32
	offArg3Lo = 40

	offArg1Lo = 24

	bpfAndK = 0x54 // BPF_ALU|BPF_AND|BPF_K

	nrSocket   = 41
	nrClone    = 56
	nrSendto   = 44
	nrSendmsg  = 46
	nrListen   = 50
	nrSendmmsg = 307

	msgFastOpen = 0x20000000 // MSG_FASTOPEN
	nrClone3    = 435

	// cloneNewMask is every CLONE_NEW* flag clone(2) accepts.
	cloneNewMask = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
		unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET
)

// prefixGuards are checks placed in front of libseccomp's program, for
// what Landlock cannot restrict on this kernel or what libseccomp cannot
// express exactly. They compare only the low 32 bits of an int argument, as
// the kernel reads it: libseccomp compares all 64, so socket(…,
// (1<<32)|IPPROTO_MPTCP) would slip past its equality rule; and libseccomp
// lets an unconditional allow of a syscall win over a conditional errno for
// the same syscall, which is what these need.
type prefixGuards struct {
	// mptcp: socket(AF_INET*, …, IPPROTO_MPTCP) fails with MPTCPErrno:
	// Landlock's TCP rules do not cover MPTCP.
	mptcp bool
	// udp: socket(AF_INET*, SOCK_DGRAM, …) fails with EACCES: Landlock
	// restricts UDP only from ABI 10, and a policy has no UDP ports.
	udp bool
	// unix: socket(AF_UNIX, …) fails with EACCES: Landlock restricts
	// connect(2) to pathname unix sockets (system daemons' sockets) only
	// from ABI 9. socketpair(2) still works. Used only while the abstract
	// unix scope is on, since it also stops abstract sockets (with EACCES
	// at socket(2) where the scope alone gives EPERM at connect(2)).
	unix bool
	// fastOpen: sendto/sendmsg/sendmmsg with MSG_FASTOPEN fail with
	// EACCES: a TCP Fast Open send connects without Landlock's connect
	// check.
	fastOpen bool
	// listen: listen(2) fails with EACCES. On an unbound socket it binds
	// an ephemeral port without Landlock's bind check; used only when the
	// policy allows no bind at all.
	listen bool
	// families: socket(2) of any family but AF_UNIX, AF_INET and AF_INET6
	// fails with EAFNOSUPPORT, as systemd's RestrictAddressFamilies= does:
	// Landlock has no rules for the others (AF_VSOCK reaches the
	// hypervisor's host, AF_NETLINK the kernel's network configuration).
	families bool
	// namespaces: clone(2) with a CLONE_NEW* flag fails with EPERM, and
	// clone3 (whose flags sit in memory a filter cannot read) with ENOSYS,
	// so that libc falls back to clone(2).
	namespaces bool
}

type bpfInsn struct {
	code   uint16
	jt, jf string // labels; "" = next instruction
	k      uint32
}

// program assembles the guards; they fall through to libseccomp's program,
// which starts right after them. It returns nil when there is no guard.
func (g prefixGuards) program() []byte {
	sock := g.mptcp || g.udp || g.unix || g.families
	if !sock && !g.namespaces && !g.fastOpen && !g.listen {
		return nil
	}
	var a bpfAsm
	mark, emit := a.mark, a.emit

	emit(bpfInsn{code: bpfLdAbsW, k: offArch},
		// Other architectures are libseccomp's to kill.
		bpfInsn{code: bpfJeqK, k: unix.AUDIT_ARCH_X86_64, jf: "end"},
		bpfInsn{code: bpfLdAbsW, k: offNr})
	// Each block starts with the syscall number in A and falls through
	// (or jumps) to the next block when the number is not its own.
	if g.fastOpen {
		// flags is argument 3 of sendto and sendmmsg, 2 of sendmsg.
		emit(bpfInsn{code: bpfJeqK, k: nrSendto, jt: "flags3"},
			bpfInsn{code: bpfJeqK, k: nrSendmmsg, jt: "flags3"},
			bpfInsn{code: bpfJeqK, k: nrSendmsg, jf: "notsend"},
			bpfInsn{code: bpfLdAbsW, k: offArg2Lo},
			bpfInsn{code: bpfJsetK, k: msgFastOpen, jt: "eacces", jf: "end"})
		mark("flags3")
		emit(bpfInsn{code: bpfLdAbsW, k: offArg3Lo},
			bpfInsn{code: bpfJsetK, k: msgFastOpen, jt: "eacces", jf: "end"})
		mark("notsend")
	}
	if g.listen {
		emit(bpfInsn{code: bpfJeqK, k: nrListen, jt: "eacces"})
	}
	if sock {
		notSocket := "end"
		if g.namespaces {
			notSocket = "clone"
		}
		emit(bpfInsn{code: bpfJeqK, k: nrSocket, jf: notSocket},
			bpfInsn{code: bpfLdAbsW, k: offArg0Lo})
		if g.unix {
			emit(bpfInsn{code: bpfJeqK, k: unix.AF_UNIX, jt: "eacces"})
		} else if g.families {
			emit(bpfInsn{code: bpfJeqK, k: unix.AF_UNIX, jt: "end"})
		}
		otherFamily := "end"
		if g.families {
			otherFamily = "eafnosupport"
		}
		emit(bpfInsn{code: bpfJeqK, k: unix.AF_INET, jt: "inet"},
			bpfInsn{code: bpfJeqK, k: unix.AF_INET6, jf: otherFamily})
		mark("inet")
		if g.mptcp {
			emit(bpfInsn{code: bpfLdAbsW, k: offArg2Lo},
				bpfInsn{code: bpfJeqK, k: unix.IPPROTO_MPTCP, jt: "mptcp"})
		}
		if g.udp {
			emit(bpfInsn{code: bpfLdAbsW, k: offArg1Lo},
				bpfInsn{code: bpfAndK, k: 0xf}, // SOCK_TYPE_MASK
				bpfInsn{code: bpfJeqK, k: unix.SOCK_DGRAM, jt: "eacces"})
		}
	}
	if g.namespaces {
		mark("clone")
		emit(bpfInsn{code: bpfJeqK, k: nrClone, jf: "clone3"},
			bpfInsn{code: bpfLdAbsW, k: offArg0Lo},
			bpfInsn{code: bpfJsetK, k: cloneNewMask, jt: "eperm", jf: "end"})
		mark("clone3")
		emit(bpfInsn{code: bpfJeqK, k: nrClone3, jt: "enosys", jf: "end"})
	}
	// Nothing matched: on to libseccomp's program.
	emit(bpfInsn{code: bpfJeqK, k: 0, jt: "end", jf: "end"})
	a.ret("mptcp", MPTCPErrno)
	a.ret("eacces", unix.EACCES)
	a.ret("eperm", unix.EPERM)
	a.ret("enosys", unix.ENOSYS)
	a.ret("eafnosupport", unix.EAFNOSUPPORT)
	mark("end")
	return a.assemble()
}

// bpfAsm assembles a classic BPF program whose jumps name labels.
type bpfAsm struct {
	prog   []bpfInsn
	labels map[string]int
}

func (a *bpfAsm) emit(in ...bpfInsn) { a.prog = append(a.prog, in...) }

// mark puts label on the next instruction.
func (a *bpfAsm) mark(label string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[label] = len(a.prog)
}

// ret marks label on an instruction that fails the syscall with errno.
func (a *bpfAsm) ret(label string, errno unix.Errno) {
	a.mark(label)
	a.emit(bpfInsn{code: bpfRetK, k: unix.SECCOMP_RET_ERRNO | uint32(errno)})
}

// assemble resolves the labels into forward jump offsets and returns the
// program as struct sock_filter[].
func (a *bpfAsm) assemble() []byte {
	out := make([]byte, 0, 8*len(a.prog))
	for i, in := range a.prog {
		off := func(label string) uint8 {
			if label == "" {
				return 0
			}
			return uint8(a.labels[label] - i - 1)
		}
		out = binary.LittleEndian.AppendUint16(out, in.code)
		out = append(out, off(in.jt), off(in.jf))
		out = binary.LittleEndian.AppendUint32(out, in.k)
	}
	return out
}
