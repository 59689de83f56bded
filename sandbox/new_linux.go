package sandbox

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/sockjail/sockjail/policy"
)

// Sandbox is a policy applied to one program, prepared for many starts.
// Its methods are safe for concurrent use.
type Sandbox struct {
	policy *policy.Policy
	opt    Options
	path   string   // resolved program
	argv   []string // argv[0] as given
	exec   []string // program + #! interpreters: read+execute
	// progFD is the program, opened O_PATH by New: the spawner executes
	// it through /proc/self/fd when the program's user can't reach its
	// path (reach_linux.go). -1 when none.
	progFD     int
	progScript bool // the program starts with #!
	workdir    string
	dynamic    bool

	ns        nsPlan
	tmpMounts []string // NEWNS: where the tmpfs goes
	tmpOpts   string
	procMount bool   // NEWNS+NEWPID: a fresh procfs on /proc
	shmOpts   string // NEWNS: the private /dev/shm's tmpfs options; "": none
	creds     creds
	rlimits   []rlimit
	ll        landlockPlan
	sc        seccompPlan
	cg        cgroupPlan

	report Report // the template for every Process

	tmpl   cTemplate
	mu     sync.RWMutex // Start holds R, Close holds W
	closed bool
}

// nsPlan says which namespaces each Start creates.
type nsPlan struct {
	cloneFlags uintptr
	init       bool // a PID namespace with sockjail's init
	userns     bool
	// outerUID/GID are sockjail's ids, mapped 1:1 in a user namespace.
	outerUID, outerGID int
}

type rlimit struct {
	resource int
	cur, max uint64
}

// New prepares p for running argv: it resolves the program, builds the
// seccomp filter and Landlock ruleset, resolves credentials and limits, and
// checks every protection against this machine. With a strict policy a
// missing protection gives a *RefusedError; a missing or non-executable
// program gives a *ProgramError.
//
// New does not start anything. Close the Sandbox to release the ruleset.
func New(p *policy.Policy, argv []string, opt Options) (*Sandbox, error) {
	if len(argv) == 0 {
		return nil, &ProgramError{Kind: NotFound, Err: fmt.Errorf("no program given")}
	}
	s, g, err := prepare(p, argv, opt)
	if err != nil {
		return nil, err
	}
	if g.strict && len(g.missing) > 0 {
		s.closeRuleset()
		return nil, &RefusedError{Missing: g.missing}
	}
	s.report.Skipped = append(s.report.Skipped, g.missing...)
	fd, err := unix.Open(s.path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		s.closeRuleset()
		return nil, programError(argv[0], err)
	}
	s.progFD = fd
	s.buildTemplate()
	s.startCgroupPrefetch()
	return s, nil
}

// Plan is what a policy would enforce on this machine.
type Plan struct {
	// Report is what every session would run with (Skipped included, as
	// if the policy were best-effort).
	Report Report `json:"report"`
	// Refused lists why a strict policy would not start any program;
	// empty when it would start (or the policy is best-effort).
	Refused []string `json:"refused,omitempty"`
}

// PlanPolicy says what p would enforce here, or why it would refuse, with
// everything New checks except the program itself.
func PlanPolicy(p *policy.Policy, opt Options) (Plan, error) {
	s, g, err := prepare(p, nil, opt)
	if err != nil {
		return Plan{}, err
	}
	s.closeRuleset()
	pl := Plan{Report: s.report}
	pl.Report.Skipped = append(pl.Report.Skipped, g.missing...)
	if g.strict {
		pl.Refused = g.missing
	}
	return pl, nil
}

