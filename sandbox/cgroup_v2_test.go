package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/policy"
)

// The v2 file protocol is tested twice: against a temporary directory laid
// out like cgroupfs (every host; the CI's is hybrid, with its controllers on
// v1), and, for placing the program with CLONE_INTO_CGROUP, against the
// real cgroup2 hierarchy the host has (/sys/fs/cgroup on a unified host,
// /sys/fs/cgroup/unified, without controllers, on a hybrid one).

// fakeCgroupFS is a directory that behaves like cgroupfs where sockjail
// relies on it: mkdir creates a cgroup's interface files, only existing
// files can be written, rmdir fails with EBUSY while cgroup.procs lists a
// process, and cgroup.kill empties it.
type fakeCgroupFS struct {
	delegated map[string]bool
}

// fakeKnobs are the interface files of a new cgroup and their contents.
var fakeKnobs = map[string]string{
	"cgroup.procs": "", "cgroup.events": "populated 0\n", "cgroup.subtree_control": "",
	"cgroup.kill": "", "memory.max": "max\n", "memory.swap.max": "max\n", "memory.oom.group": "0\n",
	"memory.peak": "0\n", "memory.events": "oom 0\noom_kill 0\n", "pids.max": "max\n",
	"cpu.max": "max 100000\n", "cpu.stat": "usage_usec 0\nnr_throttled 0\n",
}

func (f *fakeCgroupFS) Mkdir(path string) error {
	if err := os.Mkdir(path, 0o755); err != nil {
		return err
	}
	enabled, _ := os.ReadFile(filepath.Join(filepath.Dir(path), "cgroup.subtree_control"))
	var ctrl []string
	for _, c := range strings.Fields(string(enabled)) {
		ctrl = append(ctrl, strings.TrimPrefix(c, "+"))
	}
	for name, content := range fakeKnobs {
		os.WriteFile(filepath.Join(path, name), []byte(content), 0o644)
	}
	return os.WriteFile(filepath.Join(path, "cgroup.controllers"), []byte(strings.Join(ctrl, " ")+"\n"), 0o444)
}

func (f *fakeCgroupFS) Rmdir(path string) error {
	if b, _ := os.ReadFile(filepath.Join(path, "cgroup.procs")); len(strings.TrimSpace(string(b))) > 0 {
		return &os.PathError{Op: "rmdir", Path: path, Err: syscall.EBUSY}
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			return &os.PathError{Op: "rmdir", Path: path, Err: syscall.EBUSY}
		}
	}
	for _, e := range entries {
		os.Remove(filepath.Join(path, e.Name()))
	}
	return os.Remove(path)
}

func (f *fakeCgroupFS) Rename(from, to string) error {
	if _, err := os.Lstat(to); err == nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: syscall.EEXIST}
	}
	return os.Rename(from, to)
}

func (f *fakeCgroupFS) WriteFile(path, data string) error {
	fd, err := os.OpenFile(path, os.O_WRONLY, 0) // no O_CREAT: like cgroupfs
	if err != nil {
		return err
	}
	fd.Close()
	switch filepath.Base(path) {
	case "cgroup.kill":
		return os.WriteFile(filepath.Join(filepath.Dir(path), "cgroup.procs"), nil, 0)
	case "cgroup.procs":
		old, _ := os.ReadFile(path)
		return os.WriteFile(path, append(old, data+"\n"...), 0)
	}
	return os.WriteFile(path, []byte(data), 0)
}

func (f *fakeCgroupFS) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }
func (f *fakeCgroupFS) Delegated(dir string) bool            { return f.delegated[dir] }

