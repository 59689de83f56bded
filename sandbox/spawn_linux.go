package sandbox

// The cgo boundary: the data the C spawner (spawn_linux.c) reads, converted
// once per Sandbox (the template) and once per Start, and the calls into
// it. What a started Process does afterwards is process_linux.go.

/*
#cgo CFLAGS: -O2 -Wall -fno-stack-protector
#include <stdlib.h>
#include "spawn_linux.h"
*/
import "C"

import (
	"fmt"
	"io"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// stepNames names the SJ_STEP_* constants of spawn_linux.h, for errors.
var stepNames = [...]string{
	C.SJ_STEP_NONE:            "none",
	C.SJ_STEP_SIGNALS:         "signals",
	C.SJ_STEP_PDEATHSIG:       "pdeathsig",
	C.SJ_STEP_SETGROUPS_DENY:  "setgroups_deny",
	C.SJ_STEP_UID_MAP:         "uid_map",
	C.SJ_STEP_GID_MAP:         "gid_map",
	C.SJ_STEP_MOUNT_PRIVATE:   "mount_private",
	C.SJ_STEP_MOUNT_TMP:       "mount_tmp",
	C.SJ_STEP_MOUNT_PROC:      "mount_proc",
	C.SJ_STEP_MOUNT_SHM:       "mount_shm",
	C.SJ_STEP_FORK_PROGRAM:    "fork_program",
	C.SJ_STEP_SETSID:          "setsid",
	C.SJ_STEP_DUP:             "dup",
	C.SJ_STEP_TIOCSCTTY:       "tiocsctty",
	C.SJ_STEP_CLOSE_RANGE:     "close_range",
	C.SJ_STEP_CHDIR:           "chdir",
	C.SJ_STEP_SETRLIMIT:       "setrlimit",
	C.SJ_STEP_CAPBSET:         "capbset_drop",
	C.SJ_STEP_SETGROUPS:       "setgroups",
	C.SJ_STEP_SETRESGID:       "setresgid",
	C.SJ_STEP_SETRESUID:       "setresuid",
	C.SJ_STEP_AMBIENT:         "ambient_clear",
	C.SJ_STEP_CAPSET:          "capset",
	C.SJ_STEP_NO_NEW_PRIVS:    "no_new_privs",
	C.SJ_STEP_LANDLOCK_CREATE: "landlock_create_ruleset",
	C.SJ_STEP_LANDLOCK_RULE:   "landlock_add_rule",
	C.SJ_STEP_LANDLOCK_TMP:    "landlock_add_rule_tmp",
	C.SJ_STEP_LANDLOCK:        "landlock_restrict_self",
	C.SJ_STEP_SECCOMP:         "seccomp",
	C.SJ_STEP_SIGMASK:         "sigprocmask",
	C.SJ_STEP_EXECVE:          "execve",
	C.SJ_STEP_PROG_FD:         "program_fd",
	C.SJ_STEP_CGROUP:          "cgroup",
	C.SJ_STEP_TRACE:           "trace_handover",
}

// cTemplate is the part of a C struct sj_spawn that is the same for every
// Start of one Sandbox, kept in C memory for the Sandbox's lifetime.
type cTemplate struct {
	s      C.struct_sj_spawn
	allocs []unsafe.Pointer
}

func (t *cTemplate) cstring(s string) *C.char {
	p := C.CString(s)
	t.allocs = append(t.allocs, unsafe.Pointer(p))
	return p
}

func (t *cTemplate) cstrings(ss []string) **C.char {
	arr := cStringArray(ss)
	t.allocs = append(t.allocs, unsafe.Pointer(arr))
	for _, p := range unsafe.Slice(arr, len(ss)) {
		t.allocs = append(t.allocs, unsafe.Pointer(p))
	}
	return arr
}

func (t *cTemplate) bytes(b []byte) unsafe.Pointer {
	p := C.CBytes(b)
	t.allocs = append(t.allocs, p)
	return p
}

func (t *cTemplate) free() {
	for _, p := range t.allocs {
		C.free(p)
	}
	t.allocs = nil
}

// cStringArray returns a C NULL-terminated array of C copies of ss.
func cStringArray(ss []string) **C.char {
	ptrSize := unsafe.Sizeof((*C.char)(nil))
	arr := (**C.char)(C.malloc(C.size_t(uintptr(len(ss)+1) * ptrSize)))
	a := unsafe.Slice(arr, len(ss)+1)
	for i, s := range ss {
		a[i] = C.CString(s)
	}
	a[len(ss)] = nil
	return arr
}

func freeStringArray(arr **C.char, n int) {
	for _, p := range unsafe.Slice(arr, n) {
		C.free(unsafe.Pointer(p))
	}
	C.free(unsafe.Pointer(arr))
}

// buildTemplate fills the per-Sandbox C data from s.
func (s *Sandbox) buildTemplate() {
	t := &s.tmpl
	c := &t.s
	c.path = t.cstring(s.path)
	c.prog_fd = C.int(s.progFD)
	if s.progScript {
		c.prog_script = 1
	}
	c.argv = (**C.char)(unsafe.Pointer(t.cstrings(s.argv)))
	if s.workdir != "" {
		c.workdir = t.cstring(s.workdir)
	}
	c.clone_flags = C.ulong(s.ns.cloneFlags)
	c.cgroup_fd = -1
	c.trace_sock = -1
	if s.ns.init {
		c.init = 1
	}
	c.pdeathsig = C.int(syscall.SIGKILL)
	if s.ns.userns {
		c.uid_map = t.cstring(fmt.Sprintf("%d %d 1", s.ns.outerUID, s.ns.outerUID))
		c.gid_map = t.cstring(fmt.Sprintf("%d %d 1", s.ns.outerGID, s.ns.outerGID))
	}
	if s.ns.cloneFlags&unix.CLONE_NEWNS != 0 {
		for i, p := range s.tmpMounts {
			c.tmp_paths[i] = t.cstring(p)
		}
		c.ntmp = C.int(len(s.tmpMounts))
		c.tmp_opts = t.cstring(s.tmpOpts)
		if s.procMount {
			c.mount_proc = 1
		}
		if s.shmOpts != "" {
			c.shm_opts = t.cstring(s.shmOpts)
		}
	}
	if n := len(s.rlimits); n > 0 {
		arr := (*C.struct_sj_rlimit)(C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(C.struct_sj_rlimit{}))))
		t.allocs = append(t.allocs, unsafe.Pointer(arr))
		for i, r := range s.rlimits {
			e := &unsafe.Slice(arr, n)[i]
			e.resource = C.int(r.resource)
			e.cur = C.uint64_t(r.cur)
			e.max = C.uint64_t(r.max)
		}
		c.rlim = arr
		c.nrlim = C.int(n)
	}
	if s.creds.dropBounding {
		c.drop_bset = 1
		c.last_cap = C.int(s.creds.lastCap)
	}
	if s.creds.setGroups {
		c.set_groups = 1
		c.ngroups = C.int(len(s.creds.groups))
		if len(s.creds.groups) > 0 {
			b := make([]byte, 4*len(s.creds.groups))
			for i, g := range s.creds.groups {
				*(*uint32)(unsafe.Pointer(&b[4*i])) = g
			}
			c.groups = (*C.uint32_t)(t.bytes(b))
		}
	}
	if s.creds.setIDs {
		c.set_ids = 1
		c.uid = C.uint32_t(s.creds.uid)
		c.gid = C.uint32_t(s.creds.gid)
	}
	if l := &s.ll; l.enabled() {
		c.ll_enabled = 1
		c.ll_handled_fs = C.uint64_t(l.cfg.HandledAccessFS)
		c.ll_handled_net = C.uint64_t(l.cfg.HandledAccessNet)
		c.ll_scoped = C.uint64_t(l.cfg.Scoped)
		c.ll_flags = C.uint32_t(l.flags)
		c.ll_tmp_access = C.uint64_t(l.tmpAccess)
		c.ll_proc_access = C.uint64_t(l.procAccess)
		if n := len(l.paths); n > 0 {
			arr := (*C.struct_sj_llpath)(C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(C.struct_sj_llpath{}))))
			t.allocs = append(t.allocs, unsafe.Pointer(arr))
			for i, p := range l.paths {
				e := &unsafe.Slice(arr, n)[i]
				e.fd = C.int(p.fd)
				e.access = C.uint64_t(p.access)
			}
			c.llpaths, c.nllpaths = arr, C.int(n)
		}
		if n := len(l.ports); n > 0 {
			arr := (*C.struct_sj_llport)(C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(C.struct_sj_llport{}))))
			t.allocs = append(t.allocs, unsafe.Pointer(arr))
			for i, p := range l.ports {
				e := &unsafe.Slice(arr, n)[i]
				e.port = C.uint64_t(p.port)
				e.access = C.uint64_t(p.access)
			}
			c.llports, c.nllports = arr, C.int(n)
		}
	}
	if len(s.sc.bpf) > 0 {
		c.bpf = t.bytes(s.sc.bpf)
		c.bpf_len = C.ushort(len(s.sc.bpf) / 8)
	}
}

