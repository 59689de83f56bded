package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockjail/sockjail/policy"
)

// Per-session cgroups: the session's memory (kernel memory and tmpfs pages
// included, no swap), tasks and CPU time are bounded together by a cgroup
// of its own, created before the program starts and removed after its last
// process is gone. cgroup_v1_linux.go and cgroup_v2_linux.go speak the two
// file protocols; this file plans, pools and tears down.
//
// On v1, a session's cgroup that ended cleanly is not removed but parked:
// with no task left, its counters reset, renamed to sockjail-idle-CTRL-BOUND
// (or one of its numbered slots), for the next session with the same bound
// (in this process or a later `run`) to take with a rename. Removing and
// creating a v1 memory cgroup and writing its limits cost about 0.5 ms of
// CPU per session here, a rename 30 µs. At most parkSlots cgroups per
// hierarchy and bound are parked: when every slot is taken, the session's
// is removed instead.
//
// Not covered: memory the kernel charges to sockjail rather than to the
// session (the namespaces and the init process the spawner clones, a few
// pages per session and not in the caller's control), and, on v1, kernel
// memory charged before a task joins (none: the program joins before it
// runs). Parked cgroups outlive sockjail: one per hierarchy and bound
// value that sessions used, empty, until a session takes it or the
// parent cgroup is removed (systemd does when the service stops).

// Cgroup modes, as the log line and the report write them.
const (
	CgroupV1   = "v1"   // per-session cgroups in the v1 hierarchies
	CgroupV2   = "v2"   // a per-session cgroup in the unified hierarchy
	CgroupUnit = "unit" // systemd's per-connection unit bounds the session (Accept=yes)
	CgroupNone = "none" // nothing bounds the session's totals
)

// sessionBounds are the totals a session's cgroup enforces; 0 means not
// bounded.
type sessionBounds struct {
	memory     uint64 // bytes
	tasks      uint64
	cpuPercent uint64 // of one CPU
}

func (b sessionBounds) any() bool { return b.memory != 0 || b.tasks != 0 || b.cpuPercent != 0 }

// cpuPeriod is the CFS period that cpu_quota is a share of, in
// microseconds: the kernel's and systemd's default.
const cpuPeriod = 100000

// cpuQuotaMicros is the quota per cpuPeriod for a share of one CPU.
func cpuQuotaMicros(percent uint64) uint64 { return percent * cpuPeriod / 100 }

// boundsOf returns the bounds the policy asks for, and which of them it
// wrote itself.
func boundsOf(l policy.Limits) sessionBounds {
	var b sessionBounds
	if !l.Memory.Unlimited {
		b.memory = l.Memory.Value
	}
	if !l.Tasks.Unlimited {
		b.tasks = l.Tasks.Value
	}
	if !l.CPUQuota.Unlimited {
		b.cpuPercent = l.CPUQuota.Value
	}
	return b
}

// cgroupDriver creates the session cgroups of one cgroup version.
type cgroupDriver interface {
	version() string
	// missing says which of b's bounds this driver can't enforce, and
	// why, without changing anything.
	missing(b sessionBounds) (sessionBounds, string)
	// create makes the cgroup named name with bounds b.
	create(name string, b sessionBounds) (*sessionCgroup, error)
	// sweep removes empty session cgroups that a sockjail which is no
	// longer running left behind.
	sweep()
	// parked reports whether a cgroup for bounds b is parked (see
	// sessionCgroup.parkDir), which create then takes with renames.
	parked(b sessionBounds) bool
}

// sessionCgroup is one session's cgroup (on v1, one directory in each
// hierarchy), ready for a program.
type sessionCgroup struct {
	v2   bool
	fs   cgroupFS
	dirs []string // removed (or parked) in this order
	// idle are the names under which dirs may be parked for a later
	// session with the same bounds ("": always removed); v1 only.
	idle []string
	// dirFD is the cgroup's directory (v2), for CLONE_INTO_CGROUP.
	dirFD int
	// oom is signalled by the kernel when the OOM killer acted in the
	// cgroup (v1 has no group kill: sockjail kills the rest).
	oom *os.File
	// memDir, cpuDir and acctDir hold the statistics (all the same dir
	// on v2).
	memDir, cpuDir, acctDir string
}

