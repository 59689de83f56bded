package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// cgroup v1: one hierarchy per controller (or a few together) under
// /sys/fs/cgroup/<controllers>, as on hybrid hosts. A session gets a
// directory below sockjail's own cgroup in the memory, pids and cpu
// hierarchies (and cpuacct, for its CPU usage, when that is a hierarchy of
// its own). The program writes itself into each before it runs anything,
// so everything it and its children allocate, kernel memory included, is
// charged there.
//
// v1 has no group OOM kill: the kernel signals an eventfd registered on
// memory.oom_control, and sockjail kills the rest of the session.

// v1Hierarchy is one v1 hierarchy sockjail creates session cgroups in.
type v1Hierarchy struct {
	controller string // memory, pids, cpu, cpuacct
	base       string // sockjail's own cgroup in it
}

type v1Driver struct {
	fs cgroupFS
	// hier holds the hierarchies by controller; a missing one can't be
	// bounded.
	hier map[string]v1Hierarchy
	why  map[string]string // why a controller is missing
	// swapLimit: memory.memsw.limit_in_bytes exists (swap accounting).
	swapLimit bool
}

func newV1Driver(root string, own map[string]string) (cgroupDriver, string) {
	d := &v1Driver{fs: kernelFS{}, hier: map[string]v1Hierarchy{}, why: map[string]string{}}
	for _, c := range []string{"memory", "pids", "cpu", "cpuacct"} {
		v, ok := own[c]
		if !ok {
			d.why[c] = "no v1 " + c + " controller"
			continue
		}
		path, mount, _ := strings.Cut(v, "\x00")
		base := filepath.Join(root, mount, path)
		var st unix.Statfs_t
		if err := unix.Statfs(filepath.Join(root, mount), &st); err != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
			d.why[c] = fmt.Sprintf("the v1 %s hierarchy is not mounted at %s", c, filepath.Join(root, mount))
			continue
		}
		if err := unix.Access(base, unix.W_OK); err != nil {
			d.why[c] = fmt.Sprintf("sockjail (uid %d) can't create cgroups in %s: %v", os.Geteuid(), base, err)
			continue
		}
		d.hier[c] = v1Hierarchy{controller: c, base: base}
	}
	if h, ok := d.hier["memory"]; ok {
		d.swapLimit = unix.Access(filepath.Join(h.base, "memory.memsw.limit_in_bytes"), unix.F_OK) == nil
	}
	if len(d.hier) == 0 {
		return nil, "no v1 cgroup hierarchy sockjail can create cgroups in (memory: " + d.why["memory"] + ")"
	}
	// cpuacct only gives the CPU usage statistic, and only when it is not
	// in the cpu hierarchy already.
	if h, ok := d.hier["cpuacct"]; ok && h.base == d.hier["cpu"].base {
		delete(d.hier, "cpuacct")
	}
	return d, ""
}

func (d *v1Driver) version() string { return CgroupV1 }

func (d *v1Driver) missing(b sessionBounds) (sessionBounds, string) {
	var m sessionBounds
	var why []string
	for _, x := range []struct {
		ctrl  string
		want  uint64
		field *uint64
	}{{"memory", b.memory, &m.memory}, {"pids", b.tasks, &m.tasks}, {"cpu", b.cpuPercent, &m.cpuPercent}} {
		if _, ok := d.hier[x.ctrl]; !ok && x.want != 0 {
			*x.field = x.want
			why = append(why, d.why[x.ctrl])
		}
	}
	return m, strings.Join(why, "; ")
}

// parkSlots is how many cgroups per hierarchy and bound may be parked.
// One is enough for sessions that follow each other; concurrent sessions
// end and start in bursts, and with a single slot 40% of 16 concurrent
// sessions found none parked and made (and later removed) their own,
// each mkdir and rmdir holding v1's global cgroup_mutex.
const parkSlots = 4

// idleName is the name under which a session's cgroup in the hierarchy of
// ctrl is parked for a later session (sessionCgroup.parkDir): per
// hierarchy and bound, since what the directory holds is that bound alone.
// Slot 0 has the bare name (the one sockjail used before it had slots),
// slot k the suffix ".k".
func idleName(ctrl string, bound uint64) string {
	return "sockjail-idle-" + ctrl + "-" + strconv.FormatUint(bound, 10)
}

// idleSlot returns the path of slot k of the parked cgroups named idle.
func idleSlot(idle string, k int) string {
	if k == 0 {
		return idle
	}
	return idle + "." + strconv.Itoa(k)
}

// parked looks in the first hierarchy create takes from: sessions park
// all their hierarchies together, so the rest are most likely there too
// (create makes any that is not).
func (d *v1Driver) parked(b sessionBounds) bool {
	for _, x := range []struct {
		ctrl  string
		bound uint64
	}{{"memory", b.memory}, {"pids", b.tasks}, {"cpu", b.cpuPercent}} {
		if h, ok := d.hier[x.ctrl]; ok && x.bound != 0 {
			idle := filepath.Join(h.base, idleName(x.ctrl, x.bound))
			for k := range parkSlots {
				if unix.Access(idleSlot(idle, k), unix.F_OK) == nil {
					return true
				}
			}
			return false
		}
	}
	return false
}

