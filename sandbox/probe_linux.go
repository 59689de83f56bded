package sandbox

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ProbeReport is what this machine offers sockjail.
type ProbeReport struct {
	Kernel string `json:"kernel"`
	EUID   int    `json:"euid"`
	// LandlockABI is the ABI sockjail would use (0: none), after
	// Options.MaxLandlockABI; KernelLandlockABI is the kernel's own.
	LandlockABI       int `json:"landlock_abi"`
	KernelLandlockABI int `json:"kernel_landlock_abi"`
	// Seccomp reports filter mode; SeccompActions the return actions the
	// kernel supports (SECCOMP_GET_ACTION_AVAIL).
	Seccomp        bool     `json:"seccomp"`
	SeccompActions []string `json:"seccomp_actions"`
	// UserNS: sockjail, as this euid, can create a user namespace (with
	// mount and PID namespaces inside it) and map its ids.
	UserNS    bool   `json:"userns"`
	UserNSErr string `json:"userns_error,omitempty"`
	// MountNS/PIDNS: as this euid, without a user namespace.
	MountNS bool `json:"mountns"`
	PIDNS   bool `json:"pidns"`
	// CgroupV2Delegation: a cgroup2 hierarchy where sockjail's own cgroup
	// is writable, so per-session cgroups could be made. sockjail does not
	// use cgroups yet; PID namespaces end process trees instead.
	CgroupV2Delegation bool   `json:"cgroup2_delegation"`
	Cgroup             string `json:"cgroup"`
	Pidfd              bool   `json:"pidfd"`
	// Simulated lists the test hooks in effect (Options).
	Simulated []string `json:"simulated,omitempty"`
}

// Probe reports what this machine offers. It starts short-lived children
// to test namespaces; it changes nothing.
func Probe(opt Options) ProbeReport {
	var r ProbeReport
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		r.Kernel = unix.ByteSliceToString(uts.Release[:])
	}
	r.EUID = os.Geteuid()
	r.LandlockABI = kernelLandlockABI(opt)
	r.KernelLandlockABI = kernelLandlockABI(Options{})
	if opt.MaxLandlockABI > 0 {
		r.Simulated = append(r.Simulated, fmt.Sprintf("%s=%d", EnvMaxLandlockABI, opt.MaxLandlockABI))
	}
	r.Seccomp = seccompAvailable()
	for _, a := range []struct {
		name string
		act  uint32
	}{
		{"kill_process", unix.SECCOMP_RET_KILL_PROCESS},
		{"kill_thread", unix.SECCOMP_RET_KILL_THREAD},
		{"trap", unix.SECCOMP_RET_TRAP},
		{"errno", unix.SECCOMP_RET_ERRNO},
		{"user_notif", unix.SECCOMP_RET_USER_NOTIF},
		{"trace", unix.SECCOMP_RET_TRACE},
		{"log", unix.SECCOMP_RET_LOG},
		{"allow", unix.SECCOMP_RET_ALLOW},
	} {
		act := a.act
		_, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&act)))
		if e == 0 {
			r.SeccompActions = append(r.SeccompActions, a.name)
		}
	}
	uid, gid := os.Geteuid(), os.Getegid()
	if opt.NoUserNS {
		r.UserNSErr = EnvNoUserNS + " is set"
		r.Simulated = append(r.Simulated, EnvNoUserNS)
	} else if err := nsUsable(unix.CLONE_NEWUSER|unix.CLONE_NEWNS|unix.CLONE_NEWPID, uid, gid); err != nil {
		r.UserNSErr = err.Error()
	} else {
		r.UserNS = true
	}
	r.MountNS = nsUsable(unix.CLONE_NEWNS, uid, gid) == nil
	r.PIDNS = nsUsable(unix.CLONE_NEWPID, uid, gid) == nil
	r.CgroupV2Delegation, r.Cgroup = cgroup2Delegation()
	if fd, err := unix.PidfdOpen(os.Getpid(), 0); err == nil {
		unix.Close(fd)
		r.Pidfd = true
	}
	return r
}

// cgroup2Delegation reports whether sockjail's own cgroup in a cgroup2
// hierarchy (unified, or the hybrid layout's /sys/fs/cgroup/unified) is
// writable, with a description either way.
func cgroup2Delegation() (bool, string) {
	var mount string
	for _, m := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(m, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			mount = m
			break
		}
	}
	if mount == "" {
		return false, "no cgroup2 hierarchy mounted"
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return false, err.Error()
	}
	var path string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			path = p
		}
	}
	if path == "" {
		return false, "no cgroup2 entry in /proc/self/cgroup"
	}
	dir := filepath.Join(mount, path)
	kind := "unified"
	if mount != "/sys/fs/cgroup" {
		kind = "hybrid"
	}
	if _, err := os.Stat(filepath.Join(dir, "cgroup.subtree_control")); err != nil {
		return false, fmt.Sprintf("%s cgroup2 at %s: %v", kind, dir, err)
	}
	ctrl, _ := os.ReadFile(filepath.Join(mount, "cgroup.controllers"))
	if kind == "hybrid" || len(bytes.TrimSpace(ctrl)) == 0 {
		return false, fmt.Sprintf("%s cgroup2 at %s without controllers (v1 holds them)", kind, dir)
	}
	if unix.Access(dir, unix.W_OK) != nil {
		return false, fmt.Sprintf("%s cgroup2 at %s, not writable by uid %d", kind, dir, os.Geteuid())
	}
	return true, fmt.Sprintf("%s cgroup2 at %s, writable", kind, dir)
}