// open opens what the spawner needs to place the program in the cgroup
// (v2: the directory, for CLONE_INTO_CGROUP). It is done at the start, not
// when the cgroup is made ahead: a spare cgroup waiting for the next
// connection holds no descriptor (serve's descriptor count is the same
// before and after a load, which TestServeLoad checks). On v1 the
// program's process opens each cgroup.procs itself (procsFiles), while the
// namespace's init mounts; the OOM event is registered while it does
// (registerOOM).
func (c *sessionCgroup) open() error {
	if !c.v2 {
		return nil
	}
	fd, err := unix.Open(c.dirs[0], unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sockjail: opening the session's cgroup: %w", err)
	}
	c.dirFD = fd
	return nil
}

// procsFiles lists the cgroup.procs files the program's process writes
// itself into before anything else (v1; none on v2).
func (c *sessionCgroup) procsFiles() []string {
	if c.v2 {
		return nil
	}
	files := make([]string, len(c.dirs))
	for i, dir := range c.dirs {
		files[i] = filepath.Join(dir, "cgroup.procs")
	}
	return files
}

// closeFDs closes the descriptors only the start needs.
func (c *sessionCgroup) closeFDs() {
	if c.dirFD > 0 {
		unix.Close(c.dirFD)
		c.dirFD = -1
	}
}

// CgroupStats is what a session's cgroup counted, read at its end.
type CgroupStats struct {
	// MemoryPeak is the most memory the session used at once, in bytes
	// (0 when the kernel doesn't keep it).
	MemoryPeak uint64 `json:"memory_peak,omitempty"`
	// OOMKills counts processes the kernel's OOM killer ended.
	OOMKills uint64 `json:"oom_kills"`
	// CPUUsage is the CPU time the session used (0 when unknown).
	CPUUsage time.Duration `json:"cpu_usage,omitempty"`
	// Throttled counts CPU periods in which the quota stopped the session.
	Throttled uint64 `json:"cpu_throttled"`
}

// stats reads the cgroup's statistics.
func (c *sessionCgroup) stats() CgroupStats {
	var st CgroupStats
	if c.v2 {
		st.MemoryPeak = readUint(c.fs, c.memDir+"/memory.peak")
		st.OOMKills = readKeyed(c.fs, c.memDir+"/memory.events", "oom_kill")
		st.CPUUsage = time.Duration(readKeyed(c.fs, c.cpuDir+"/cpu.stat", "usage_usec")) * time.Microsecond
		st.Throttled = readKeyed(c.fs, c.cpuDir+"/cpu.stat", "nr_throttled")
		return st
	}
	if c.memDir != "" {
		st.MemoryPeak = readUint(c.fs, c.memDir+"/memory.max_usage_in_bytes")
		st.OOMKills = readKeyed(c.fs, c.memDir+"/memory.oom_control", "oom_kill")
	}
	if c.cpuDir != "" {
		st.Throttled = readKeyed(c.fs, c.cpuDir+"/cpu.stat", "nr_throttled")
	}
	if c.acctDir != "" {
		st.CPUUsage = time.Duration(readUint(c.fs, c.acctDir+"/cpuacct.usage"))
	}
	return st
}

// destroy removes the cgroup. Its processes must be gone; any that are
// not (a session without a PID namespace) are killed first.
func (c *sessionCgroup) destroy() error { return c.release(false, CgroupStats{}) }

