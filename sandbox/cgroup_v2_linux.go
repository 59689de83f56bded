package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// cgroup v2: one unified hierarchy. A session's cgroup is a child of a
// parent cgroup that sockjail may manage:
//
//   - its own cgroup, when systemd delegated it (Delegate=yes marks it with
//     the trusted.delegate or user.delegate extended attribute). The "no
//     internal processes" rule lets a cgroup with processes enable no
//     controllers for its children, so sockjail first moves itself into a
//     leaf of its own, <own>/supervisor (systemd 254's DelegateSubgroup=
//     does the same; 252 doesn't have it);
//   - <mount>/sockjail, when sockjail runs as root in the root cgroup: a
//     host or container without systemd, where nobody else manages the
//     tree. The root cgroup is exempt from the rule.
//
// Anywhere else the tree belongs to someone else (systemd's
// CGROUP_DELEGATION.md: never write into a tree nobody delegated to you),
// and sockjail creates nothing. The program is born in its cgroup
// (clone3 with CLONE_INTO_CGROUP), so that even its first allocation is
// charged there; memory.oom.group makes an OOM kill end the whole session.

type v2Driver struct {
	fs     cgroupFS
	root   string // the hierarchy's mount point
	parent string // where session cgroups go
	// leaf, when set, is where sockjail moves itself before it enables
	// controllers in parent (a delegated parent).
	leaf string
	// controllers are those parent's children can have.
	controllers map[string]bool
	why         string // why some controller is missing

	setupOnce sync.Once
	setupErr  error
}

func newV2Driver(root string, fs cgroupFS, own string) (cgroupDriver, string) {
	d := &v2Driver{fs: fs, root: root, controllers: map[string]bool{}}
	ownDir := filepath.Join(root, own)
	var avail []byte
	var err error
	switch {
	case own == "/" && os.Geteuid() == 0:
		d.parent = filepath.Join(root, "sockjail")
		avail, err = fs.ReadFile(filepath.Join(root, "cgroup.controllers"))
	case fs.Delegated(ownDir):
		d.parent = ownDir
		d.leaf = filepath.Join(ownDir, "supervisor")
		avail, err = fs.ReadFile(filepath.Join(ownDir, "cgroup.controllers"))
	default:
		return nil, fmt.Sprintf("sockjail's cgroup %s was not delegated to it (systemd: Delegate=yes) and it is not root in the root cgroup", own)
	}
	if err != nil {
		return nil, fmt.Sprintf("can't read the cgroup controllers of %s: %v", d.parent, err)
	}
	for _, c := range strings.Fields(string(avail)) {
		d.controllers[c] = true
	}
	var none []string
	for _, c := range []string{"memory", "pids", "cpu"} {
		if !d.controllers[c] {
			none = append(none, c)
		}
	}
	if len(none) > 0 {
		d.why = fmt.Sprintf("the cgroup2 controllers %s are not available in %s", strings.Join(none, ", "), d.parent)
	}
	if len(none) == 3 {
		return nil, d.why
	}
	return d, ""
}

func (d *v2Driver) version() string { return CgroupV2 }

func (d *v2Driver) missing(b sessionBounds) (sessionBounds, string) {
	var m sessionBounds
	if !d.controllers["memory"] {
		m.memory = b.memory
	}
	if !d.controllers["pids"] {
		m.tasks = b.tasks
	}
	if !d.controllers["cpu"] {
		m.cpuPercent = b.cpuPercent
	}
	return m, d.why
}

// setup prepares the parent once: moves sockjail into its leaf when the
// parent is its own cgroup, creates <mount>/sockjail when it is not, and
// enables the controllers for the sessions.
func (d *v2Driver) setup() error {
	d.setupOnce.Do(func() {
		enable := ""
		for _, c := range []string{"memory", "pids", "cpu"} {
			if d.controllers[c] {
				enable += " +" + c
			}
		}
		enable = strings.TrimSpace(enable)
		if d.leaf != "" {
			if err := d.fs.Mkdir(d.leaf); err != nil && !errors.Is(err, os.ErrExist) {
				d.setupErr = fmt.Errorf("sockjail: creating its own leaf cgroup: %w", err)
				return
			}
			if err := d.fs.WriteFile(filepath.Join(d.leaf, "cgroup.procs"), strconv.Itoa(os.Getpid())); err != nil {
				d.setupErr = fmt.Errorf("sockjail: moving itself into its leaf cgroup: %w", err)
				return
			}
		} else {
			if err := d.fs.WriteFile(filepath.Join(d.root, "cgroup.subtree_control"), enable); err != nil {
				d.setupErr = fmt.Errorf("sockjail: enabling cgroup controllers: %w", err)
				return
			}
			if err := d.fs.Mkdir(d.parent); err != nil && !errors.Is(err, os.ErrExist) {
				d.setupErr = fmt.Errorf("sockjail: creating %s: %w", d.parent, err)
				return
			}
		}
		if err := d.fs.WriteFile(filepath.Join(d.parent, "cgroup.subtree_control"), enable); err != nil {
			d.setupErr = fmt.Errorf("sockjail: enabling cgroup controllers in %s: %w", d.parent, err)
		}
	})
	return d.setupErr
}

func (d *v2Driver) create(name string, b sessionBounds) (*sessionCgroup, error) {
	if err := d.setup(); err != nil {
		return nil, err
	}
	dir := filepath.Join(d.parent, name)
	if err := d.fs.Mkdir(dir); err != nil {
		return nil, fmt.Errorf("sockjail: creating the session's cgroup: %w", err)
	}
	c := &sessionCgroup{v2: true, fs: d.fs, dirs: []string{dir}, dirFD: -1, memDir: dir, cpuDir: dir, acctDir: dir}
	done := false
	defer func() {
		if !done {
			c.destroy()
		}
	}()
	var knobs [][2]string
	if b.memory != 0 {
		v := strconv.FormatUint(b.memory, 10)
		knobs = append(knobs, [2]string{"memory.max", v}, [2]string{"memory.swap.max", "0"}, [2]string{"memory.oom.group", "1"})
	}
	if b.tasks != 0 {
		knobs = append(knobs, [2]string{"pids.max", strconv.FormatUint(b.tasks, 10)})
	}
	if b.cpuPercent != 0 {
		knobs = append(knobs, [2]string{"cpu.max", strconv.FormatUint(cpuQuotaMicros(b.cpuPercent), 10) + " " + strconv.Itoa(cpuPeriod)})
	}
	for _, k := range knobs {
		err := d.fs.WriteFile(filepath.Join(dir, k[0]), k[1])
		if err != nil && k[0] == "memory.swap.max" && errors.Is(err, os.ErrNotExist) {
			// A kernel without swap accounting: it can't swap the
			// cgroup's pages out on its behalf either.
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sockjail: setting the session's cgroup: %w", err)
		}
	}
	done = true
	return c, nil
}

func (d *v2Driver) sweep() { sweepDir(d.fs, d.parent) }

// parked: v2 session cgroups are not parked (memory.peak can't be reset
// before Linux 6.12, and the v2 cgroup is made with one mkdir).
func (d *v2Driver) parked(sessionBounds) bool { return false }
