package sandbox

// The seccomp filter checked by simulation: the whole program a Sandbox
// would load (sockjail's guards and libseccomp's part) runs through a
// classic BPF interpreter for every address family, socket type and
// protocol number, every metadata syscall and every interface ioctl. So a
// kernel with SCTP or SMC is not needed to show that the filter refuses
// them, and the answers are checked for what the kernel would return, not
// for what this kernel happens to lack.

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sockjail/sockjail/policy"
)

// seccompData is struct seccomp_data.
type seccompData struct {
	nr   int32
	arch uint32
	ip   uint64
	args [6]uint64
}

// word reads the 32-bit word at off of d, as BPF_LD|BPF_W|BPF_ABS does
// (host byte order; the kernel's struct is in memory).
func (d *seccompData) word(off uint32) (uint32, bool) {
	var b [64]byte
	binary.LittleEndian.PutUint32(b[0:], uint32(d.nr))
	binary.LittleEndian.PutUint32(b[4:], d.arch)
	binary.LittleEndian.PutUint64(b[8:], d.ip)
	for i, a := range d.args {
		binary.LittleEndian.PutUint64(b[16+8*i:], a)
	}
	if off%4 != 0 || off+4 > uint32(len(b)) {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[off:]), true
}

// runBPF interprets a classic BPF program (struct sock_filter[], as the
// kernel's seccomp takes it) on d and returns its return value. It knows
// every instruction that seccomp accepts; anything else is an error, as
// are a jump or a read out of bounds, or falling off the end.
func runBPF(prog []byte, d *seccompData) (uint32, error) {
	n := len(prog) / 8
	var a, x uint32
	var mem [16]uint32
	for pc := 0; pc < n; pc++ {
		in := prog[8*pc:]
		code := binary.LittleEndian.Uint16(in)
		jt, jf := int(in[2]), int(in[3])
		k := binary.LittleEndian.Uint32(in[4:])
		src := k
		if code&0x08 != 0 { // BPF_X
			src = x
		}
		switch code & 0x07 { // class
		case 0x00, 0x01: // BPF_LD, BPF_LDX
			var v uint32
			switch code & 0xe0 { // mode
			case 0x20: // BPF_ABS
				w, ok := d.word(k)
				if !ok || code&0x18 != 0 { // only BPF_W
					return 0, fmt.Errorf("pc %d: bad load %#x at %d", pc, code, k)
				}
				v = w
			case 0x00: // BPF_IMM
				v = k
			case 0x60: // BPF_MEM
				if k >= 16 {
					return 0, fmt.Errorf("pc %d: scratch %d", pc, k)
				}
				v = mem[k]
			case 0x80: // BPF_LEN
				v = 64
			default:
				return 0, fmt.Errorf("pc %d: load mode %#x", pc, code)
			}
			if code&0x07 == 0x00 {
				a = v
			} else {
				x = v
			}
		case 0x02, 0x03: // BPF_ST, BPF_STX
			if k >= 16 {
				return 0, fmt.Errorf("pc %d: scratch %d", pc, k)
			}
			if code&0x07 == 0x02 {
				mem[k] = a
			} else {
				mem[k] = x
			}
		case 0x04: // BPF_ALU
			switch code & 0xf0 {
			case 0x00:
				a += src
			case 0x10:
				a -= src
			case 0x20:
				a *= src
			case 0x30:
				if src == 0 {
					return 0, nil
				}
				a /= src
			case 0x40:
				a |= src
			case 0x50:
				a &= src
			case 0x60:
				a <<= src
			case 0x70:
				a >>= src
			case 0x80:
				a = -a
			case 0x90:
				if src == 0 {
					return 0, nil
				}
				a %= src
			case 0xa0:
				a ^= src
			default:
				return 0, fmt.Errorf("pc %d: alu %#x", pc, code)
			}
		case 0x05: // BPF_JMP
			var taken bool
			switch code & 0xf0 {
			case 0x00: // BPF_JA
				pc += int(k)
				continue
			case 0x10:
				taken = a == src
			case 0x20:
				taken = a > src
			case 0x30:
				taken = a >= src
			case 0x40:
				taken = a&src != 0
			default:
				return 0, fmt.Errorf("pc %d: jump %#x", pc, code)
			}
			if taken {
				pc += jt
			} else {
				pc += jf
			}
		case 0x06: // BPF_RET
			switch code & 0x18 {
			case 0x00:
				return k, nil
			case 0x10:
				return a, nil
			}
			return 0, fmt.Errorf("pc %d: ret %#x", pc, code)
		case 0x07: // BPF_MISC
			switch code & 0xf8 {
			case 0x00:
				x = a // TAX
			case 0x80:
				a = x // TXA
			default:
				return 0, fmt.Errorf("pc %d: misc %#x", pc, code)
			}
		}
		if pc+1 > n {
			break
		}
	}
	return 0, fmt.Errorf("fell off the end of the program (%d instructions)", n)
}