// release ends the session's use of the cgroup. With reuse (every process
// of the session is known to be gone, and st is what the cgroup counted),
// each directory that can serve a later session as if it were new is
// parked under its idle name instead of removed: see parkDir. The rest is
// removed as destroy does.
func (c *sessionCgroup) release(reuse bool, st CgroupStats) error {
	c.closeFDs()
	if c.oom != nil {
		c.oom.Close()
		c.oom = nil
	}
	var errs []error
	for i, dir := range c.dirs {
		if reuse && i < len(c.idle) && c.idle[i] != "" && c.parkDir(dir, c.idle[i], st) {
			continue
		}
		if err := c.removeDir(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// parkDir resets what dir counted and renames it to idle, for the next
// session with the same bounds to take (v1Driver.create renames it back):
// a rename costs a fraction of what removing and creating a memory cgroup
// and writing its limits cost. It reports false, leaving dir to be
// removed, when dir's counters can't be made those of a new cgroup (the
// OOM killer acted in it or the quota throttled it: those counts can't be
// reset), when the reset fails, or when every slot (parkSlots) holds
// another session's cgroup already.
func (c *sessionCgroup) parkDir(dir, idle string, st CgroupStats) bool {
	switch dir {
	case c.memDir:
		// What the session left charged (page cache, dentries) stays
		// charged: it is reclaimable, and the kernel reclaims it first
		// when the next session nears the limit, so the bound is never
		// looser. memory.force_empty would reclaim it now, but costs
		// about 1 ms of CPU and a hundred preemptions per session
		// here (make bench). The peak is reset to the usage left.
		if st.OOMKills != 0 || c.fs.WriteFile(dir+"/memory.max_usage_in_bytes", "0") != nil {
			return false
		}
	case c.cpuDir:
		if st.Throttled != 0 {
			return false
		}
		if c.acctDir == dir && c.fs.WriteFile(dir+"/cpuacct.usage", "0") != nil {
			return false
		}
	case c.acctDir:
		if c.fs.WriteFile(dir+"/cpuacct.usage", "0") != nil {
			return false
		}
	}
	// An occupied slot is skipped on a lookup: renaming onto it would
	// fail too, but only after taking cgroupfs's global lock.
	for k := range parkSlots {
		slot := idleSlot(idle, k)
		if unix.Access(slot, unix.F_OK) == nil {
			continue
		}
		if c.fs.Rename(dir, slot) == nil {
			return true
		}
	}
	return false
}

// removeDir kills what is left in dir and removes it. A task that was just
// killed leaves the cgroup a moment later, so rmdir is retried for up to a
// second.
func (c *sessionCgroup) removeDir(dir string) error {
	deadline := time.Now().Add(time.Second)
	for {
		err := c.fs.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("sockjail: removing the session's cgroup %s: %w", dir, err)
		}
		c.killAll(dir)
		time.Sleep(time.Millisecond)
	}
}

// killAll sends SIGKILL to every process in the cgroup dir.
func (c *sessionCgroup) killAll(dir string) {
	if c.v2 && c.fs.WriteFile(dir+"/cgroup.kill", "1") == nil {
		return
	}
	b, _ := c.fs.ReadFile(dir + "/cgroup.procs")
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			unix.Kill(pid, syscall.SIGKILL)
		}
	}
}

// cgroupPlan is a Sandbox's cgroup setup.
type cgroupPlan struct {
	drv    cgroupDriver // nil: no session cgroups
	bounds sessionBounds

	mu sync.Mutex
	// spare is a cgroup created ahead of the next Start, off its path:
	// creating one costs a few hundred microseconds.
	spare    *sessionCgroup
	inflight int        // refills under way
	refilled *sync.Cond // a refill ended
	starts   int
	closed   bool
	refills  sync.WaitGroup
	// swept: the sweep of what killed sockjails left has run. It runs
	// once, after the first session has ended (see sweepOnce).
	swept sync.Once
}

// sweepOnce removes, the first time it is called, the session cgroups that
// sockjail processes which are gone left behind. It runs at the end of the
// first session, after its connection is closed: reading the hierarchies'
// directories costs about 0.2 ms of CPU, which `run` should not spend
// before its program starts.
func (s *Sandbox) sweepOnce() {
	if s.cg.drv != nil {
		s.cg.swept.Do(s.cg.drv.sweep)
	}
}

