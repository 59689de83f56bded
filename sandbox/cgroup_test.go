package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/policy"
)

// The session cgroup tests run against this machine's real cgroups: v1 on
// a hybrid host like the CI's, v2 where the host is unified and sockjail
// may create cgroups. Each logs which one ran.

// requireSessionCgroups skips (or fails under SOCKJAIL_NO_SKIP) unless
// sockjail can create session cgroups here, and returns the driver.
func requireSessionCgroups(t *testing.T) cgroupDriver {
	t.Helper()
	testenv.RequireRoot(t)
	drv, why := detectCgroups(Options{})
	if drv == nil {
		testenv.SkipOrFail(t, "sockjail can't create session cgroups here: "+why)
	}
	if m, why := drv.missing(sessionBounds{1, 1, 1}); m.any() {
		testenv.SkipOrFail(t, "some controllers are missing: "+why)
	}
	t.Logf("session cgroups: %s (the real kernel's)", drv.version())
	return drv
}

// boundsPolicy is the default policy with the given session bounds.
func boundsPolicy(t *testing.T, memory, tasks, cpu uint64) *policy.Policy {
	return testPolicy(t, func(p *policy.Policy) {
		p.Limits.Memory = policy.Limit{Value: memory}
		p.Limits.Tasks = policy.Limit{Value: tasks}
		p.Limits.CPUQuota = policy.Limit{Value: cpu}
		p.Limits.Written = policy.SessionBounds{Memory: true, Tasks: true, CPUQuota: true}
		// The memory bomb maps more than the default RLIMIT_AS; nproc
		// (256) is above the tasks the tests allow.
		p.Limits.AddressSpace = policy.Limit{Unlimited: true}
		p.Filesystem.ReadOnly = append(p.Filesystem.ReadOnly, policy.Path{Name: "/proc"})
	})
}

// sessionCgroupDirs lists the session cgroups this test process made that
// still exist.
func sessionCgroupDirs(t *testing.T, s *Sandbox) []string {
	t.Helper()
	var bases []string
	switch d := s.cg.drv.(type) {
	case *v1Driver:
		for _, h := range d.hier {
			bases = append(bases, h.base)
		}
	case *v2Driver:
		bases = append(bases, d.parent)
	}
	var out []string
	prefix := "sockjail-" + strconv.Itoa(os.Getpid()) + "-"
	for _, b := range bases {
		entries, _ := os.ReadDir(b)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix) {
				out = append(out, filepath.Join(b, e.Name()))
			}
		}
	}
	return out
}

// TestCgroupSetupFailureEndsTheProgram: with v1 cgroups the program's
// process starts before the namespace's init mounts /tmp and /proc, so that
// its moves into the session's cgroups overlap the mounts
// (sj_early_program in spawn_linux.c). When a mount fails, Start reports
// that step, and the program's process, already running, dies with the
// init: no cgroup of the session is left (a live process in it would keep
// it), and the next Start works.
func TestCgroupSetupFailureEndsTheProgram(t *testing.T) {
	drv := requireSessionCgroups(t)
	s := mustNew(t, boundsPolicy(t, 64<<20, 32, 100), []string{"/bin/true"}, Options{})
	if !s.ns.init || len(s.tmpMounts) == 0 {
		testenv.SkipOrFail(t, "no PID namespace with a private /tmp here")
	}
	t.Logf("early program start: %v", drv.version() == CgroupV1)
	good := s.tmpOpts
	rebuild := func(opts string) {
		s.tmpOpts = opts
		s.tmpl.free()
		s.buildTemplate()
	}
	// tmpfs refuses a size it can't parse: the init's mount of /tmp fails.
	rebuild("size=unparsable")
	_, err := s.Start(StartConfig{Stdin: -1, Stdout: -1, Stderr: -1})
	var se *StartError
	if !errors.As(err, &se) || se.Step != "mount_tmp" || se.Errno != syscall.EINVAL {
		t.Fatalf("Start with a failing /tmp mount: %v, want the mount_tmp step and EINVAL", err)
	}
	if left := sessionCgroupDirs(t, s); len(left) > 0 {
		t.Errorf("the failed session left cgroups %v", left)
	}
	rebuild(good)
	if r := runIn(t, s, "", nil); r.exit != (Exit{}) {
		t.Errorf("the next session: %+v, stderr %q", r.exit, r.stderr)
	}
}

