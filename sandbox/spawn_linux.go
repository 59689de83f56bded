package sandbox

/*
#cgo CFLAGS: -O2 -Wall -fno-stack-protector
#include <stdlib.h>
#include "spawn_linux.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
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
	c.argv = (**C.char)(unsafe.Pointer(t.cstrings(s.argv)))
	if s.workdir != "" {
		c.workdir = t.cstring(s.workdir)
	}
	c.clone_flags = C.ulong(s.ns.cloneFlags)
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

// StartConfig is what changes between two Starts of the same Sandbox.
type StartConfig struct {
	// Stdin, Stdout and Stderr become the program's fds 0, 1 and 2; -1
	// means /dev/null. They are duplicated, not consumed: the caller
	// still owns and closes them.
	Stdin, Stdout, Stderr int
	// Env is the program's complete environment ("KEY=value").
	Env []string
	// ControllingTTY makes Stdin the program's controlling terminal
	// (it must be a tty).
	ControllingTTY bool
}

// Process is a started program and, in PID-namespace mode, the minimal init
// that supervises it. Its methods are safe for concurrent use.
type Process struct {
	sb     *Sandbox
	pid    int // the first child: init A, or the program in the fallback
	pidfd  *os.File
	status *os.File // init mode: the program's wait status
	init   bool
	report Report
	dyn    *dynamicUID // user = "dynamic"
	tmpdir string      // TmpDir mode
	// uid is the program's uid, for the sweep of a dynamic user.
	uid int
	// stack is the init's stack (C memory), freed once the init is reaped.
	stack unsafe.Pointer

	mu       sync.Mutex
	reaped   bool
	waitOnce sync.Once
	exit     Exit
	waitErr  error
	closed   bool

	// statusOnce reads the init's report of the program's status once;
	// progExit is nil when the init ended without one.
	statusOnce sync.Once
	progExit   *Exit
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
		c.uid, c.gid = C.uint32_t(d.uid), C.uint32_t(d.uid)
		p.report.UID, p.report.GID = int(d.uid), int(d.uid)
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

	// The error pipe is close-on-exec: EOF means execve succeeded.
	var msg [8]byte
	n, _ := io.ReadFull(errPipe, msg[:])
	if n == len(msg) {
		step := int(*(*int32)(unsafe.Pointer(&msg[0])))
		errno := syscall.Errno(*(*int32)(unsafe.Pointer(&msg[4])))
		p.KillTree()
		p.Wait()
		p.closeFiles()
		name := "unknown"
		if step >= 0 && step < len(stepNames) {
			name = stepNames[step]
		}
		if step == C.SJ_STEP_EXECVE {
			switch errno {
			case syscall.ENOENT:
				return fail(&ProgramError{Kind: NotFound, Name: s.argv[0], Err: errno})
			case syscall.EACCES, syscall.ENOEXEC, syscall.EPERM:
				return fail(&ProgramError{Kind: NotExecutable, Name: s.argv[0], Err: errno})
			}
		}
		return fail(&StartError{Step: name, Errno: errno})
	}
	return p, nil
}

// newPollFile wraps a pipe or pidfd in an *os.File served by Go's netpoller,
// so that waiting on it parks a goroutine instead of pinning an OS thread.
func newPollFile(fd int, name string) *os.File {
	unix.SetNonblock(fd, true)
	return os.NewFile(uintptr(fd), name)
}

// Pid returns the pid (in sockjail's PID namespace) of the first child: the
// init in PID-namespace mode, else the program itself.
func (p *Process) Pid() int { return p.pid }

// Report returns what is enforced on this process.
func (p *Process) Report() Report { return p.report }

// Signal sends sig to the program: in PID-namespace mode through its init,
// which forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
// SIGWINCH and SIGCONT (SIGKILL kills the whole tree); in the fallback to the
// program's process group. After Wait it returns os.ErrProcessDone.
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return os.ErrProcessDone
	}
	if p.init {
		return p.sendSignalLocked(sig)
	}
	// The program is setsid's leader, so its pid is the group id; the
	// group cannot be recycled while our unreaped child holds that pid.
	return unix.Kill(-p.pid, sig)
}

func (p *Process) sendSignalLocked(sig syscall.Signal) error {
	err := withFd(p.pidfd, func(fd int) error { return unix.PidfdSendSignal(fd, sig, nil, 0) })
	if errors.Is(err, unix.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

func withFd(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// KillTree sends SIGKILL to every process of this session: the PID
// namespace's init (the kernel then kills the rest of the namespace), or in
// the fallback the program's process group and, for a dynamic user, every
// process with its uid. A grandchild that left the process group in the
// fallback without a dynamic user is not covered; the report says pidns =
// false in that case.
func (p *Process) KillTree() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.killTreeLocked()
}

func (p *Process) killTreeLocked() error {
	if p.init {
		if !p.reaped {
			if err := p.sendSignalLocked(syscall.SIGKILL); err != nil && err != os.ErrProcessDone {
				return err
			}
		}
		return nil
	}
	if !p.reaped {
		unix.Kill(-p.pid, syscall.SIGKILL)
	}
	if p.dyn != nil {
		return killUID(p.uid)
	}
	return nil
}

// Wait waits for the program to end and returns how it ended. In
// PID-namespace mode it also waits for the init, and so for every process
// of the session, to be gone; in the fallback it kills the program's
// process group before reaping the program. Wait may be called many times
// and from many goroutines; all get the same result.
func (p *Process) Wait() (Exit, error) {
	p.waitOnce.Do(func() { p.exit, p.waitErr = p.wait() })
	return p.exit, p.waitErr
}

// WaitProgram waits for the program itself to end and returns how it
// ended, without waiting for the rest of the session. In PID-namespace
// mode the init reports the program's status and exits at once, and the
// kernel then kills whatever the program left running: nothing can
// outlive the session, but it may still be going down when WaitProgram
// returns, and Wait waits for that. A caller can so act on the program's
// end (close the connection) while the namespace is torn down. In the
// fallback, and when the init ended without a report, it is Wait.
func (p *Process) WaitProgram() (Exit, error) {
	if !p.init {
		return p.Wait()
	}
	if e := p.programStatus(); e != nil {
		return *e, nil
	}
	return p.Wait()
}

// programStatus reads the init's report of the program's wait status
// once, and returns it, or nil when the init ended without writing it.
func (p *Process) programStatus() *Exit {
	p.statusOnce.Do(func() {
		var b [4]byte
		if n, _ := io.ReadFull(p.status, b[:]); n == len(b) {
			e := exitFromWaitStatus(syscall.WaitStatus(*(*int32)(unsafe.Pointer(&b[0]))))
			p.progExit = &e
		}
	})
	return p.progExit
}

func (p *Process) wait() (Exit, error) {
	var prog *Exit
	if p.init {
		prog = p.programStatus()
	}
	// Wait for the first child to become a zombie without reaping it, so
	// its pid (and in the fallback its process group) stays reserved.
	rc, err := p.pidfd.SyscallConn()
	if err != nil {
		return Exit{}, err
	}
	var info unix.Siginfo
	var werr error
	err = rc.Read(func(fd uintptr) bool {
		info = unix.Siginfo{}
		werr = unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		return werr != nil || siginfoPid(&info) != 0
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return Exit{}, fmt.Errorf("waiting for pid %d: %w", p.pid, err)
	}
	p.mu.Lock()
	if !p.init {
		// The session ends with the program: take the process group
		// down before the program's pid is released.
		unix.Kill(-p.pid, syscall.SIGKILL)
	}
	err = withFd(p.pidfd, func(fd int) error {
		return unix.Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED, nil)
	})
	p.reaped = true
	C.sj_free_stack(p.stack)
	p.stack = nil
	p.mu.Unlock()
	if err != nil {
		return Exit{}, fmt.Errorf("reaping pid %d: %w", p.pid, err)
	}
	if prog != nil {
		return *prog, nil
	}
	return exitFromSiginfo(&info), nil
}

// Siginfo layout for SIGCHLD on 64-bit Linux: signo, errno, code (int32
// each), padding, then si_pid, si_uid, si_status.
func siginfoPid(info *unix.Siginfo) int32 {
	return *(*int32)(unsafe.Add(unsafe.Pointer(info), 16))
}

// si_code values of SIGCHLD (<bits/siginfo-consts.h>).
const (
	cldExited = 1
	cldDumped = 3
)

func exitFromSiginfo(info *unix.Siginfo) Exit {
	status := *(*int32)(unsafe.Add(unsafe.Pointer(info), 24))
	switch info.Code {
	case cldExited:
		return Exit{Code: int(status)}
	case cldDumped:
		return Exit{Signal: syscall.Signal(status), Core: true}
	default:
		return Exit{Signal: syscall.Signal(status)}
	}
}

// Close releases the session: it makes sure the tree is gone (KillTree, then
// Wait), removes a TmpDir-mode directory, and releases a dynamic uid after
// no process with that uid remains. Call it once the program's end has been
// handled; it is safe to call more than once.
func (p *Process) Close() error {
	p.KillTree()
	_, werr := p.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	if werr != nil {
		errs = append(errs, werr)
	}
	if p.dyn != nil {
		// In PID-namespace mode the reaped init means every process of
		// the namespace is gone (the kernel waits for them before the
		// init can be reaped), so no process has the uid any more.
		// Without one, sweep by uid.
		if !p.init {
			if err := killUID(p.uid); err != nil {
				errs = append(errs, err)
				p.dyn = nil // keep the lock: the uid is not free
			}
		}
		if p.dyn != nil {
			// The uid is handed on only once the files it leaves
			// are root's; when that fails the record stays and the
			// next session to take the uid sweeps first.
			if err := releaseDynamicFiles(p.dyn.uid); err != nil {
				errs = append(errs, err)
			}
			p.dyn.release()
		}
	}
	if p.tmpdir != "" {
		if err := os.RemoveAll(p.tmpdir); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", p.tmpdir, err))
		}
	}
	p.closeFiles()
	return errors.Join(errs...)
}

func (p *Process) closeFiles() {
	if p.pidfd != nil {
		p.pidfd.Close()
	}
	if p.status != nil {
		p.status.Close()
	}
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