// planCgroup decides how the session's totals are bounded here: by a
// per-session cgroup, by the systemd unit sockjail runs in, or not at all.
// A bound the policy file wrote and that can't be enforced is a gap (a
// strict policy refuses); a default one is logged as skipped.
func (s *Sandbox) planCgroup(g *gaps) {
	want := boundsOf(s.policy.Limits)
	s.report.Cgroup = CgroupNone
	if !want.any() {
		return
	}
	drv, why := detectCgroups(s.opt)
	var missing sessionBounds
	if drv != nil {
		missing, why = drv.missing(want)
	} else {
		missing = want
	}
	if drv != nil && missing != want {
		s.cg.drv = drv
		s.report.Cgroup = drv.version()
	} else if unitBounds(want) {
		// Accept=yes: the connection's own unit holds the bounds.
		missing = sessionBounds{}
		s.report.Cgroup = CgroupUnit
	}
	s.cg.bounds = want
	if missing.memory != 0 {
		s.cg.bounds.memory = 0
	}
	if missing.tasks != 0 {
		s.cg.bounds.tasks = 0
	}
	if missing.cpuPercent != 0 {
		s.cg.bounds.cpuPercent = 0
	}
	s.report.MemoryMax = s.cg.bounds.memory
	s.report.TasksMax = s.cg.bounds.tasks
	s.report.CPUQuota = s.cg.bounds.cpuPercent
	written := s.policy.Limits.Written
	hint := "(hint: run sockjail as root, or under systemd with Delegate=yes as 'sockjail unit' writes it, or use an Accept=yes unit; 'sockjail probe' says what this machine offers; or write \"unlimited\")"
	var defaults []string
	for _, m := range []struct {
		key     string
		value   string
		missing bool
		written bool
	}{
		{"memory", policy.Size(want.memory).String(), missing.memory != 0, written.Memory},
		{"tasks", strconv.FormatUint(want.tasks, 10), missing.tasks != 0, written.Tasks},
		{"cpu_quota", strconv.FormatUint(want.cpuPercent, 10) + "%", missing.cpuPercent != 0, written.CPUQuota},
	} {
		switch {
		case !m.missing:
		case m.written:
			g.add("[limits] %s = %s can't be enforced: %s %s", m.key, m.value, why, hint)
		default:
			defaults = append(defaults, m.key+"="+m.value)
		}
	}
	if len(defaults) > 0 {
		s.report.Skipped = append(s.report.Skipped, fmt.Sprintf("default session bounds %s (%s)", strings.Join(defaults, " "), why))
	}
}

// startCgroupPrefetch takes a parked cgroup for the first session, or
// creates one in the background while the caller prepares the rest of the
// connection.
func (s *Sandbox) startCgroupPrefetch() {
	if s.cg.drv == nil {
		return
	}
	s.cg.refilled = sync.NewCond(&s.cg.mu)
	// Taking a parked cgroup costs a few renames and opens, less than
	// handing them to a goroutine costs (its thread's wake-ups, and the
	// runtime's hand-offs of a P around each system call).
	if s.cg.drv.parked(s.cg.bounds) {
		if c, err := s.newSessionCgroup(); err == nil {
			s.cg.spare = c
			return
		}
	}
	s.cg.mu.Lock()
	s.goRefillLocked()
	s.cg.mu.Unlock()
}

// goRefillLocked starts a refill of the spare. s.cg.mu is held.
func (s *Sandbox) goRefillLocked() {
	s.cg.inflight++
	s.cg.refills.Add(1)
	go s.refillCgroup()
}

// refillCgroup creates a spare cgroup; it removes it again when the
// Sandbox was closed meanwhile or a spare is ready.
func (s *Sandbox) refillCgroup() {
	defer s.cg.refills.Done()
	c, err := s.newSessionCgroup()
	s.cg.mu.Lock()
	s.cg.inflight--
	if err == nil && !s.cg.closed && s.cg.spare == nil {
		s.cg.spare, c = c, nil
	}
	s.cg.refilled.Broadcast()
	s.cg.mu.Unlock()
	if err == nil && c != nil {
		c.release(true, CgroupStats{}) // never used: as good as new
	}
}

// cgroupSeq numbers the session cgroups of this process, across Sandboxes.
var cgroupSeq atomic.Uint64

func (s *Sandbox) newSessionCgroup() (*sessionCgroup, error) {
	name := "sockjail-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(cgroupSeq.Add(1), 10)
	return s.cg.drv.create(name, s.cg.bounds)
}