// prepare computes a Sandbox for argv (nil: no program) and the gaps
// between what p asks and what this machine gives.
func prepare(p *policy.Policy, argv []string, opt Options) (*Sandbox, *gaps, error) {
	if p == nil {
		return nil, nil, errors.New("no policy")
	}
	s := &Sandbox{
		policy:  p,
		opt:     opt,
		argv:    slices.Clone(argv),
		progFD:  -1,
		workdir: p.Program.Workdir,
	}
	if len(argv) > 0 {
		searchPath := DefaultPath
		if v, ok := p.Program.Env["PATH"]; ok && v != "" {
			searchPath = v
		}
		path, err := resolveProgram(argv[0], searchPath)
		if err != nil {
			return nil, nil, err
		}
		s.path = path
		s.exec = append([]string{path}, interpreters(path, searchPath)...)
	}

	g := &gaps{strict: p.Enforce != policy.EnforceBestEffort}
	if err := s.planCreds(g); err != nil {
		return nil, nil, err
	}
	s.planNamespaces(g)
	s.planCgroup(g)
	if len(s.exec) > 0 {
		if err := s.checkReachable(); err != nil {
			return nil, nil, err
		}
	}
	if err := s.planLimits(); err != nil {
		return nil, nil, err
	}
	if opt.Trace != nil {
		if err := s.planTrace(); err != nil {
			return nil, nil, err
		}
		return s, g, nil
	}
	if err := s.planLandlock(g); err != nil {
		return nil, nil, err
	}
	if err := s.planSeccomp(g); err != nil {
		s.closeRuleset()
		return nil, nil, err
	}
	return s, g, nil
}

// gaps collects protections the policy wants and this machine lacks.
type gaps struct {
	strict  bool
	missing []string
}

func (g *gaps) add(format string, args ...any) {
	g.missing = append(g.missing, fmt.Sprintf(format, args...))
}

// Report returns what every Start of s enforces (a dynamic uid and a
// TmpDir directory are filled in per Process).
func (s *Sandbox) Report() Report { return s.report }

// Path returns the resolved program path.
func (s *Sandbox) Path() string { return s.path }

// Close releases the Landlock ruleset and the prepared C data. Processes
// already started are not affected; Start fails afterwards.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.closeRuleset()
	if s.progFD >= 0 {
		unix.Close(s.progFD)
		s.progFD = -1
	}
	s.closeCgroups()
	s.tmpl.free()
	return nil
}

// planNamespaces picks the namespaces: as root a mount (for the private
// /tmp, /proc and /dev/shm) and PID namespace; unprivileged a user namespace
// around them when the kernel allows it; else none, with a per-session
// TMPDIR, no fresh /proc and no private /dev/shm.
func (s *Sandbox) planNamespaces(g *gaps) {
	uid, gid := os.Geteuid(), os.Getegid()
	s.ns.outerUID, s.ns.outerGID = uid, gid
	fsys := s.policy.Filesystem
	wantTmp := fsys.PrivateTmp
	// A new IPC namespace too: System V IPC and POSIX message queues live
	// there, not in the filesystem that Landlock and the private /tmp
	// cover, and would otherwise be shared between sessions and outlive
	// them.
	var flags uintptr = unix.CLONE_NEWPID | unix.CLONE_NEWIPC
	if wantTmp || fsys.Proc || fsys.ShmSize > 0 {
		flags |= unix.CLONE_NEWNS
	}
	switch {
	case uid == 0 && (hasCapSysAdmin() || nsUsable(flags, uid, gid) == nil):
		s.ns.cloneFlags = flags
		s.ns.init = true
		s.report.Tmp = TmpNamespace
	case uid != 0 && !s.opt.NoUserNS && nsUsable(flags|unix.CLONE_NEWUSER, uid, gid) == nil:
		s.ns.cloneFlags = flags | unix.CLONE_NEWUSER
		s.ns.init = true
		s.ns.userns = true
		s.report.Tmp = TmpUserNS
		// In the user namespace we hold every capability, so the
		// bounding set can (and must) be emptied there.
		s.creds.dropBounding = true
	default:
		s.report.Tmp = TmpDir
	}
	if !wantTmp {
		s.report.Tmp = TmpOff
	}
	if s.report.Tmp == TmpDir {
		// A directory on the host's /tmp has no size or inode cap of its
		// own; the session's memory cgroup, where there is one, still
		// bounds the kernel memory its inodes cost.
		s.report.Skipped = append(s.report.Skipped, "tmp_size and tmp_inodes (the private /tmp is a directory on the host's /tmp, not a tmpfs)")
	}
	s.report.PIDNS = s.ns.init
	s.report.IPCNS = s.ns.init
	s.report.UserNS = s.ns.userns
	if !s.ns.init && !s.dynamic {
		// Not a refusal: the process group still ends with the program,
		// only a grandchild that calls setsid can escape it.
		s.report.Skipped = append(s.report.Skipped, "pid namespace (a setsid grandchild can outlive the session)")
	}
	if s.ns.cloneFlags&unix.CLONE_NEWNS != 0 && wantTmp {
		for _, d := range []string{"/tmp", "/var/tmp"} {
			if fi, err := os.Stat(d); err == nil && fi.IsDir() {
				s.tmpMounts = append(s.tmpMounts, d)
			}
		}
		size := uint64(s.policy.Filesystem.TmpSize)
		if size == 0 {
			size = 64 << 20
		}
		inodes := s.policy.Filesystem.TmpInodes
		if inodes == 0 {
			inodes = 10000
		}
		s.tmpOpts = "size=" + strconv.FormatUint(size, 10) + ",nr_inodes=" + strconv.FormatUint(inodes, 10) + ",mode=1777"
	}
	s.planProc(g)
	s.planShm()
}