// fakeCgroupTree makes a cgroup2 root in a temporary directory with the
// given controllers, and sockjail's own cgroup at own.
func fakeCgroupTree(t *testing.T, controllers, own string, delegated bool) *testCgroupTree {
	t.Helper()
	root := t.TempDir()
	fs := &fakeCgroupFS{delegated: map[string]bool{}}
	for name, content := range fakeKnobs {
		os.WriteFile(filepath.Join(root, name), []byte(content), 0o644)
	}
	os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte(controllers+"\n"), 0o444)
	if own != "/" {
		dir := root
		for _, part := range strings.Split(strings.Trim(own, "/"), "/") {
			os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte(strings.ReplaceAll(" "+controllers, " ", " +")), 0o644)
			dir = filepath.Join(dir, part)
			if err := fs.Mkdir(dir); err != nil {
				t.Fatal(err)
			}
		}
		fs.delegated[dir] = delegated
	}
	return &testCgroupTree{root: root, own: own, fs: fs}
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestCgroupV2FileProtocol creates and removes session cgroups in a tree
// laid out like cgroupfs, as root in the root cgroup and as a delegated
// service, and checks every file sockjail writes.
func TestCgroupV2FileProtocol(t *testing.T) {
	testenv.RequireRoot(t) // the root-cgroup case is for root only
	t.Log("v2 file protocol: a temporary directory laid out like cgroupfs")
	tests := []struct {
		name        string
		controllers string
		own         string
		delegated   bool
		parent      string // relative to the root; "" = no driver
		leaf        string
		missing     sessionBounds
	}{
		{"root cgroup", "cpuset cpu io memory hugetlb pids rdma misc", "/", false, "sockjail", "", sessionBounds{}},
		{"delegated service", "cpu memory pids", "/system.slice/game.service", true, "system.slice/game.service", "system.slice/game.service/supervisor", sessionBounds{}},
		{"delegated, no cpu", "memory pids", "/system.slice/game.service", true, "system.slice/game.service", "system.slice/game.service/supervisor", sessionBounds{cpuPercent: 250}},
		{"not delegated", "cpu memory pids", "/user.slice/session-1.scope", false, "", "", sessionBounds{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := fakeCgroupTree(t, tt.controllers, tt.own, tt.delegated)
			drv, why := detectCgroups(Options{cgroupV2: tree})
			if tt.parent == "" {
				if drv != nil || !strings.Contains(why, "not delegated") {
					t.Fatalf("driver %v, why %q; want none, as the tree is not delegated", drv, why)
				}
				return
			}
			if drv == nil {
				t.Fatalf("no driver: %s", why)
			}
			want := sessionBounds{memory: 64 << 20, tasks: 32, cpuPercent: 250}
			if m, why := drv.missing(want); m != tt.missing {
				t.Errorf("missing %+v (%s), want %+v", m, why, tt.missing)
			}
			m, _ := drv.missing(want)
			b := want
			if m.cpuPercent != 0 {
				b.cpuPercent = 0
			}
			c, err := drv.create("sockjail-1-1", b)
			if err != nil {
				t.Fatal(err)
			}
			parent := filepath.Join(tree.root, tt.parent)
			dir := filepath.Join(parent, "sockjail-1-1")
			enabled := "+memory +pids +cpu"
			if tt.missing.cpuPercent != 0 {
				enabled = "+memory +pids"
			}
			if got := readTrim(t, filepath.Join(parent, "cgroup.subtree_control")); got != enabled {
				t.Errorf("the parent's subtree_control is %q, want %q", got, enabled)
			}
			if tt.leaf != "" {
				if got := readTrim(t, filepath.Join(tree.root, tt.leaf, "cgroup.procs")); got != strconv.Itoa(os.Getpid()) {
					t.Errorf("sockjail did not move itself into its leaf: cgroup.procs %q", got)
				}
			} else if got := readTrim(t, filepath.Join(tree.root, "cgroup.subtree_control")); got != enabled {
				t.Errorf("the root's subtree_control is %q, want %q", got, enabled)
			}
			knobs := map[string]string{"memory.max": "67108864", "memory.swap.max": "0", "memory.oom.group": "1", "pids.max": "32", "cpu.max": "250000 100000"}
			if tt.missing.cpuPercent != 0 {
				knobs["cpu.max"] = "max 100000"
			}
			for k, v := range knobs {
				if got := readTrim(t, filepath.Join(dir, k)); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if err := c.open(); err != nil || c.dirFD < 0 {
				t.Errorf("no directory descriptor for CLONE_INTO_CGROUP: %v", err)
			}
			// A process left in the cgroup is killed through cgroup.kill
			// before the cgroup is removed.
			os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte("4194304\n"), 0)
			if err := c.destroy(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the session cgroup is still there: %v", err)
			}
		})
	}
}