// takeCgroup returns the cgroup for a Start: the spare, or the one a
// refill under way is making (it is done sooner than a new one would be),
// else a new one. From the second Start on, it prepares the next one in
// the background (a one-shot `run` starts once, a `serve` many times).
func (s *Sandbox) takeCgroup() (*sessionCgroup, error) {
	s.cg.mu.Lock()
	s.cg.starts++
	for s.cg.spare == nil && s.cg.inflight > 0 {
		s.cg.refilled.Wait()
	}
	c := s.cg.spare
	s.cg.spare = nil
	if s.cg.starts > 1 && !s.cg.closed {
		s.goRefillLocked()
	}
	s.cg.mu.Unlock()
	if c == nil {
		var err error
		if c, err = s.newSessionCgroup(); err != nil {
			return nil, err
		}
	}
	if err := c.open(); err != nil {
		c.destroy()
		return nil, err
	}
	return c, nil
}

// closeCgroups parks the spare cgroup and waits for refills under way,
// which park or remove what they make, so that nothing of this Sandbox is
// in use when Close returns.
func (s *Sandbox) closeCgroups() {
	s.cg.mu.Lock()
	s.cg.closed = true
	c := s.cg.spare
	s.cg.spare = nil
	s.cg.mu.Unlock()
	if c != nil {
		c.release(true, CgroupStats{}) // never used: as good as new
	}
	s.cg.refills.Wait()
}

// registerOOM asks the kernel to signal the session's OOM event (v1; v2
// has memory.oom.group). Start calls it while the program's process sets
// up, off the path to the program's start: watchOOM then catches an OOM
// kill that came before it.
func (c *sessionCgroup) registerOOM() error {
	if c.v2 || c.memDir == "" {
		return nil
	}
	return c.registerOOMEvent(c.memDir)
}

// watchOOM makes an OOM kill in the session's cgroup end the whole
// session (v1; v2 has memory.oom.group).
func (p *Process) watchOOM(c *sessionCgroup) {
	if c.oom == nil {
		return
	}
	go func() {
		var b [8]byte
		// The event was registered after the program's process joined
		// the cgroup: look once for a kill it could not see.
		for !p.oomKill(c) {
			if _, err := c.oom.Read(b[:]); err != nil {
				return // closed at the session's end
			}
			// The event also fires when the cgroup is removed; oomKill
			// tells the two apart.
		}
	}()
}

// oomKill reports whether the OOM killer acted in the session's memory
// cgroup, and if so ends the whole session.
func (p *Process) oomKill(c *sessionCgroup) bool {
	if readKeyed(c.fs, c.memDir+"/memory.oom_control", "oom_kill") == 0 {
		return false
	}
	p.mu.Lock()
	p.oomKilled = true
	p.mu.Unlock()
	p.KillTree()
	return true
}

// readUint reads a file holding one number; 0 when it can't.
func readUint(fs cgroupFS, path string) uint64 {
	b, err := fs.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// readKeyed reads the value of key from a "key value" lines file (cpu.stat,
// memory.events, memory.oom_control); 0 when it can't.
func readKeyed(fs cgroupFS, path, key string) uint64 {
	b, err := fs.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+" "); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// cgroupFS is the file operations the cgroup code makes: on cgroupfs in
// production, and on a directory laid out like it in the tests of the v2
// file protocol on hosts without a v2 hierarchy with controllers.
type cgroupFS interface {
	Mkdir(path string) error
	Rmdir(path string) error
	// Rename renames the cgroup at from to to, in the same parent; it
	// fails when to exists.
	Rename(from, to string) error
	WriteFile(path, data string) error
	ReadFile(path string) ([]byte, error)
	// Delegated reports whether the cgroup dir was delegated to sockjail.
	Delegated(dir string) bool
}

// kernelFS is cgroupfs.
type kernelFS struct{}

func (kernelFS) Mkdir(path string) error { return unix.Mkdir(path, 0o755) }
func (kernelFS) Rmdir(path string) error { return unix.Rmdir(path) }

// Rename relies on kernfs, which refuses (EEXIST) to rename onto an
// existing directory: two sessions can't take or park the same cgroup.
func (kernelFS) Rename(from, to string) error { return unix.Rename(from, to) }

// WriteFile writes data to an existing control file in one write(2), as
// cgroupfs wants it.
func (kernelFS) WriteFile(path, data string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(data)); err != nil {
		return fmt.Errorf("writing %q to %s: %w", data, path, err)
	}
	return nil
}

func (kernelFS) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

// delegationXattrs are the extended attributes systemd sets on a delegated
// cgroup (trusted.* when the service manager runs as root).
var delegationXattrs = []string{"trusted.delegate", "user.delegate"}