// procSubsetKernel is the first kernel with procfs's subset=pid.
var procSubsetKernel = [2]int{5, 8}

// planProc decides whether sessions get a fresh /proc. Where they can't,
// the default policy goes on without one (the host's /proc stays, denied by
// Landlock) and says so in every session's log; a policy that writes
// proc = true itself makes it a gap, which a strict policy refuses.
func (s *Sandbox) planProc(g *gaps) {
	fsys := s.policy.Filesystem
	if !fsys.Proc {
		return
	}
	var why string
	switch {
	case !s.ns.init || s.ns.cloneFlags&unix.CLONE_NEWNS == 0:
		why = "no mount and PID namespace here (unprivileged without user namespaces): the host's /proc stays, and Landlock denies it"
	case !kernelAtLeast(procSubsetKernel):
		why = fmt.Sprintf("the kernel lacks procfs's subset=pid (Linux %d.%d)", procSubsetKernel[0], procSubsetKernel[1])
	case s.ns.userns || !initialUserNS():
		// In a user namespace other than the first, the kernel refuses
		// a procfs unless a fully visible one is already mounted
		// ("mount too revealing"): in containers whose /proc has
		// masked parts. The probe tries it once, as a session would.
		if err := procUsable(s.ns.cloneFlags, s.ns.outerUID, s.ns.outerGID); err != nil {
			why = fmt.Sprintf("the kernel refused to mount it (%v; in a container, a masked /proc forbids a new one)", err)
		}
	}
	if why == "" {
		s.procMount = true
		s.report.Proc = true
		return
	}
	if fsys.ProcExplicit {
		g.add("fresh /proc: %s", why)
		return
	}
	s.report.Skipped = append(s.report.Skipped, "fresh /proc ("+why+")")
}

// planShm plans the private /dev/shm: a tmpfs of shm_size with one inode per
// shmBytesPerInode, so that neither pages nor inodes are unbounded. Without a
// mount namespace there is none, the host's /dev/shm stays denied, and the
// log says so. It is never a refusal: no protection is missing, only a
// place to write.
func (s *Sandbox) planShm() {
	size := s.policy.Filesystem.ShmSize.Bytes()
	if size == 0 {
		return
	}
	if s.ns.cloneFlags&unix.CLONE_NEWNS == 0 {
		s.report.Skipped = append(s.report.Skipped, "private /dev/shm (no mount namespace here: the host's /dev/shm stays, and Landlock denies it)")
		return
	}
	if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
		s.report.Skipped = append(s.report.Skipped, "private /dev/shm (no /dev/shm directory to mount it on)")
		return
	}
	inodes := max(size/shmBytesPerInode, shmMinInodes)
	s.shmOpts = "size=" + strconv.FormatUint(size, 10) + ",nr_inodes=" + strconv.FormatUint(inodes, 10) + ",mode=1777"
	s.report.Shm = size
}

// The private /dev/shm's inode bound: one inode per 16 KiB, at least 64
// (16 MiB gives 1024). Semaphores and shared memory segments are a few
// files each; a tmpfs inode costs kernel memory outside its size.
const (
	shmBytesPerInode = 16 << 10
	shmMinInodes     = 64
)

// initialUserNS reports whether sockjail runs in the first user namespace,
// where the kernel never refuses a procfs as too revealing. Its uid_map maps
// every uid to itself.
func initialUserNS() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295"
}