func TestCgroupPlacesTheProgram(t *testing.T) {
	drv := requireSessionCgroups(t)
	p := boundsPolicy(t, 64<<20, 32, 100)
	s := mustNew(t, p, []string{"cat", "/proc/self/cgroup"}, Options{})
	r := runIn(t, s, "", nil)
	if r.exit != (Exit{}) {
		t.Fatalf("exit %v, stderr %q", r.exit, r.stderr)
	}
	if r.report.Cgroup != drv.version() || r.report.MemoryMax != 64<<20 || r.report.TasksMax != 32 || r.report.CPUQuota != 100 {
		t.Errorf("report: cgroup %q memory %d tasks %d cpu %d", r.report.Cgroup, r.report.MemoryMax, r.report.TasksMax, r.report.CPUQuota)
	}
	want := []string{"memory", "pids", "cpu"}
	if drv.version() == CgroupV2 {
		want = []string{""}
	}
	for _, ctrl := range want {
		found := false
		for _, l := range lines(r.stdout) {
			parts := strings.SplitN(l, ":", 3)
			if len(parts) == 3 && (parts[1] == ctrl || strings.Contains(","+parts[1]+",", ","+ctrl+",")) &&
				strings.Contains(parts[2], "/sockjail-"+strconv.Itoa(os.Getpid())+"-") {
				found = true
			}
		}
		if !found {
			t.Errorf("the program is not in a session cgroup of %q:\n%s", ctrl, r.stdout)
		}
	}
	s.Close() // and with it a cgroup prepared ahead
	if left := sessionCgroupDirs(t, s); len(left) > 0 {
		t.Errorf("session cgroups left: %q", left)
	}
}

// TestCgroupMemoryBomb runs the memory bomb (four children of
// 100 MiB each) in a session of 128 MiB next to a small session: the bomb
// is killed as a group, its peak stays below the bound, and the other
// session goes on untouched.
func TestCgroupMemoryBomb(t *testing.T) {
	requireSessionCgroups(t)
	p := boundsPolicy(t, 128<<20, 64, 200)
	bomb := mustNew(t, p, []string{cHelper(t, "bomb"), "memory", "100"}, Options{})
	small := mustNew(t, p, []string{cHelper(t, "bomb"), "memory", "8"}, Options{})

	quiet := startBomb(t, small)
	for i := 0; i < 4; i++ {
		if l := quiet.line(t); len(l) != 3 || l[0] != "memory" {
			t.Fatalf("the small session reported %q", l)
		}
	}
	b := startBomb(t, bomb)
	var got []string
	for l := b.line(t); l != nil; l = b.line(t) {
		got = append(got, strings.Join(l, " "))
	}
	exit, err := b.proc.Wait()
	if err != nil {
		t.Fatal(err)
	}
	b.proc.Close()
	st := b.proc.CgroupStats()
	t.Logf("bomb: %q, exit %v, peak %s, %d OOM kills", got, exit, policy.Size(st.MemoryPeak), st.OOMKills)
	if len(got) >= 4 {
		t.Errorf("all four children of the bomb got their 100 MiB: %q", got)
	}
	if !b.proc.OOMKilled() || st.OOMKills == 0 {
		t.Errorf("the OOM killer did not act: OOMKilled %v, stats %+v", b.proc.OOMKilled(), st)
	}
	if exit.Signal != syscall.SIGKILL {
		t.Errorf("the bomb's program ended with %v, want SIGKILL (the whole session is killed)", exit)
	}
	if st.MemoryPeak > 128<<20 {
		t.Errorf("peak %d is above the bound", st.MemoryPeak)
	}
	// The small session is untouched: it ends normally when asked.
	if e := quiet.finish(t); e != (Exit{}) {
		t.Errorf("the small session ended with %v", e)
	}
	if quiet.proc.OOMKilled() {
		t.Errorf("the small session saw the OOM killer")
	}
}

