package sandbox

import (
	"fmt"
	"os"
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
	// CgroupVersion is "v1" (controllers on v1 hierarchies, as on hybrid
	// hosts), "v2" or "none"; CgroupControllers are those sockjail would
	// use for sessions; CgroupCreate says whether it can create session
	// cgroups here, and Cgroup where, or why not.
	CgroupVersion     string   `json:"cgroup_version"`
	CgroupControllers []string `json:"cgroup_controllers"`
	CgroupCreate      bool     `json:"cgroup_create"`
	Cgroup            string   `json:"cgroup"`
	Pidfd             bool     `json:"pidfd"`
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
	r.probeCgroups(opt)
	if fd, err := unix.PidfdOpen(os.Getpid(), 0); err == nil {
		unix.Close(fd)
		r.Pidfd = true
	}
	return r
}

// probeCgroups fills in the cgroup fields.
func (r *ProbeReport) probeCgroups(opt Options) {
	r.CgroupVersion = CgroupNone
	drv, why := detectCgroups(opt)
	switch d := drv.(type) {
	case nil:
		var st unix.Statfs_t
		if unix.Statfs("/sys/fs/cgroup", &st) == nil {
			r.CgroupVersion = CgroupV1
			if st.Type == unix.CGROUP2_SUPER_MAGIC {
				r.CgroupVersion = CgroupV2
			}
		}
		r.Cgroup = why
		return
	case *v1Driver:
		var where []string
		for _, c := range []string{"memory", "pids", "cpu", "cpuacct"} {
			if h, ok := d.hier[c]; ok {
				r.CgroupControllers = append(r.CgroupControllers, c)
				where = append(where, h.base)
			}
		}
		r.Cgroup = "sessions in " + strings.Join(where, ", ")
		if len(d.why) > 0 {
			var miss []string
			for _, c := range []string{"memory", "pids", "cpu"} {
				if w, ok := d.why[c]; ok {
					miss = append(miss, w)
				}
			}
			if len(miss) > 0 {
				r.Cgroup += "; " + strings.Join(miss, "; ")
			}
		}
	case *v2Driver:
		for _, c := range []string{"memory", "pids", "cpu"} {
			if d.controllers[c] {
				r.CgroupControllers = append(r.CgroupControllers, c)
			}
		}
		r.Cgroup = "sessions in " + d.parent
		if d.leaf != "" {
			r.Cgroup += " (delegated; sockjail moves itself to " + d.leaf + ")"
		}
		if d.why != "" {
			r.Cgroup += "; " + d.why
		}
	}
	r.CgroupVersion = drv.version()
	r.CgroupCreate = true
}