const (
	retAllow = unix.SECCOMP_RET_ALLOW
	retKill  = unix.SECCOMP_RET_KILL_PROCESS
)

func retErrno(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e) }

// retName names a seccomp return value for failure messages.
func retName(r uint32) string {
	switch {
	case r == retAllow:
		return "ALLOW"
	case r == retKill:
		return "KILL_PROCESS"
	case r&0xffff0000 == unix.SECCOMP_RET_ERRNO:
		return "ERRNO(" + unix.ErrnoName(unix.Errno(r&0xffff)) + ")"
	}
	return fmt.Sprintf("%#x", r)
}

// simFilter is one planned filter and what was planned for it.
type simFilter struct {
	name        string
	bpf         []byte
	landlockNet bool // TCP rules in force
	udpCovered  bool // Landlock ABI 10: UDP rules
	unixGuard   bool // below ABI 9 with the abstract scope on
	shared      bool // the program's uid is not a dynamic one
	pidNS       bool // the session has a PID namespace
	allowed     map[string]bool
}

// simFilters plans the default policy's filter as New does on this
// machine, and as it would be on Landlock ABIs this kernel doesn't have,
// with the abstract scope off, and for a dynamic user.
func simFilters(t *testing.T) []simFilter {
	t.Helper()
	if !seccompAvailable() {
		t.Skip("no seccomp")
	}
	plan := func(name string, p *policy.Policy, abi int, dynamic, pidNS bool) simFilter {
		s := &Sandbox{policy: p, dynamic: dynamic}
		s.report.PIDNS = pidNS
		s.ll.abi = abi
		s.ll.cfg = landlockPresets[min(abi, len(landlockPresets)-1)]
		s.report.LandlockNet = abi >= landlockABINet
		s.report.IPCNS = true
		if err := s.planSeccomp(&gaps{}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return simFilter{allowed: allowedNames(t, p), name: name, bpf: s.sc.bpf, landlockNet: abi >= landlockABINet, udpCovered: abi >= landlockABIUDP,
			unixGuard: abi < landlockABIResolveUnix && p.Network.ScopeAbstractUnix, shared: !dynamic, pidNS: pidNS}
	}
	noScope := policy.Default()
	noScope.Network.ScopeAbstractUnix = false

	// The real thing: New plans the default policy on this kernel.
	s, err := New(policy.Default(), []string{"/bin/true"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	abi := s.ll.abi
	real := simFilter{allowed: allowedNames(t, policy.Default()), name: fmt.Sprintf("New on this kernel (Landlock ABI %d)", abi), bpf: s.sc.bpf,
		landlockNet: s.report.LandlockNet, udpCovered: s.report.LandlockNet && abi >= landlockABIUDP,
		unixGuard: abi > 0 && abi < landlockABIResolveUnix, shared: !s.dynamic, pidNS: s.report.PIDNS}
	return []simFilter{
		real,
		plan("ABI 7", policy.Default(), 7, false, true),
		plan("ABI 9", policy.Default(), 9, false, true),
		plan("ABI 10", policy.Default(), 10, false, true),
		plan("ABI 7, scope_abstract_unix = false", noScope, 7, false, true),
		plan("ABI 7, dynamic user", policy.Default(), 7, true, true),
		plan("ABI 7, no PID namespace", policy.Default(), 7, false, false),
	}
}

// allowedNames is the set of syscalls p allows.
func allowedNames(t *testing.T, p *policy.Policy) map[string]bool {
	t.Helper()
	calls, err := p.Syscalls.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, c := range calls {
		m[c.Name] = true
	}
	return m
}

func (f simFilter) run(t *testing.T, d seccompData) uint32 {
	t.Helper()
	if d.arch == 0 {
		d.arch = unix.AUDIT_ARCH_X86_64
	}
	r, err := runBPF(f.bpf, &d)
	if err != nil {
		t.Fatalf("%s: syscall %d %#x: %v", f.name, d.nr, d.args, err)
	}
	return r
}

// wantSocket is what socket(family, typ, proto) must get: the triples
// Landlock covers pass, and nothing else.
func (f simFilter) wantSocket(family, typ, proto uint64) uint32 {
	fam, ty, pr := uint32(family), uint32(typ)&sockTypeMask, uint32(proto) // the kernel reads ints
	switch {
	case fam == unix.AF_UNIX && f.unixGuard:
		return retErrno(unix.EACCES)
	case fam == unix.AF_UNIX:
		return retAllow
	case !f.landlockNet:
		return retAllow
	case fam != unix.AF_INET && fam != unix.AF_INET6:
		return retErrno(unix.EAFNOSUPPORT)
	case ty == unix.SOCK_STREAM && (pr == 0 || pr == unix.IPPROTO_TCP):
		return retAllow
	case ty == unix.SOCK_DGRAM && !f.udpCovered:
		return retErrno(unix.EACCES)
	case ty == unix.SOCK_DGRAM && (pr == 0 || pr == unix.IPPROTO_UDP):
		return retAllow
	}
	return retErrno(unix.EPROTONOSUPPORT)
}

// wantSocketpair is what socketpair(family, typ, proto, sv) must get:
// no datagram unix pair while pathname sockets are unrestricted.
func (f simFilter) wantSocketpair(family, typ uint64) uint32 {
	fam, ty := uint32(family), uint32(typ)&sockTypeMask
	switch {
	case fam == unix.AF_UNIX && f.unixGuard && ty != unix.SOCK_STREAM && ty != unix.SOCK_SEQPACKET:
		return retErrno(unix.EACCES)
	case fam == unix.AF_UNIX:
		return retAllow
	case f.landlockNet:
		return retErrno(unix.EAFNOSUPPORT)
	}
	return retAllow
}

// TestFilterSocketTriples runs socket(2) and socketpair(2) through the
// filter for every family (and past AF_MAX), every type with and without
// SOCK_NONBLOCK|SOCK_CLOEXEC, and every protocol number up to 511 (SCTP is
// 132, SMC 256, MPTCP 262), each also with garbage in the upper half of
// the register, which the kernel ignores.
func TestFilterSocketTriples(t *testing.T) {
	named := []struct {
		name               string
		family, typ, proto uint64
		want               uint32 // with Landlock ABI 7: TCP rules, the unix guard
	}{
		{"TCP", unix.AF_INET, unix.SOCK_STREAM, 0, retAllow},
		{"TCP6 nonblocking", unix.AF_INET6, unix.SOCK_STREAM | unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC, unix.IPPROTO_TCP, retAllow},
		{"MPTCP", unix.AF_INET, unix.SOCK_STREAM, 262, retErrno(unix.EPROTONOSUPPORT)},
		{"MPTCP, high bits", unix.AF_INET6, unix.SOCK_STREAM, 1<<32 | 262, retErrno(unix.EPROTONOSUPPORT)},
		{"SCTP one-to-one", unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_SCTP, retErrno(unix.EPROTONOSUPPORT)},
		{"SCTP one-to-many", unix.AF_INET6, unix.SOCK_SEQPACKET, unix.IPPROTO_SCTP, retErrno(unix.EPROTONOSUPPORT)},
		{"SMC over inet", unix.AF_INET, unix.SOCK_STREAM, 256, retErrno(unix.EPROTONOSUPPORT)},
		{"AF_SMC", unix.AF_SMC, unix.SOCK_STREAM, 0, retErrno(unix.EAFNOSUPPORT)},
		{"raw", unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW, retErrno(unix.EPROTONOSUPPORT)},
		{"ping", unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP, retErrno(unix.EACCES)},
		{"UDP", unix.AF_INET, unix.SOCK_DGRAM, 0, retErrno(unix.EACCES)},
		{"TCP as 'high bits' family", 1<<32 | unix.AF_INET, unix.SOCK_STREAM, 0, retAllow},
		{"vsock", unix.AF_VSOCK, unix.SOCK_STREAM, 0, retErrno(unix.EAFNOSUPPORT)},
		{"netlink", unix.AF_NETLINK, unix.SOCK_RAW, 0, retErrno(unix.EAFNOSUPPORT)},
		{"unix", unix.AF_UNIX, unix.SOCK_STREAM, 0, retErrno(unix.EACCES)},
	}
	filters := simFilters(t)
	abi7 := filters[1]
	for _, c := range named {
		if got := abi7.run(t, seccompData{nr: nrSocket, args: [6]uint64{c.family, c.typ, c.proto}}); got != c.want {
			t.Errorf("%s: socket(%#x, %#x, %#x) = %s, want %s", c.name, c.family, c.typ, c.proto, retName(got), retName(c.want))
		}
	}
	for _, f := range filters {
		t.Run(f.name, func(t *testing.T) {
			bad := 0
			for family := uint64(0); family < 64; family++ {
				for _, typ := range []uint64{0, 1, 2, 3, 4, 5, 6, 10, 15, unix.SOCK_STREAM | unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC, unix.SOCK_DGRAM | unix.SOCK_CLOEXEC, 1<<32 | unix.SOCK_STREAM} {
					for proto := uint64(0); proto < 512; proto++ {
						for _, hi := range []uint64{0, 0xdead_0000_0000} {
							d := seccompData{nr: nrSocket, args: [6]uint64{family | hi, typ, proto | hi}}
							if got, want := f.run(t, d), f.wantSocket(family|hi, typ, proto|hi); got != want && bad < 10 {
								bad++
								t.Errorf("socket(%#x, %#x, %#x) = %s, want %s", d.args[0], d.args[1], d.args[2], retName(got), retName(want))
							}
						}
					}
					d := seccompData{nr: nrSocketpair, args: [6]uint64{family, typ, 0, 0x7000}}
					if got, want := f.run(t, d), f.wantSocketpair(family, typ); got != want && bad < 10 {
						bad++
						t.Errorf("socketpair(%#x, %#x, 0) = %s, want %s", family, typ, retName(got), retName(want))
					}
				}
			}
		})
	}
}

// metadataSyscallNumbers are the x86-64 syscalls that change a file's
// metadata, by number as in the kernel's syscall_64.tbl, so that the test
// does not lean on the table the filter is built from.
var metadataSyscallNumbers = map[string]int32{
	"chmod": 90, "fchmod": 91, "fchmodat": 268, "fchmodat2": 452,
	"chown": 92, "fchown": 93, "lchown": 94, "fchownat": 260,
	"utime": 132, "utimes": 235, "futimesat": 261, "utimensat": 280,
	"setxattr": 188, "lsetxattr": 189, "fsetxattr": 190, "setxattrat": 463,
	"removexattr": 197, "lremovexattr": 198, "fremovexattr": 199, "removexattrat": 466,
	"file_setattr": 469,
}

// notFileMetadata are syscalls whose names look like metadata changes but
// change something other than a file.
var notFileMetadata = map[string]string{
	"mount_setattr":     "a mount's attributes (@mount, privileged)",
	"sched_setattr":     "a thread's scheduling",
	"mq_getsetattr":     "a message queue's flags (the IPC guard)",
	"lsm_set_self_attr": "the caller's own LSM attributes",
}

// TestFilterMetadataSyscalls checks that every syscall of the kernel's
// table that changes a file's metadata is refused with EACCES while the
// program's uid is shared (and allowed for a dynamic uid), and that the
// list is complete: every syscall whose name says it changes modes,
// owners, times, xattrs or attributes is in it or explained.
func TestFilterMetadataSyscalls(t *testing.T) {
	for _, name := range policy.SyscallNames() {
		looks := false
		for _, w := range []string{"chmod", "chown", "utime", "setxattr", "removexattr", "setattr", "set_self_attr"} {
			looks = looks || strings.Contains(name, w)
		}
		_, listed := metadataSyscallNumbers[name]
		if _, why := notFileMetadata[name]; looks && !listed && !why {
			t.Errorf("syscall %s looks like a metadata change: add it to metadataSyscalls (and here), or to notFileMetadata with the reason", name)
		}
		if listed {
			if nr, _ := policy.LookupSyscall(name); int32(nr) != metadataSyscallNumbers[name] {
				t.Errorf("%s is %d in the policy's table, %d in the kernel's", name, nr, metadataSyscallNumbers[name])
			}
		}
	}
	for name := range metadataSyscallNumbers {
		inGuard := false
		for _, g := range metadataSyscalls {
			inGuard = inGuard || g == name
		}
		if !inGuard {
			t.Errorf("%s is not in metadataSyscalls", name)
		}
	}
	for _, f := range simFilters(t) {
		for name, nr := range metadataSyscallNumbers {
			want := retErrno(unix.EACCES)
			switch {
			case !f.allowed[name]:
				want = retErrno(unix.EPERM) // the policy's own denial (@chown)
			case !f.shared:
				want = retAllow
			}
			d := seccompData{nr: nr, args: [6]uint64{0xffff_ff9c, 0x7000, 0o777, 0}}
			if got := f.run(t, d); got != want {
				t.Errorf("%s: %s = %s, want %s", f.name, name, retName(got), retName(want))
			}
		}
		// Numbers past the table (syscalls newer than it, whatever
		// they do) get the policy's errno, never ALLOW.
		known := map[int32]bool{}
		for _, name := range policy.SyscallNames() {
			nr, _ := policy.LookupSyscall(name)
			known[int32(nr)] = true
		}
		for nr := int32(0); nr < 1024; nr++ {
			if known[nr] {
				continue
			}
			if got := f.run(t, seccompData{nr: nr}); got != retErrno(unix.EPERM) {
				t.Errorf("%s: unknown syscall %d = %s, want the policy's ERRNO(EPERM)", f.name, nr, retName(got))
			}
		}
	}
}

// TestFilterIoctls checks the interface and file-attribute ioctls against
// a terminal's and a socket's own ioctls.
func TestFilterIoctls(t *testing.T) {
	own := map[uint32]bool{unix.SIOCOUTQNSD: true}
	attr := map[uint32]bool{}
	for _, c := range attrIoctlCmds {
		attr[c] = true
	}
	cmds := []uint32{unix.TCGETS, unix.TCSETS, unix.TIOCGWINSZ, unix.TIOCINQ, unix.TIOCOUTQ, 0x5421, 0x5451, // FIONBIO, FIOCLEX

		unix.FS_IOC_GETFLAGS, unix.SIOCGSTAMPNS_NEW, unix.SIOCGSTAMP_NEW, 0x8c00, 0x8aff}
	for c := uint32(0x8900); c <= 0x8c00; c++ {
		cmds = append(cmds, c)
	}
	cmds = append(cmds, attrIoctlCmds...)
	for _, f := range simFilters(t) {
		for _, cmd := range cmds {
			want := uint32(retAllow)
			switch {
			case (cmd >= 0x890b && cmd <= 0x89ff && !own[cmd]) || (cmd >= 0x8b00 && cmd <= 0x8bff):
				want = retErrno(unix.EACCES)
			case attr[cmd] && f.shared:
				want = retErrno(unix.EACCES)
			}
			for _, hi := range []uint64{0, 0xffff_ffff_0000_0000} {
				d := seccompData{nr: nrIoctl, args: [6]uint64{0, uint64(cmd) | hi, 0x7000}}
				if got := f.run(t, d); got != want {
					t.Errorf("%s: ioctl(0, %#x) = %s, want %s", f.name, d.args[1], retName(got), retName(want))
				}
			}
		}
		if got := f.run(t, seccompData{nr: nrIoctl, args: [6]uint64{0, unix.SIOCGIFCONF}}); got != retErrno(unix.EACCES) {
			t.Errorf("%s: SIOCGIFCONF = %s", f.name, retName(got))
		}
	}
}

// TestFilterArch: every other architecture is killed, whatever the guards.
func TestFilterArch(t *testing.T) {
	for _, f := range simFilters(t) {
		for _, arch := range []uint32{unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_AARCH64, 1} {
			if got := f.run(t, seccompData{nr: nrSocket, arch: arch}); got != retKill {
				t.Errorf("%s: arch %#x = %s, want KILL_PROCESS", f.name, arch, retName(got))
			}
		}
		// x32 numbers (bit 30) on the native arch: not in the table.
		if got := f.run(t, seccompData{nr: 0x40000000 | 39}); got == retAllow {
			t.Errorf("%s: x32 getpid allowed", f.name)
		}
	}
}

// TestFilterOtherProcesses: without a PID namespace, the calls that change
// another process's limits, priority or scheduling may name the caller
// only; with one, the namespace keeps other processes out of reach and the
// filter lets them be.
func TestFilterOtherProcesses(t *testing.T) {
	const other = 4242
	cases := []struct {
		name string
		nr   int32
		args [6]uint64
		self bool // names the caller itself, or only reads
	}{
		{"prlimit64 self", nrPrlimit64, [6]uint64{0, unix.RLIMIT_CPU, 0x7000, 0}, true},
		{"prlimit64 other, read", nrPrlimit64, [6]uint64{other, unix.RLIMIT_CPU, 0, 0x7000}, true},
		{"prlimit64 other, set", nrPrlimit64, [6]uint64{other, unix.RLIMIT_CPU, 0x7000, 0}, false},
		{"prlimit64 other, set above 4 GiB", nrPrlimit64, [6]uint64{other, unix.RLIMIT_CPU, 1 << 32, 0}, false},
		{"setpriority self", nrSetpriority, [6]uint64{unix.PRIO_PROCESS, 0, 19}, true},
		{"setpriority other", nrSetpriority, [6]uint64{unix.PRIO_PROCESS, other, 19}, false},
		{"setpriority own uid", nrSetpriority, [6]uint64{unix.PRIO_USER, 0, 19}, false},
		{"setpriority own group", nrSetpriority, [6]uint64{unix.PRIO_PGRP, 0, 19}, false},
		{"ioprio_set self", nrIoprioSet, [6]uint64{1, 0, 0}, true},
		{"ioprio_set other", nrIoprioSet, [6]uint64{1, other, 0}, false},
		{"ioprio_set own uid", nrIoprioSet, [6]uint64{3, 0, 0}, false},
		{"sched_setscheduler other", nrSchedSetscheduler, [6]uint64{other, 5, 0x7000}, false},
		{"sched_setscheduler self", nrSchedSetscheduler, [6]uint64{0, 5, 0x7000}, true},
		{"sched_setparam other", nrSchedSetparam, [6]uint64{other, 0x7000}, false},
		{"sched_setattr other", nrSchedSetattr, [6]uint64{other, 0x7000, 0}, false},
		{"sched_setaffinity other", nrSchedSetaffinity, [6]uint64{other, 8, 0x7000}, false},
		{"sched_setaffinity self", nrSchedSetaffinity, [6]uint64{0, 8, 0x7000}, true},
	}
	for _, f := range simFilters(t) {
		for _, c := range cases {
			want := uint32(retAllow)
			if !f.pidNS && !c.self {
				want = retErrno(unix.EPERM)
			}
			if got := f.run(t, seccompData{nr: c.nr, args: c.args}); got != want {
				t.Errorf("%s: %s = %s, want %s", f.name, c.name, retName(got), retName(want))
			}
		}
	}
}