// kernelAtLeast reports whether the running kernel's release is at least
// v (major, minor).
func kernelAtLeast(v [2]int) bool {
	var uts unix.Utsname
	if unix.Uname(&uts) != nil {
		return false
	}
	rel := unix.ByteSliceToString(uts.Release[:])
	var maj, min int
	if _, err := fmt.Sscanf(rel, "%d.%d", &maj, &min); err != nil {
		return false
	}
	return maj > v[0] || maj == v[0] && min >= v[1]
}

// hasCapSysAdmin reports whether sockjail holds CAP_SYS_ADMIN in its
// effective set. Root with it can create mount, PID and IPC namespaces and
// mount a tmpfs, so `run` need not fork a probe child on every connection
// (0.4 ms of its start). Should something else still forbid them (a seccomp
// filter around sockjail), Start fails at the clone step and the connection
// is refused: fail-closed, never a silent fallback.
func hasCapSysAdmin() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[0].Effective&(1<<unix.CAP_SYS_ADMIN) != 0
}

var (
	nsProbeMu    sync.Mutex
	nsProbeCache = map[uintptr]nsProbe{}
)

// nsProbe is what probeClone found for one flag set.
type nsProbe struct {
	err     error // cloning into the namespaces
	procErr error // mounting a fresh procfs in them
}

func probeCached(flags uintptr, uid, gid int) nsProbe {
	nsProbeMu.Lock()
	defer nsProbeMu.Unlock()
	if r, ok := nsProbeCache[flags]; ok {
		return r
	}
	var r nsProbe
	r.err, r.procErr = probeClone(flags, uid, gid)
	nsProbeCache[flags] = r
	return r
}

// nsUsable reports (once per flag set) whether a child can be cloned into
// new namespaces with flags.
func nsUsable(flags uintptr, uid, gid int) error { return probeCached(flags, uid, gid).err }

// procUsable reports (from the same probe) whether a session cloned with
// flags, which hold CLONE_NEWNS and CLONE_NEWPID, can mount a fresh procfs.
func procUsable(flags uintptr, uid, gid int) error {
	r := probeCached(flags, uid, gid)
	if r.err != nil {
		return r.err
	}
	return r.procErr
}

// planLimits turns [limits] into setrlimit calls for the program. A value
// above sockjail's own hard limit is lowered to it when sockjail cannot
// raise hard limits (unprivileged): the result is stricter than asked, never
// looser.
func (s *Sandbox) planLimits() error {
	l := s.policy.Limits
	for _, e := range []struct {
		res int
		lim policy.Limit
	}{
		{unix.RLIMIT_NOFILE, l.NoFile},
		{unix.RLIMIT_NPROC, l.NProc},
		{unix.RLIMIT_CPU, l.CPU},
		{unix.RLIMIT_AS, l.AddressSpace},
		{unix.RLIMIT_FSIZE, l.FileSize},
		{unix.RLIMIT_CORE, l.Core},
	} {
		v := e.lim.Value
		if e.lim.Unlimited {
			v = unix.RLIM_INFINITY
		}
		if os.Geteuid() != 0 {
			var cur unix.Rlimit
			if err := unix.Getrlimit(e.res, &cur); err != nil {
				return fmt.Errorf("getrlimit(%d): %w", e.res, err)
			}
			v = min(v, cur.Max)
		}
		s.rlimits = append(s.rlimits, rlimit{resource: e.res, cur: v, max: v})
	}
	return nil
}

// sessionTmpDir creates the TmpDir-mode directory of one session, mode
// 0700 and owned by uid. The spawner grants the program read-write access to
// it and Landlock denies the rest of /tmp.
func sessionTmpDir(uid int) (string, error) {
	dir, err := os.MkdirTemp("/tmp", "sockjail.")
	if err != nil {
		return "", fmt.Errorf("creating the session's TMPDIR: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		os.Remove(dir)
		return "", err
	}
	if uid != os.Geteuid() {
		if err := os.Lchown(dir, uid, -1); err != nil {
			os.Remove(dir)
			return "", fmt.Errorf("chown %s: %w", dir, err)
		}
	}
	return dir, nil
}