// TestCgroupTaskBomb forks and starts threads without end: both stop at
// tasks with EAGAIN (the program itself is one of the tasks).
func TestCgroupTaskBomb(t *testing.T) {
	requireSessionCgroups(t)
	const tasks = 40
	for _, mode := range []string{"fork", "threads"} {
		t.Run(mode, func(t *testing.T) {
			s := mustNew(t, boundsPolicy(t, 256<<20, tasks, 200), []string{cHelper(t, "bomb"), mode, "100000"}, Options{})
			b := startBomb(t, s)
			got := b.line(t)
			b.proc.KillTree()
			b.finish(t)
			if len(got) != 3 || got[0] != mode || got[1] != strconv.Itoa(tasks-1) || got[2] != "EAGAIN" {
				t.Errorf("the bomb reported %q, want %s %d EAGAIN", got, mode, tasks-1)
			}
		})
	}
}

// TestCgroupCPUQuota spins four threads for 3 s under a 10% quota: the
// cgroup's own statistics show periods in which the quota throttled it
// and at most 0.3 s of CPU (the test allows 0.6 s). The quota is low so
// that the spinners reach it even on a machine busy with other tests,
// where the session's group may get only a fifth of a CPU.
func TestCgroupCPUQuota(t *testing.T) {
	drv := requireSessionCgroups(t)
	if d, ok := drv.(*v1Driver); ok {
		if _, acct := d.hier["cpuacct"]; !acct && !strings.Contains(d.hier["cpu"].base, "cpuacct") {
			testenv.SkipOrFail(t, "no cpuacct hierarchy: the v1 cgroup has no CPU usage statistic")
		}
	}
	s := mustNew(t, boundsPolicy(t, 256<<20, 64, 10), []string{cHelper(t, "bomb"), "spin", "3"}, Options{})
	b := startBomb(t, s)
	if l := b.line(t); strings.Join(l, " ") != "spin done" {
		t.Fatalf("the spinner said %q", l)
	}
	b.finish(t)
	b.proc.Close()
	st := b.proc.CgroupStats()
	t.Logf("3 s of four spinners at 10%%: %v of CPU, throttled in %d periods", st.CPUUsage, st.Throttled)
	if st.CPUUsage == 0 || st.CPUUsage > 600*time.Millisecond {
		t.Errorf("the session used %v of CPU, want at most about 0.3 s", st.CPUUsage)
	}
	if st.Throttled == 0 {
		t.Errorf("the quota never throttled the session")
	}
}

