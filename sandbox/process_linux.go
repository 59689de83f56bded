package sandbox

// The Go side of a started program: waiting for it, signalling it, ending
// its tree and releasing what its session held. The cgo spawner that starts
// it is spawn_linux.go; nothing here calls C but freeStack.

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
	// cg is the session's cgroup, removed by Close; cgStats what it
	// counted.
	cg        *sessionCgroup
	cgStats   CgroupStats
	oomKilled bool // the OOM killer acted and sockjail ended the session

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

// CgroupStats returns what the session's cgroup counted; valid after
// Close, zero without a session cgroup.
func (p *Process) CgroupStats() CgroupStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cgStats
}

// OOMKilled reports whether the kernel's OOM killer acted in the session's
// cgroup, which ends the whole session.
func (p *Process) OOMKilled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.oomKilled || p.cgStats.OOMKills > 0
}

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
		return werr != nil || sigchld(&info).Pid != 0
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
	freeStack(p.stack)
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

// sigchldInfo is siginfo_t as the kernel fills it for a child's state
// change (<bits/types/siginfo_t.h>, 64-bit): the common head, the padding
// that aligns the union, then si_pid, si_uid and si_status.
type sigchldInfo struct {
	Signo, Errno, Code int32
	_                  int32
	Pid                int32
	UID                uint32
	Status             int32
	_                  [100]byte
}

// The union is read through sigchldInfo: both are the kernel's 128 bytes.
var _ [unsafe.Sizeof(unix.Siginfo{}) - unsafe.Sizeof(sigchldInfo{})]struct{}
var _ [unsafe.Sizeof(sigchldInfo{}) - unsafe.Sizeof(unix.Siginfo{})]struct{}

func sigchld(info *unix.Siginfo) *sigchldInfo {
	return (*sigchldInfo)(unsafe.Pointer(info))
}

// si_code values of SIGCHLD (<bits/siginfo-consts.h>), which x/sys/unix
// does not name.
const (
	cldExited = 1
	cldDumped = 3
)

func exitFromSiginfo(info *unix.Siginfo) Exit {
	c := sigchld(info)
	switch c.Code {
	case cldExited:
		return Exit{Code: int(c.Status)}
	case cldDumped:
		return Exit{Signal: syscall.Signal(c.Status), Core: true}
	default:
		return Exit{Signal: syscall.Signal(c.Status)}
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
	if p.cg != nil {
		// Every process of the session is gone (Wait returned), so the
		// cgroup is empty but for one that left the process group in a
		// session without a PID namespace, which release kills. With a
		// PID namespace, the reaped init means no process is left, and
		// the cgroup may be parked for the next session.
		p.cgStats = p.cg.stats()
		if err := p.cg.release(p.init, p.cgStats); err != nil {
			errs = append(errs, err)
		}
		p.sb.sweepOnce()
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