// TestCgroupV2Plan checks what a policy gets on a v2 tree: the bounds in
// the report, a written bound the tree can't enforce refused with a strict
// policy, and a default one logged as skipped.
func TestCgroupV2Plan(t *testing.T) {
	testenv.RequireRoot(t)
	tree := fakeCgroupTree(t, "memory pids", "/", false)
	pl, err := PlanPolicy(policy.Default(), Options{cgroupV2: tree})
	if err != nil {
		t.Fatal(err)
	}
	r := pl.Report
	if r.Cgroup != CgroupV2 || r.MemoryMax != 512<<20 || r.TasksMax != 256 || r.CPUQuota != 0 || len(pl.Refused) != 0 {
		t.Errorf("default policy: %+v", pl)
	}
	if !slices.ContainsFunc(r.Skipped, func(s string) bool { return strings.Contains(s, "cpu_quota=100%") && strings.Contains(s, "cpu") }) {
		t.Errorf("skipped %q, want the default cpu_quota", r.Skipped)
	}
	p, err := policy.Parse("t.toml", []byte("[limits]\ncpu_quota = \"50%\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	pl, err = PlanPolicy(p, Options{cgroupV2: tree})
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.Refused) != 1 || !strings.Contains(pl.Refused[0], "[limits] cpu_quota = 50% can't be enforced") || !strings.Contains(pl.Refused[0], "hint:") {
		t.Errorf("refused %q, want the written cpu_quota with a hint", pl.Refused)
	}
}

// realCgroup2Mount returns the host's cgroup2 mount point, or "".
func realCgroup2Mount() string {
	for _, m := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st syscall.Statfs_t
		if syscall.Statfs(m, &st) == nil && st.Type == 0x63677270 { // CGROUP2_SUPER_MAGIC
			return m
		}
	}
	return ""
}

// TestCgroupV2CloneIntoCgroup starts programs that are born in a cgroup of
// the real cgroup2 hierarchy (clone3 with CLONE_INTO_CGROUP): the
// program's /proc/self/cgroup names it, and it is removed at the end.
func TestCgroupV2CloneIntoCgroup(t *testing.T) {
	testenv.RequireRoot(t)
	mount := realCgroup2Mount()
	if mount == "" {
		testenv.SkipOrFail(t, "no cgroup2 hierarchy mounted")
	}
	t.Logf("CLONE_INTO_CGROUP: the real cgroup2 hierarchy at %s", mount)
	parent := filepath.Join(mount, "sockjail-test-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(parent) })
	for i := 0; i < 3; i++ {
		t.Run("session "+strconv.Itoa(i), func(t *testing.T) {
			p := testPolicy(t, func(p *policy.Policy) {
				p.Filesystem.ReadOnly = append(p.Filesystem.ReadOnly, policy.Path{Name: "/proc"})
				p.Limits.Memory, p.Limits.Tasks, p.Limits.CPUQuota = policy.Limit{Unlimited: true}, policy.Limit{Unlimited: true}, policy.Limit{Unlimited: true}
			})
			s := mustNew(t, p, []string{"cat", "/proc/self/cgroup"}, Options{})
			// No controllers needed: the test is about where the program
			// is born, which any cgroup2 hierarchy shows.
			s.cg.drv = &v2Driver{fs: kernelFS{}, root: mount, parent: parent, controllers: map[string]bool{}}
			r := runIn(t, s, "", nil)
			if r.exit != (Exit{}) {
				t.Fatalf("exit %v, stderr %q", r.exit, r.stderr)
			}
			rel := strings.TrimPrefix(parent, mount) + "/sockjail-" + strconv.Itoa(os.Getpid()) + "-"
			if !strings.Contains(r.stdout, "0::"+rel) {
				t.Errorf("the program is not in its cgroup %s*:\n%s", rel, r.stdout)
			}
			entries, _ := os.ReadDir(parent)
			for _, e := range entries {
				if e.IsDir() {
					t.Errorf("cgroup left in %s: %s", parent, e.Name())
				}
			}
		})
	}
}