// TestCgroupNoneLeftBehind runs 1,000 sessions, every tenth killed while
// it runs, and then finds none of their cgroups, and at most one parked
// for the next session in each hierarchy: parking doesn't accumulate.
func TestCgroupNoneLeftBehind(t *testing.T) {
	requireSessionCgroups(t)
	p := boundsPolicy(t, 64<<20, 16, 100)
	quick := mustNew(t, p, []string{cHelper(t, "hello")}, Options{})
	slow := mustNew(t, p, []string{"sleep", "100"}, Options{})
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	errs := make(chan error, 1000)
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			s := quick
			if i%10 == 0 {
				s = slow
			}
			proc, err := s.Start(StartConfig{Stdin: -1, Stdout: -1, Stderr: -1})
			if err != nil {
				errs <- fmt.Errorf("session %d: %w", i, err)
				return
			}
			if s == slow {
				proc.KillTree()
			}
			if err := proc.Close(); err != nil {
				errs <- fmt.Errorf("session %d: %w", i, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	quick.Close()
	slow.Close()
	if left := append(sessionCgroupDirs(t, quick), sessionCgroupDirs(t, slow)...); len(left) > 0 {
		t.Errorf("%d session cgroups left behind, such as %s", len(left), left[0])
	}
	parked := parkedCgroupDirs(quick.cg.drv)
	t.Logf("parked for the next session: %q", parked)
	// Other tests may have parked cgroups of other bounds too, but every
	// parked name is a bound's slot, never a session's: parking doesn't
	// accumulate.
	slotName := regexp.MustCompile(`^sockjail-idle-(memory|pids|cpu|cpuacct)-[0-9]+(\.[1-9][0-9]*)?$`)
	for _, dir := range parked {
		base := filepath.Base(dir)
		_, k, _ := strings.Cut(base, ".")
		if n, _ := strconv.Atoi(k); !slotName.MatchString(base) || n >= parkSlots {
			t.Errorf("%s is parked under a name that is not one of a bound's %d slots", dir, parkSlots)
		}
	}
	for _, name := range []string{idleName("memory", 64<<20), idleName("pids", 16), idleName("cpu", 100)} {
		n := 0
		for _, dir := range parked {
			if base := filepath.Base(dir); base == name || strings.HasPrefix(base, name+".") {
				n++
			}
		}
		if n > parkSlots {
			t.Errorf("%s parked %d times, more than its %d slots", name, n, parkSlots)
		}
	}
}

// parkedCgroupDirs lists the cgroups parked for a later session in drv's
// hierarchies.
func parkedCgroupDirs(drv cgroupDriver) []string {
	var out []string
	if d, ok := drv.(*v1Driver); ok {
		for _, h := range d.hier {
			m, _ := filepath.Glob(filepath.Join(h.base, "sockjail-idle-*"))
			out = append(out, m...)
		}
	}
	return out
}

// removeParkedCgroups removes the cgroups parked in this host's v1
// hierarchies, so that the tests' many bounds leave none behind. A
// session of another process that takes one first is unaffected: the
// rename and the rmdir can't both succeed.
func removeParkedCgroups() {
	if os.Geteuid() != 0 {
		return
	}
	if drv, _ := detectCgroups(Options{}); drv != nil {
		for _, dir := range parkedCgroupDirs(drv) {
			os.Remove(dir)
		}
	}
}

// TestCgroupParkedForTheNextSession checks the reuse of v1 session cgroups
// on the real kernel: a session's cgroup that ended cleanly is parked with
// its limits and reset counters, the next session with the same bounds
// takes it by rename, and one whose OOM or throttle counters can't be
// reset is removed instead. On v2 nothing is parked.
func TestCgroupParkedForTheNextSession(t *testing.T) {
	drv := requireSessionCgroups(t)
	// Bounds of this process alone, so that a concurrent test process
	// can't take what this one parks.
	pid := uint64(os.Getpid())
	b := sessionBounds{memory: 64<<20 + pid<<12, tasks: 1000 + pid%1000, cpuPercent: 300 + pid%100}
	name := func(i int) string { return fmt.Sprintf("sockjail-%d-park%d", pid, i) }
	exists := func(dir string) bool { _, err := os.Stat(dir); return err == nil }
	v1, isV1 := drv.(*v1Driver)
	idleOf := func(c *sessionCgroup) []string {
		var out []string
		for _, dir := range c.dirs {
			ctrl, bound := "", uint64(0)
			for k, h := range v1.hier {
				if filepath.Dir(dir) == h.base {
					ctrl = k
				}
			}
			switch ctrl {
			case "memory":
				bound = b.memory
			case "pids":
				bound = b.tasks
			case "cpu":
				bound = b.cpuPercent
			}
			out = append(out, filepath.Join(filepath.Dir(dir), idleName(ctrl, bound)))
		}
		return out
	}
	limits := func(c *sessionCgroup) string {
		pidsDir := filepath.Join(v1.hier["pids"].base, filepath.Base(c.memDir))
		return fmt.Sprintf("memory %s pids %s quota %s",
			readTrim(t, c.memDir+"/memory.limit_in_bytes"), readTrim(t, pidsDir+"/pids.max"),
			readTrim(t, c.cpuDir+"/cpu.cfs_quota_us"))
	}

	c1, err := drv.create(name(1), b)
	if err != nil {
		t.Fatal(err)
	}
	if !isV1 {
		dirs := c1.dirs
		if err := c1.release(true, CgroupStats{}); err != nil {
			t.Fatal(err)
		}
		for _, dir := range dirs {
			if exists(dir) {
				t.Errorf("%s was not removed", dir)
			}
		}
		t.Logf("v2: session cgroups are removed, never parked")
		return
	}
	want := fmt.Sprintf("memory %d pids %d quota %d", b.memory, b.tasks, cpuQuotaMicros(b.cpuPercent))
	if got := limits(c1); got != want {
		t.Fatalf("new cgroup: %s, want %s", got, want)
	}
	idle := idleOf(c1)
	if err := c1.release(true, CgroupStats{}); err != nil {
		t.Fatal(err)
	}
	for i, dir := range c1.dirs {
		if exists(dir) || !exists(idle[i]) {
			t.Errorf("%s: not parked as %s", dir, idle[i])
		}
	}

	c2, err := drv.create(name(2), b)
	if err != nil {
		t.Fatal(err)
	}
	for i, dir := range c2.dirs {
		if !exists(dir) || exists(idle[i]) {
			t.Errorf("%s: the parked %s was not taken", dir, idle[i])
		}
	}
	if got := limits(c2); got != want {
		t.Errorf("parked cgroup: %s, want %s", got, want)
	}
	if st := c2.stats(); st.OOMKills != 0 || st.Throttled != 0 || st.CPUUsage != 0 || st.MemoryPeak > 1<<20 {
		t.Errorf("a parked cgroup's counters are not reset: %+v", st)
	}
	// The OOM killer acted and the quota throttled: those cgroups can't
	// look new again, and are removed; the others are parked.
	if err := c2.release(true, CgroupStats{OOMKills: 1, Throttled: 1}); err != nil {
		t.Fatal(err)
	}
	for i, dir := range c2.dirs {
		parked := exists(idle[i])
		if dir == c2.memDir || dir == c2.cpuDir {
			if parked {
				t.Errorf("%s was parked after an OOM kill or throttling", dir)
			}
		} else if !parked {
			t.Errorf("%s was not parked", dir)
		}
		if exists(dir) {
			t.Errorf("%s is left", dir)
		}
	}

	// Without reuse (a session without a PID namespace) everything is
	// removed.
	c3, err := drv.create(name(3), b)
	if err != nil {
		t.Fatal(err)
	}
	if got := limits(c3); got != want {
		t.Errorf("mixed parked and new cgroup: %s, want %s", got, want)
	}
	if err := c3.release(false, CgroupStats{}); err != nil {
		t.Fatal(err)
	}
	for i, dir := range c3.dirs {
		if exists(dir) || exists(idle[i]) {
			t.Errorf("%s or %s left after a release without reuse", dir, idle[i])
		}
	}

	// Sessions that end together park up to parkSlots cgroups per
	// hierarchy and bound, and the one more is removed; as many later
	// sessions take every slot back.
	var many []*sessionCgroup
	for i := range parkSlots + 1 {
		c, err := drv.create(name(10+i), b)
		if err != nil {
			t.Fatal(err)
		}
		many = append(many, c)
	}
	for _, c := range many {
		if err := c.release(true, CgroupStats{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range idle {
		for k := range parkSlots {
			if !exists(idleSlot(dir, k)) {
				t.Errorf("slot %d of %s is empty after %d sessions ended", k, dir, parkSlots+1)
			}
		}
		if exists(idleSlot(dir, parkSlots)) {
			t.Errorf("%s parked beyond its %d slots", dir, parkSlots)
		}
	}
	for _, c := range many {
		for _, dir := range c.dirs {
			if exists(dir) {
				t.Errorf("%s is left", dir)
			}
		}
	}
	many = many[:0]
	for i := range parkSlots {
		c, err := drv.create(name(20+i), b)
		if err != nil {
			t.Fatal(err)
		}
		many = append(many, c)
	}
	for _, dir := range idle {
		for k := range parkSlots {
			if exists(idleSlot(dir, k)) {
				t.Errorf("slot %d of %s was not taken by one of %d new sessions", k, dir, parkSlots)
			}
		}
	}
	for _, c := range many {
		if got := limits(c); got != want {
			t.Errorf("cgroup taken from a slot: %s, want %s", got, want)
		}
		if err := c.release(false, CgroupStats{}); err != nil {
			t.Fatal(err)
		}
	}
}
