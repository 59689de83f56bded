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
	// Landlock has no access right for metadata: chmod, chown, utimes,
	// xattrs and file attributes reach any file the program's uid owns, wherever it is.
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
	guards := s.planGuards(g, has, shared)
	rules += guards.rules()
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

// planGuards decides which prefix guards the filter needs, from the
// policy, the Landlock plan and whether the program's uid is shared
// (has reports whether the policy allows a syscall).
func (s *Sandbox) planGuards(g *gaps, has func(string) bool, shared bool) prefixGuards {
	var guards prefixGuards
	if has("ioctl") {
		// The interface ioctls answer on any socket, the connection on
		// fd 0 included, and that socket belongs to the host's network
		// namespace whatever namespace the program is in.
		guards.ifaceIoctls = true
		// FS_IOC_SETFLAGS and its kin change a file's attributes
		// through a descriptor opened only for reading.
		guards.attrIoctls = shared
	}
	if has("socket") || has("socketpair") {
		abi := s.ll.abi
		if s.report.LandlockNet {
			guards.inet = true
			if has("io_uring_setup") {
				// IORING_OP_SOCKET creates sockets without socket(2).
				g.add("syscalls allow io_uring_setup, which can create MPTCP sockets past the seccomp guard and so bypass Landlock TCP rules")
			}
			// TCP Fast Open connects inside sendto/sendmsg/sendmmsg
			// without the connect(2) hook Landlock checks.
			guards.fastOpen = true
			// Address families Landlock has no rules for.
			guards.families = true
			if s.ll.cfg.HandledAccessNet&ll.AccessNetBindTCP != 0 {
				if len(s.policy.Network.BindTCP) == 0 {
					// listen(2) on an unbound socket binds an
					// ephemeral port without the bind(2) hook; with
					// no port to bind, nothing needs listen.
					guards.listen = true
				} else {
					s.report.Skipped = append(s.report.Skipped, "listen(2) on an unbound TCP socket binds an ephemeral port that Landlock does not check (bind_tcp allows ports, so listen stays allowed)")
				}
			}
			// Landlock restricts UDP from ABI 10; below, no UDP
			// rules exist, and a policy that restricts the network
			// restricts UDP too.
			guards.udpCovered = abi >= landlockABIUDP
		}
		if abi > 0 && abi < landlockABIResolveUnix {
			if s.policy.Network.ScopeAbstractUnix {
				guards.unix = true
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
	}
	// Without a PID namespace sockjail and other sessions are processes
	// of the program's own uid, and Landlock's scopes cover signals and
	// ptrace, not limits, priorities or CPU affinity.
	guards.otherProcesses = !s.report.PIDNS
	if has("inotify_add_watch") {
		// Not a refusal: the policy asked for inotify, and no layer
		// can confine it to the policy's paths.
		s.report.Skipped = append(s.report.Skipped, "inotify_add_watch reports the names and accesses of files in any directory the program's uid may read: Landlock does not mediate inotify (the policy allows it)")
	}
	return guards
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
// uid. The ioctls of the same kind are attrIoctlCmds. Syscalls newer than
// the policy's table are never allowed, so a new one of this kind is
// refused (with the policy's errno) until it is added here and there.
var metadataSyscalls = []string{
	"chmod", "fchmod", "fchmodat", "fchmodat2",
	"chown", "fchown", "lchown", "fchownat",
	"utime", "utimes", "futimesat", "utimensat",
	"setxattr", "lsetxattr", "fsetxattr", "setxattrat",
	"removexattr", "lremovexattr", "fremovexattr", "removexattrat",
	"file_setattr", // FS_IOC_FSSETXATTR by path (Linux 6.17)
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

// prefixGuards are checks placed in front of libseccomp's program, for
// what Landlock cannot restrict on this kernel or what libseccomp cannot
// express exactly. They compare only the low 32 bits of an int argument, as
// the kernel reads it: libseccomp compares all 64, so socket(…,
// (1<<32)|IPPROTO_MPTCP) would slip past its equality rule; and libseccomp
// lets an unconditional allow of a syscall win over a conditional errno for
// the same syscall, which is what these need.
//
// The socket guards are allow-lists: a triple (family, type, protocol)
// passes only where a Landlock rule or the policy's own choice covers it,
// so a protocol this kernel lacks today (SCTP, SMC) is refused the day a
// kernel has it. Not covered: sockets the program did not create (its
// connection on fd 0 and 1), which it may use as they are.
type prefixGuards struct {
	// inet: socket(AF_INET or AF_INET6, …) only for what Landlock's
	// network rules cover: SOCK_STREAM with protocol 0 or IPPROTO_TCP,
	// and SOCK_DGRAM with 0 or IPPROTO_UDP when udpCovered. SOCK_DGRAM
	// otherwise fails with EACCES, every other type or protocol (MPTCP,
	// SCTP, SMC, raw, ping, UDP-Lite…) with MPTCPErrno, what a kernel
	// without the protocol answers, so that programs fall back to TCP.
	inet bool
	// udpCovered: Landlock's rules cover UDP (ABI 10).
	udpCovered bool
	// unix: socket(AF_UNIX, …) fails with EACCES, and socketpair(AF_UNIX,
	// …) works for SOCK_STREAM and SOCK_SEQPACKET only, else EACCES.
	// Landlock restricts reaching pathname unix sockets (system daemons'
	// sockets) only from ABI 9, and a datagram socket can reach them
	// from a socketpair too: sendto(2) with an address, or connect(2),
	// works on it, where a connected stream or seqpacket socket refuses
	// (EISCONN) or ignores the address. SOCK_RAW is included in the
	// refusal: AF_UNIX turns it into SOCK_DGRAM. Used only while the
	// abstract unix scope is on, since it also stops abstract sockets
	// (with EACCES at socket(2) where the scope alone gives EPERM at
	// connect(2)).
	unix bool
	// families: socket(2) and socketpair(2) of any family but AF_UNIX,
	// AF_INET and AF_INET6 fail with EAFNOSUPPORT, as systemd's
	// RestrictAddressFamilies= does: Landlock has no rules for the
	// others (AF_VSOCK reaches the hypervisor's host, AF_NETLINK the
	// kernel's network configuration, and AF_TIPC has socketpair(2)).
	families bool
	// fastOpen: sendto/sendmsg/sendmmsg with MSG_FASTOPEN fail with
	// EACCES: a TCP Fast Open send connects without Landlock's connect
	// check.
	fastOpen bool
	// listen: listen(2) fails with EACCES. On an unbound socket it binds
	// an ephemeral port without Landlock's bind check; used only when the
	// policy allows no bind at all.
	listen bool
	// ifaceIoctls: the socket ioctls that read or change the host's
	// network interfaces, routes and neighbours (SIOCGIFCONF,
	// SIOCGIFNAME, SIOCGIFADDR, SIOCGARP, SIOCETHTOOL, the wireless
	// extensions…: 0x890B–0x89FF and 0x8B00–0x8BFF) fail with EACCES.
	// They answer for the socket's network namespace, the host's for
	// the connection on fd 0, so no namespace of the program's would
	// hide the host. A socket's own ioctls (FIOSETOWN to SIOCGSTAMPNS,
	// 0x8901–0x8907, and SIOCOUTQNSD) still work.
	ifaceIoctls bool
	// attrIoctls: the ioctls that change a file's attributes through a
	// descriptor (FS_IOC_SETFLAGS, FS_IOC_FSSETXATTR, FS_IOC_SETVERSION,
	// FS_IOC_SET_ENCRYPTION_POLICY, FS_IOC_ENABLE_VERITY) fail with
	// EACCES. The kernel asks only that the uid own the file, and a
	// descriptor opened for reading is enough; the metadata guard's
	// reason, so used with it.
	attrIoctls bool
	// otherProcesses: the calls that change another process's resource
	// limits, priority, scheduling or CPU affinity fail with EPERM, and
	// only the caller itself (pid 0) may be named: prlimit64 with a new
	// limit, setpriority and ioprio_set but for (PRIO_PROCESS or
	// IOPRIO_WHO_PROCESS, 0), sched_setscheduler, sched_setparam,
	// sched_setattr and sched_setaffinity. The kernel asks only for the
	// same uid, and Landlock doesn't mediate them: without a PID namespace
	// the program could lower sockjail's own RLIMIT_CPU, or another
	// session's, and have the kernel kill it. Used without a PID
	// namespace, where those processes are in reach; a program that names
	// itself or its threads by their pids is refused too (a filter can't
	// know them).
	otherProcesses bool
	// namespaces: clone(2) with a CLONE_NEW* flag fails with EPERM, and
	// clone3 (whose flags sit in memory a filter cannot read) with ENOSYS,
	// so that libc falls back to clone(2).
	namespaces bool
}

// rules is the number of rules the guards add to the report's count.
func (g prefixGuards) rules() int {
	n := 0
	for _, on := range []bool{g.inet, g.unix, g.families, g.fastOpen, g.listen, g.ifaceIoctls, g.attrIoctls, g.otherProcesses} {
		if on {
			n++
		}
	}
	if g.namespaces {
		n += 2 // clone and clone3
	}
	return n
}

// Classic BPF for the guards that libseccomp cannot express exactly
// (<linux/filter.h>, <linux/seccomp.h>, <linux/audit.h>).
const (
	bpfLdAbsW = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfJeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfJgtK   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
	bpfJgeK   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	bpfJsetK  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	bpfAndK   = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
	bpfRetK   = unix.BPF_RET | unix.BPF_K

	// Offsets in struct seccomp_data; args are little-endian u64s, and
	// these read their low 32 bits, which is all an int argument has.
	offNr     = 0
	offArch   = 4
	offArg0Lo = 16
	offArg1Lo = 24
	offArg2Lo = 32
	offArg3Lo = 40
	offArg2Hi = 36

	nrIoctl      = 16
	nrSocket     = 41
	nrSendto     = 44
	nrSendmsg    = 46
	nrListen     = 50
	nrSocketpair = 53
	nrClone      = 56
	nrSendmmsg   = 307
	nrClone3     = 435

	nrSetpriority       = 141
	nrSchedSetparam     = 142
	nrSchedSetscheduler = 144
	nrSchedSetaffinity  = 203
	nrIoprioSet         = 251
	nrPrlimit64         = 302
	nrSchedSetattr      = 314

	ioprioWhoProcess = 1 // IOPRIO_WHO_PROCESS

	msgFastOpen  = 0x20000000 // MSG_FASTOPEN
	sockTypeMask = 0xf        // SOCK_TYPE_MASK: the type without SOCK_NONBLOCK, SOCK_CLOEXEC

	// cloneNewMask is every CLONE_NEW* flag clone(2) accepts.
	cloneNewMask = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
		unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

	// The interface ioctls (<linux/sockios.h>, <linux/wireless.h>):
	// SIOCADDRT (0x890B) up to the end of SIOCDEVPRIVATE (0x89FF), and
	// the wireless extensions SIOCIWFIRST to SIOCIWLAST.
	siocIfaceFirst = 0x890b
	siocIfaceLast  = 0x89ff
	siocIWFirst    = 0x8b00
	siocIWLast     = 0x8bff
)

// attrIoctlCmds are the ioctls that change a file's attributes
// (<linux/fs.h>, <linux/fscrypt.h>, <linux/fsverity.h>), with the 32-bit
// forms that the kernel also accepts from 64-bit programs.
var attrIoctlCmds = []uint32{
	unix.FS_IOC_SETFLAGS,
	0x40046602, // FS_IOC32_SETFLAGS
	0x40087602, // FS_IOC_SETVERSION
	0x40047602, // FS_IOC32_SETVERSION
	0x401c5820, // FS_IOC_FSSETXATTR
	unix.FS_IOC_SET_ENCRYPTION_POLICY,
	unix.FS_IOC_ENABLE_VERITY,
}

// bpfLabel names a jump target of the guards' program; 0 is the next
// instruction.
type bpfLabel uint8

const (
	lNext bpfLabel = iota
	lEnd           // libseccomp's program
	lEACCES
	lEPERM
	lENOSYS
	lEAFNOSUPPORT
	lEPROTONOSUPPORT
	lFlags3
	lInet
	lDgram
	lAttr
	lClone3
	lFirstFree // newLabel's, from here
	lMax       = 32
)

type bpfInsn struct {
	code   uint16
	jt, jf bpfLabel
	k      uint32
}

// bpfAsm assembles classic BPF with forward jumps to labels. It is built
// on every `run`, so it keeps to a fixed table and one slice.
type bpfAsm struct {
	prog   []bpfInsn
	labels [lMax]int
	block  bpfLabel
}

func (a *bpfAsm) mark(l bpfLabel)               { a.labels[l] = len(a.prog) }
func (a *bpfAsm) emit(in ...bpfInsn)            { a.prog = append(a.prog, in...) }
func (a *bpfAsm) load(off uint32)               { a.emit(bpfInsn{code: bpfLdAbsW, k: off}) }
func (a *bpfAsm) jump(l bpfLabel)               { a.emit(bpfInsn{code: bpfJeqK, k: 0, jt: l, jf: l}) }
func (a *bpfAsm) jeq(k uint32, jt, jf bpfLabel) { a.emit(bpfInsn{code: bpfJeqK, k: k, jt: jt, jf: jf}) }

// newLabel returns a fresh label (for the end of a block, say).
func (a *bpfAsm) newLabel() bpfLabel {
	if a.block < lFirstFree {
		a.block = lFirstFree
	}
	if a.block == lMax {
		panic("sockjail: seccomp guard needs more labels than bpfAsm has")
	}
	a.block++
	return a.block - 1
}

// ret marks label on an instruction that fails the syscall with errno.
func (a *bpfAsm) ret(label bpfLabel, errno unix.Errno) {
	a.mark(label)
	a.emit(bpfInsn{code: bpfRetK, k: unix.SECCOMP_RET_ERRNO | uint32(errno)})
}

// assemble resolves the labels into forward jump offsets and returns the
// program as struct sock_filter[].
func (a *bpfAsm) assemble() []byte {
	out := make([]byte, 0, 8*len(a.prog))
	off := func(i int, l bpfLabel) uint8 {
		if l == lNext {
			return 0
		}
		d := a.labels[l] - i - 1
		if d < 0 || d > 0xff {
			panic("sockjail: seccomp guard jump out of range")
		}
		return uint8(d)
	}
	for i, in := range a.prog {
		out = binary.LittleEndian.AppendUint16(out, in.code)
		out = append(out, off(i, in.jt), off(i, in.jf))
		out = binary.LittleEndian.AppendUint32(out, in.k)
	}
	return out
}

// program assembles the guards; they fall through to libseccomp's program,
// which starts right after them. It returns nil when there is no guard.
// Each block starts with the syscall number in A and goes on to the next
// block when the number is not its own; a syscall that no block refuses
// goes to "end", libseccomp's program.
func (g prefixGuards) program() []byte {
	if g == (prefixGuards{}) {
		return nil
	}
	a := &bpfAsm{prog: make([]bpfInsn, 0, 96)}
	a.load(offArch)
	a.jeq(unix.AUDIT_ARCH_X86_64, lNext, lEnd) // other architectures are libseccomp's to kill
	a.load(offNr)
	if g.fastOpen {
		// flags is argument 3 of sendto and sendmmsg, 2 of sendmsg.
		next := a.newLabel()
		a.jeq(nrSendto, lFlags3, lNext)
		a.jeq(nrSendmmsg, lFlags3, lNext)
		a.jeq(nrSendmsg, lNext, next)
		a.load(offArg2Lo)
		a.emit(bpfInsn{code: bpfJsetK, k: msgFastOpen, jt: lEACCES, jf: lEnd})
		a.mark(lFlags3)
		a.load(offArg3Lo)
		a.emit(bpfInsn{code: bpfJsetK, k: msgFastOpen, jt: lEACCES, jf: lEnd})
		a.mark(next)
	}
	if g.listen {
		a.jeq(nrListen, lEACCES, lNext)
	}
	otherFamily := lEnd
	if g.families {
		otherFamily = lEAFNOSUPPORT
	}
	if g.inet || g.unix || g.families {
		next := a.newLabel()
		a.jeq(nrSocket, lNext, next)
		a.load(offArg0Lo)
		unixSocket := lEnd
		if g.unix {
			unixSocket = lEACCES
		}
		a.jeq(unix.AF_UNIX, unixSocket, lNext)
		inet := lEnd
		if g.inet {
			inet = lInet
		}
		a.jeq(unix.AF_INET, inet, lNext)
		a.jeq(unix.AF_INET6, inet, otherFamily)
		if g.inet {
			a.mark(lInet)
			a.load(offArg1Lo)
			a.emit(bpfInsn{code: bpfAndK, k: sockTypeMask})
			a.jeq(unix.SOCK_STREAM, lNext, lDgram)
			a.load(offArg2Lo)
			a.jeq(0, lEnd, lNext)
			a.jeq(unix.IPPROTO_TCP, lEnd, lEPROTONOSUPPORT)
			a.mark(lDgram)
			if g.udpCovered {
				a.jeq(unix.SOCK_DGRAM, lNext, lEPROTONOSUPPORT)
				a.load(offArg2Lo)
				a.jeq(0, lEnd, lNext)
				a.jeq(unix.IPPROTO_UDP, lEnd, lEPROTONOSUPPORT)
			} else {
				a.jeq(unix.SOCK_DGRAM, lEACCES, lEPROTONOSUPPORT)
			}
		}
		a.mark(next)
	}
	if g.unix || g.families {
		next := a.newLabel()
		a.jeq(nrSocketpair, lNext, next)
		a.load(offArg0Lo)
		if g.unix {
			a.jeq(unix.AF_UNIX, lNext, otherFamily)
			a.load(offArg1Lo)
			a.emit(bpfInsn{code: bpfAndK, k: sockTypeMask})
			a.jeq(unix.SOCK_STREAM, lEnd, lNext)
			a.jeq(unix.SOCK_SEQPACKET, lEnd, lEACCES)
		} else {
			a.jeq(unix.AF_UNIX, lEnd, otherFamily)
		}
		a.mark(next)
	}
	if g.ifaceIoctls || g.attrIoctls {
		next := a.newLabel()
		a.jeq(nrIoctl, lNext, next)
		a.load(offArg1Lo) // cmd is an unsigned int
		above := lEnd
		if g.attrIoctls {
			above = lAttr
		}
		if g.ifaceIoctls {
			// Ordered so that a terminal's ioctls (0x54xx) leave
			// after four comparisons.
			a.emit(bpfInsn{code: bpfJgtK, k: siocIWLast, jt: above},
				bpfInsn{code: bpfJgeK, k: siocIWFirst, jt: lEACCES},
				bpfInsn{code: bpfJgtK, k: siocIfaceLast, jt: lEnd},
				bpfInsn{code: bpfJgeK, k: siocIfaceFirst, jf: lEnd})
			a.jeq(unix.SIOCOUTQNSD, lEnd, lEACCES)
		}
		if g.attrIoctls {
			a.mark(lAttr)
			for i, cmd := range attrIoctlCmds {
				jf := lNext
				if i == len(attrIoctlCmds)-1 {
					jf = lEnd
				}
				a.jeq(cmd, lEACCES, jf)
			}
		}
		a.mark(next)
	}
	if g.otherProcesses {
		next := a.newLabel()
		notPrlimit, pid0, ioprio, process, who0 := a.newLabel(), a.newLabel(), a.newLabel(), a.newLabel(), a.newLabel()
		a.jeq(nrPrlimit64, lNext, notPrlimit)
		// Another process (arg0) and a new limit (arg2, a pointer).
		a.load(offArg0Lo)
		a.jeq(0, lEnd, lNext)
		a.load(offArg2Lo)
		a.jeq(0, lNext, lEPERM)
		a.load(offArg2Hi)
		a.jeq(0, lEnd, lEPERM)
		a.mark(notPrlimit)
		a.jeq(nrSetpriority, process, lNext)
		a.jeq(nrIoprioSet, ioprio, lNext)
		a.jeq(nrSchedSetscheduler, pid0, lNext)
		a.jeq(nrSchedSetparam, pid0, lNext)
		a.jeq(nrSchedSetattr, pid0, lNext)
		a.jeq(nrSchedSetaffinity, pid0, next)
		a.mark(pid0)
		a.load(offArg0Lo)
		a.jeq(0, lEnd, lEPERM)
		a.mark(ioprio)
		a.load(offArg0Lo)
		a.jeq(ioprioWhoProcess, who0, lEPERM)
		a.mark(process)
		a.load(offArg0Lo)
		a.jeq(unix.PRIO_PROCESS, who0, lEPERM)
		a.mark(who0)
		a.load(offArg1Lo)
		a.jeq(0, lEnd, lEPERM)
		a.mark(next)
	}
	if g.namespaces {
		next := a.newLabel()
		a.jeq(nrClone, lNext, lClone3)
		a.load(offArg0Lo)
		a.emit(bpfInsn{code: bpfJsetK, k: cloneNewMask, jt: lEPERM, jf: lEnd})
		a.mark(lClone3)
		a.jeq(nrClone3, lENOSYS, next)
		a.mark(next)
	}
	// Nothing matched: on to libseccomp's program.
	a.jump(lEnd)
	a.ret(lEPROTONOSUPPORT, MPTCPErrno)
	a.ret(lEACCES, unix.EACCES)
	a.ret(lEPERM, unix.EPERM)
	a.ret(lENOSYS, unix.ENOSYS)
	a.ret(lEAFNOSUPPORT, unix.EAFNOSUPPORT)
	a.mark(lEnd)
	return a.assemble()
}