// Start starts the program with cfg. It is safe to call concurrently from
// many goroutines, and costs one clone (two in PID-namespace mode) that
// shares sockjail's memory, so the cost does not grow with sockjail's heap,
// plus the program's own exec; no Go runtime is started. It returns once the
// program has been exec'd.
//
// A failure before execve is returned as a *StartError naming the step, or a
// *ProgramError when execve itself reported ENOENT or EACCES.
func (s *Sandbox) Start(cfg StartConfig) (*Process, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errClosed
	}
	p := &Process{sb: s, init: s.ns.init, report: s.report, uid: s.creds.uid}

	// In C memory: the children share ours and read it until execve.
	cs := (*C.struct_sj_spawn)(C.malloc(C.size_t(unsafe.Sizeof(C.struct_sj_spawn{}))))
	defer C.free(unsafe.Pointer(cs))
	*cs = s.tmpl.s // a copy; the template stays untouched
	c := cs
	c.fd[0], c.fd[1], c.fd[2] = C.int(cfg.Stdin), C.int(cfg.Stdout), C.int(cfg.Stderr)
	if cfg.ControllingTTY {
		c.ctty = 1
	}
	env := cfg.Env

	var perSession []func() // undo on failure
	fail := func(err error) (*Process, error) {
		for i := len(perSession) - 1; i >= 0; i-- {
			perSession[i]()
		}
		return nil, err
	}

	if s.dynamic {
		d, err := allocDynamicUID(s.policy.Program.DynamicUIDs.Lo, s.policy.Program.DynamicUIDs.Hi, !s.ns.init, s.writableRoots())
		if err != nil {
			return fail(err)
		}
		perSession = append(perSession, func() { d.release() })
		p.dyn = d
		p.uid = int(d.uid)
		gid := d.uid
		if s.creds.fixedGID {
			gid = uint32(s.creds.gid)
		}
		c.uid, c.gid = C.uint32_t(d.uid), C.uint32_t(gid)
		p.report.UID, p.report.GID = int(d.uid), int(gid)
	}
	if s.report.Tmp == TmpDir {
		dir, err := sessionTmpDir(p.uid)
		if err != nil {
			return fail(err)
		}
		perSession = append(perSession, func() { os.RemoveAll(dir) })
		cdir := C.CString(dir)
		defer C.free(unsafe.Pointer(cdir))
		c.ll_tmpdir = cdir
		p.tmpdir = dir
		p.report.TmpDir = dir
		env = append(append([]string(nil), env...), "TMPDIR="+dir)
	}

	if s.cg.drv != nil {
		cg, err := s.takeCgroup()
		if err != nil {
			return fail(err)
		}
		perSession = append(perSession, func() { cg.destroy() })
		p.cg = cg
		if cg.dirFD >= 0 {
			c.cgroup_fd = C.int(cg.dirFD)
		}
		files := cg.procsFiles()
		for i, f := range files {
			cf := C.CString(f)
			defer C.free(unsafe.Pointer(cf))
			c.cgprocs[i] = cf
		}
		c.ncgprocs = C.int(len(files))
	}

	var trace *traceHandover
	if s.opt.Trace != nil {
		h, err := newTraceHandover()
		if err != nil {
			return fail(err)
		}
		defer h.close()
		trace = h
		filter := traceFilter(h.theirs)
		bpf := C.CBytes(filter)
		defer C.free(bpf)
		c.bpf, c.bpf_len = bpf, C.ushort(len(filter)/8)
		c.trace_sock = C.int(h.theirs)
	}

	envp := cStringArray(env)
	defer freeStringArray(envp, len(env))
	c.envp = (**C.char)(unsafe.Pointer(envp))

	pid := int(C.sj_spawn(c))
	if pid < 0 {
		return fail(fmt.Errorf("clone: %w", syscall.Errno(-pid)))
	}
	p.pid = pid
	p.stack = c.stack
	errPipe := newPollFile(int(c.err_fd), "spawn-errors")
	defer errPipe.Close()
	p.pidfd = newPollFile(int(c.pidfd), "pidfd")
	if p.init {
		p.status = newPollFile(int(c.status_fd), "status")
	}
	// abandon ends a start that failed after the clone: the children
	// are killed and reaped before the session's resources go.
	abandon := func(err error) (*Process, error) {
		p.KillTree()
		p.Wait()
		p.closeFiles()
		return fail(err)
	}
	if p.cg != nil {
		// The child sets up meanwhile (the mounts, the program's move
		// into its cgroups): registering here keeps this off the path
		// to the program's start.
		if err := p.cg.registerOOM(); err != nil {
			return abandon(err)
		}
	}
	if trace != nil {
		// The program's execve waits for the supervisor: hand it the
		// listener before waiting for the execve. With none, the child
		// failed first and the error pipe below says where.
		l, err := trace.receive()
		if err != nil {
			return abandon(err)
		}
		if l != nil {
			s.opt.Trace(Trace{Listener: l, Report: p.report})
		}
	}

	// The error pipe is close-on-exec: EOF means execve succeeded.
	var msg [8]byte
	n, _ := io.ReadFull(errPipe, msg[:])
	if n == len(msg) {
		step := int(*(*int32)(unsafe.Pointer(&msg[0])))
		errno := syscall.Errno(*(*int32)(unsafe.Pointer(&msg[4])))
		name := "unknown"
		if step >= 0 && step < len(stepNames) {
			name = stepNames[step]
		}
		if step == C.SJ_STEP_EXECVE {
			switch errno {
			case syscall.ENOENT:
				return abandon(&ProgramError{Kind: NotFound, Name: s.argv[0], Err: errno})
			case syscall.EACCES, syscall.ENOEXEC, syscall.EPERM:
				return abandon(&ProgramError{Kind: NotExecutable, Name: s.argv[0], Err: errno})
			}
		}
		return abandon(&StartError{Step: name, Errno: errno})
	}
	if p.cg != nil {
		// The program is in its cgroup; the descriptors that put it
		// there are no longer needed.
		p.cg.closeFDs()
		p.watchOOM(p.cg)
	}
	return p, nil
}

// freeStack frees an init's stack, once the init is reaped.
func freeStack(stack unsafe.Pointer) {
	C.sj_free_stack(stack)
}

// probeClone reports whether a child can be cloned with flags (writing its
// own id maps for CLONE_NEWUSER), or the errno why not. With CLONE_NEWNS and
// CLONE_NEWPID, procErr says whether the kernel lets that child mount a
// fresh procfs.
func probeClone(flags uintptr, uid, gid int) (err, procErr error) {
	um := C.CString(fmt.Sprintf("%d %d 1", uid, uid))
	gm := C.CString(fmt.Sprintf("%d %d 1", gid, gid))
	defer C.free(unsafe.Pointer(um))
	defer C.free(unsafe.Pointer(gm))
	var pe C.int
	if e := C.sj_probe_clone(C.ulong(flags), um, gm, &pe); e != 0 {
		return syscall.Errno(e), nil
	}
	if pe != 0 {
		return nil, syscall.Errno(pe)
	}
	return nil, nil
}