func (kernelFS) Delegated(dir string) bool {
	var buf [8]byte
	for _, x := range delegationXattrs {
		if n, err := unix.Getxattr(dir, x, buf[:]); err == nil && n > 0 && buf[0] == '1' {
			return true
		}
	}
	return false
}

// ownCgroups parses /proc/self/cgroup: the v1 controllers' paths by
// controller name ("memory" → "/a/b"), and the unified path ("0::").
func ownCgroups() (v1 map[string]string, unified string, err error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, "", err
	}
	v1 = map[string]string{}
	unified = "-"
	for _, l := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			unified = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			v1[c] = parts[2] + "\x00" + parts[1] // path and the hierarchy's mount name
		}
	}
	return v1, unified, nil
}

// detectCgroups returns the driver for this machine's cgroups, or why
// there is none. It changes nothing.
func detectCgroups(opt Options) (cgroupDriver, string) {
	if opt.cgroupV2 != nil {
		return newV2Driver(opt.cgroupV2.root, opt.cgroupV2.fs, opt.cgroupV2.own)
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		return nil, "no cgroup file system at /sys/fs/cgroup"
	}
	v1, unified, err := ownCgroups()
	if err != nil {
		return nil, "can't read /proc/self/cgroup: " + err.Error()
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		if unified == "-" {
			return nil, "no cgroup2 entry in /proc/self/cgroup"
		}
		return newV2Driver("/sys/fs/cgroup", kernelFS{}, unified)
	}
	return newV1Driver("/sys/fs/cgroup", v1)
}

// unitBounds reports whether sockjail runs in a per-connection systemd unit
// (Accept=yes: an instance "name@N-….service", whose cgroup holds only this
// connection) whose own cgroup bounds the session at least as tightly as b.
// `sockjail unit` writes MemoryMax=, TasksMax= and CPUQuota= there.
func unitBounds(b sessionBounds) bool {
	v1, unified, err := ownCgroups()
	if err != nil {
		return false
	}
	isInstance := func(path string) bool {
		base := filepath.Base(path)
		return strings.Contains(base, "@") && strings.HasSuffix(base, ".service")
	}
	fs := kernelFS{}
	limit := func(path string) (uint64, bool) {
		b, err := fs.ReadFile(path)
		if err != nil {
			return 0, false
		}
		f := strings.Fields(string(b))
		if len(f) == 0 || f[0] == "max" {
			return 0, false
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		return n, err == nil
	}
	within := func(have uint64, ok bool, want uint64) bool { return want == 0 || ok && have <= want }
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		dir := filepath.Join("/sys/fs/cgroup", unified)
		if unified == "-" || !isInstance(unified) {
			return false
		}
		mem, memOK := limit(dir + "/memory.max")
		tasks, tasksOK := limit(dir + "/pids.max")
		quota, quotaOK := limit(dir + "/cpu.max")
		return within(mem, memOK, b.memory) && within(tasks, tasksOK, b.tasks) &&
			within(quota*100/cpuPeriod, quotaOK, b.cpuPercent)
	}
	dir := func(ctrl string) (string, bool) {
		v, ok := v1[ctrl]
		path, mount, _ := strings.Cut(v, "\x00")
		return filepath.Join("/sys/fs/cgroup", mount, path), ok && isInstance(path)
	}
	memDir, memInst := dir("memory")
	pidsDir, pidsInst := dir("pids")
	cpuDir, cpuInst := dir("cpu")
	if (b.memory != 0 && !memInst) || (b.tasks != 0 && !pidsInst) || (b.cpuPercent != 0 && !cpuInst) {
		return false
	}
	mem, memOK := limit(memDir + "/memory.limit_in_bytes")
	tasks, tasksOK := limit(pidsDir + "/pids.max")
	quota, quotaOK := limit(cpuDir + "/cpu.cfs_quota_us")
	period, _ := limit(cpuDir + "/cpu.cfs_period_us")
	if period == 0 {
		period = cpuPeriod
	}
	return within(mem, memOK, b.memory) && within(tasks, tasksOK, b.tasks) &&
		within(quota*100/period, quotaOK && quota != ^uint64(0), b.cpuPercent)
}