// takeParked renames a cgroup parked under idle (any slot) to dir, and
// reports whether there was one. A rename whose source is missing fails
// in the path lookup, before cgroupfs takes its lock, so trying the empty
// slots is cheap; the rename is atomic, so two sessions never take the
// same cgroup.
func (d *v1Driver) takeParked(idle, dir string) bool {
	for k := range parkSlots {
		if d.fs.Rename(idleSlot(idle, k), dir) == nil {
			return true
		}
	}
	return false
}

func (d *v1Driver) create(name string, b sessionBounds) (*sessionCgroup, error) {
	c := &sessionCgroup{fs: d.fs, dirFD: -1}
	done := false
	defer func() {
		if !done {
			c.destroy()
		}
	}()
	// join gives the session a directory in ctrl's hierarchy: the one a
	// previous session with the same bound parked there, taken by a
	// rename (fresh says false: its limits are written already), or a new
	// one.
	join := func(ctrl string, bound uint64) (dir string, fresh bool, err error) {
		h, ok := d.hier[ctrl]
		if !ok {
			return "", false, nil
		}
		dir = filepath.Join(h.base, name)
		idle := filepath.Join(h.base, idleName(ctrl, bound))
		if !d.takeParked(idle, dir) {
			if err := d.fs.Mkdir(dir); err != nil {
				return "", false, fmt.Errorf("sockjail: creating the session's cgroup: %w", err)
			}
			fresh = true
		}
		c.dirs = append(c.dirs, dir)
		c.idle = append(c.idle, idle)
		return dir, fresh, nil
	}
	write := func(dir, file, value string) error {
		if err := d.fs.WriteFile(filepath.Join(dir, file), value); err != nil {
			return fmt.Errorf("sockjail: setting the session's cgroup: %w", err)
		}
		return nil
	}
	if b.memory != 0 {
		dir, fresh, err := join("memory", b.memory)
		if err != nil {
			return nil, err
		}
		c.memDir = dir
		if fresh {
			v := strconv.FormatUint(b.memory, 10)
			if err := write(dir, "memory.limit_in_bytes", v); err != nil {
				return nil, err
			}
			// No swap: memory plus swap may not exceed memory. Without
			// swap accounting, swappiness 0 keeps the cgroup's pages
			// in RAM.
			if d.swapLimit {
				err = write(dir, "memory.memsw.limit_in_bytes", v)
			} else {
				err = write(dir, "memory.swappiness", "0")
			}
			if err != nil {
				return nil, err
			}
		}
	}
	if b.tasks != 0 {
		dir, fresh, err := join("pids", b.tasks)
		if err != nil {
			return nil, err
		}
		if fresh {
			if err := write(dir, "pids.max", strconv.FormatUint(b.tasks, 10)); err != nil {
				return nil, err
			}
		}
	}
	if b.cpuPercent != 0 {
		dir, fresh, err := join("cpu", b.cpuPercent)
		if err != nil {
			return nil, err
		}
		c.cpuDir = dir
		// A new v1 cpu cgroup's cpu.cfs_period_us is the kernel's
		// default, cpuPeriod, whatever its parent's is: only the quota
		// is written.
		if fresh {
			if err := write(dir, "cpu.cfs_quota_us", strconv.FormatUint(cpuQuotaMicros(b.cpuPercent), 10)); err != nil {
				return nil, err
			}
		}
		if _, ok := d.hier["cpuacct"]; ok {
			if c.acctDir, _, err = join("cpuacct", 0); err != nil {
				return nil, err
			}
		} else {
			c.acctDir = dir // cpu and cpuacct share a hierarchy
		}
	}
	done = true
	return c, nil
}

// registerOOMEvent asks the kernel to signal an eventfd when the OOM
// killer acts in the memory cgroup dir.
func (c *sessionCgroup) registerOOMEvent(dir string) error {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("sockjail: eventfd: %w", err)
	}
	c.oom = os.NewFile(uintptr(efd), "oom-event")
	cfd, err := unix.Open(filepath.Join(dir, "memory.oom_control"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sockjail: opening memory.oom_control: %w", err)
	}
	defer unix.Close(cfd)
	if err := c.fs.WriteFile(filepath.Join(dir, "cgroup.event_control"), strconv.Itoa(efd)+" "+strconv.Itoa(cfd)); err != nil {
		return fmt.Errorf("sockjail: registering the OOM event: %w", err)
	}
	return nil
}

// sweep removes session cgroups of sockjail processes that are gone (one
// killed before it could clean up). A directory that still has processes
// is left alone: rmdir fails.
func (d *v1Driver) sweep() {
	for _, h := range d.hier {
		sweepDir(d.fs, h.base)
	}
}

// sweepDir removes base's subdirectories named sockjail-PID-N whose PID is
// not a running process. Parked cgroups (sockjail-idle-…) are not
// sessions' and stay.
func sweepDir(fs cgroupFS, base string) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), "sockjail-")
		if !ok || !e.IsDir() {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
			fs.Rmdir(filepath.Join(base, e.Name()))
		}
	}
}
