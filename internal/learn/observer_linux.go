package learn

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sockjail/sockjail/policy"
	"github.com/sockjail/sockjail/sandbox"
)

// Observer records what tracing sessions do. Pass its Trace method as
// [sandbox.Options.Trace]: each session's seccomp listener is served by a
// supervisor goroutine that records every syscall, then lets it proceed
// unchanged (SECCOMP_USER_NOTIF_FLAG_CONTINUE). Nothing is ever denied or
// altered, so a program behaves as it would unconfined by Landlock and
// seccomp, in the same namespaces as under `run`.
//
// What is recorded, and what is not:
//   - each syscall's name, as the policy's table spells it (numbers it
//     doesn't know are not recorded);
//   - files and directories opened (not with O_PATH, which Landlock doesn't
//     check), created, removed, renamed, truncated, listed and executed, by
//     their real path: symlinks resolved in the session's mount namespace.
//     A path that doesn't exist when used (a failed open) is not recorded;
//     a created one is recorded once it exists, checked when the creating
//     thread makes its next syscall;
//   - the #! interpreters and ELF loader that the kernel opens itself for
//     an execve, read from the executed file;
//   - TCP ports connected to and bound (the socket's protocol is read from
//     the program's own descriptor), and unix sockets by path or @name.
//
// Not recorded: paths under /proc, and what the session's own mounts
// provide (the private /tmp, /var/tmp and /dev/shm, and a TmpDir): the
// sandbox grants those to every session. stat(2), access(2) and chdir(2)
// are not file accesses Landlock controls. A path is read from the
// program's memory while the call waits, so a program that rewrites it
// from another thread between the read and the kernel's own can make the
// record differ from what happened: the observer traces, it does not
// guard.
type Observer struct {
	mu       sync.Mutex
	all      Observations
	sessions sync.WaitGroup
	traced   int
	onTrace  func(n int)
	// maxPaths is MaxPaths, lowered by tests.
	maxPaths int
}

// NewObserver returns an Observer that has seen nothing.
func NewObserver() *Observer { return &Observer{maxPaths: MaxPaths} }

// Trace serves one session's listener until every process of the session
// is gone; it returns at once.
func (o *Observer) Trace(t sandbox.Trace) {
	o.sessions.Add(1)
	o.mu.Lock()
	o.traced++
	n, f := o.traced, o.onTrace
	o.mu.Unlock()
	if f != nil {
		f(n)
	}
	go func() {
		defer o.sessions.Done()
		s := newSupervisor(t)
		s.maxPaths = o.maxPaths
		s.run()
		o.mu.Lock()
		o.all.Merge(&s.obs)
		o.mu.Unlock()
	}()
}

// OnTrace sets f to be called with the number of sessions traced so far
// each time another one starts. f must not block.
func (o *Observer) OnTrace(f func(n int)) {
	o.mu.Lock()
	o.onTrace = f
	o.mu.Unlock()
}

// Observations waits until every traced session has ended and returns
// what they saw, merged.
func (o *Observer) Observations() *Observations {
	o.sessions.Wait()
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.all.Clone()
}

// seccompNotif and seccompNotifResp are the kernel's struct seccomp_notif
// and struct seccomp_notif_resp (linux/seccomp.h).
type seccompNotif struct {
	id    uint64
	pid   uint32
	flags uint32
	nr    int32
	arch  uint32
	ip    uint64
	args  [6]uint64
}

type seccompNotifResp struct {
	id    uint64
	val   int64
	err   int32
	flags uint32
}

// pendingCreate is a path a call may create, checked after the call.
type pendingCreate struct {
	path   string // the real path of its directory, joined with its name
	access Access
}

// supervisor serves one session's listener.
type supervisor struct {
	listener *os.File
	report   sandbox.Report
	obs      Observations
	// skip lists the directories the session's own mounts provide.
	skip []string
	// pending holds, per thread, what its last call may have created.
	pending map[int][]pendingCreate
	// maxPaths bounds obs.Paths and, apart, obs.Unix.
	maxPaths int
}

func newSupervisor(t sandbox.Trace) *supervisor {
	s := &supervisor{listener: t.Listener, report: t.Report, pending: map[int][]pendingCreate{}}
	s.obs.Sessions = 1
	s.skip = []string{"/proc"}
	if t.Report.Tmp == sandbox.TmpNamespace || t.Report.Tmp == sandbox.TmpUserNS {
		s.skip = append(s.skip, "/tmp", "/var/tmp")
	}
	if t.Report.Shm > 0 {
		s.skip = append(s.skip, "/dev/shm")
	}
	if t.Report.TmpDir != "" {
		s.skip = append(s.skip, t.Report.TmpDir)
	}
	return s
}

// run receives and answers notifications until the filter has no process
// left (POLLHUP), then checks what is still pending.
func (s *supervisor) run() {
	defer s.listener.Close()
	fd := int(s.listener.Fd())
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			break
		}
		if pfd[0].Revents&unix.POLLIN == 0 {
			break // POLLHUP: every process of the session is gone
		}
		var n seccompNotif
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&n))); e != 0 {
			// ENOENT: the caller died (or was interrupted) in between.
			continue
		}
		s.observe(fd, &n)
		resp := seccompNotifResp{id: n.id, flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
		unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp)))
	}
	for tid := range s.pending {
		s.checkPending(tid)
	}
}

// syscallNames maps x86-64 syscall numbers to the policy's names.
var syscallNames = sync.OnceValue(func() map[int32]string {
	m := map[int32]string{}
	for _, name := range policy.SyscallNames() {
		if nr, ok := policy.LookupSyscall(name); ok {
			m[int32(nr)] = name
		}
	}
	return m
})

// call is one notification being decoded.
type call struct {
	s   *supervisor
	fd  int // the listener
	n   *seccompNotif
	tid int
}

// valid reports whether the notification still stands, so that what was
// read from /proc/TID belongs to its caller and not to a reused tid.
func (c *call) valid() bool {
	id := c.n.id
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(c.fd), unix.SECCOMP_IOCTL_NOTIF_ID_VALID, uintptr(unsafe.Pointer(&id)))
	return e == 0
}

func (s *supervisor) observe(fd int, n *seccompNotif) {
	tid := int(n.pid)
	// The thread's previous call has returned: what it may have created
	// exists now or never will.
	if len(s.pending[tid]) > 0 {
		s.checkPending(tid)
	}
	name, ok := syscallNames()[n.nr]
	if !ok {
		return
	}
	s.obs.AddSyscall(name)
	c := &call{s: s, fd: fd, n: n, tid: tid}
	a := &n.args
	switch n.nr {
	case unix.SYS_OPEN:
		c.open(unix.AT_FDCWD, a[0], int(a[1]))
	case unix.SYS_CREAT:
		c.open(unix.AT_FDCWD, a[0], unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC)
	case unix.SYS_OPENAT:
		c.open(int32(a[0]), a[1], int(a[2]))
	case unix.SYS_OPENAT2:
		if how, ok := c.readMem(a[2], 8); ok {
			c.open(int32(a[0]), a[1], int(binary.LittleEndian.Uint64(how)))
		}
	case unix.SYS_EXECVE:
		c.exec(unix.AT_FDCWD, a[0], 0)
	case unix.SYS_EXECVEAT:
		c.exec(int32(a[0]), a[1], int(a[4]))
	case unix.SYS_MKDIR, unix.SYS_MKNOD:
		c.create(unix.AT_FDCWD, a[0])
	case unix.SYS_MKDIRAT, unix.SYS_MKNODAT:
		c.create(int32(a[0]), a[1])
	case unix.SYS_SYMLINK, unix.SYS_LINK:
		c.create(unix.AT_FDCWD, a[1])
	case unix.SYS_SYMLINKAT:
		c.create(int32(a[1]), a[2])
	case unix.SYS_LINKAT:
		c.create(int32(a[2]), a[3])
	case unix.SYS_UNLINK, unix.SYS_RMDIR:
		c.remove(unix.AT_FDCWD, a[0])
	case unix.SYS_UNLINKAT:
		c.remove(int32(a[0]), a[1])
	case unix.SYS_RENAME:
		c.remove(unix.AT_FDCWD, a[0])
		c.create(unix.AT_FDCWD, a[1])
	case unix.SYS_RENAMEAT, unix.SYS_RENAMEAT2:
		c.remove(int32(a[0]), a[1])
		c.create(int32(a[2]), a[3])
	case unix.SYS_TRUNCATE:
		c.path(unix.AT_FDCWD, a[0], true, Write)
	case unix.SYS_FTRUNCATE:
		c.fdPath(int32(a[0]), Write)
	case unix.SYS_GETDENTS, unix.SYS_GETDENTS64:
		c.fdPath(int32(a[0]), List)
	case unix.SYS_CONNECT, unix.SYS_BIND:
		c.sockaddr(int32(a[0]), a[1], a[2], n.nr == unix.SYS_BIND)
	case unix.SYS_SENDTO:
		if a[4] != 0 {
			c.sockaddr(int32(a[0]), a[4], a[5], false)
		}
	}
}

// checkPending records what tid's last call created.
func (s *supervisor) checkPending(tid int) {
	for _, p := range s.pending[tid] {
		if real, _, ok := resolveIn(tid, p.path, false); ok {
			s.add(real, p.access)
		}
	}
	delete(s.pending, tid)
}

// MaxPaths bounds the distinct paths, and apart the unix socket names,
// one session's record keeps (about 200 bytes each): a program that
// touches a million files can't make sockjail hold them all. What is past
// it is counted in Observations.Dropped.
const MaxPaths = 1 << 16

// add records a real path unless the session's own mounts provide it.
func (s *supervisor) add(real string, a Access) {
	for _, d := range s.skip {
		if real == d || strings.HasPrefix(real, d+"/") {
			return
		}
	}
	if _, seen := s.obs.Paths[real]; !seen && len(s.obs.Paths) >= s.maxPaths {
		s.obs.Dropped++
		return
	}
	s.obs.AddPath(real, a)
}

// addUnix records a unix socket's name, within MaxPaths.
func (s *supervisor) addUnix(name string) {
	if _, seen := s.obs.Unix[name]; !seen && len(s.obs.Unix) >= s.maxPaths {
		s.obs.Dropped++
		return
	}
	s.obs.AddUnix(name)
}

// readMem reads n bytes at addr in the caller's memory.
func (c *call) readMem(addr uint64, n int) ([]byte, bool) {
	f, err := os.Open("/proc/" + strconv.Itoa(c.tid) + "/mem")
	if err != nil {
		return nil, false
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, int64(addr)); err != nil {
		return nil, false
	}
	return b, true
}

// readString reads a NUL-terminated path at addr, page by page (a string
// can end just before an unmapped page).
func (c *call) readString(addr uint64) (string, bool) {
	if addr == 0 {
		return "", false
	}
	f, err := os.Open("/proc/" + strconv.Itoa(c.tid) + "/mem")
	if err != nil {
		return "", false
	}
	defer f.Close()
	var out []byte
	for len(out) < unix.PathMax {
		chunk := 4096 - int(addr%4096)
		b := make([]byte, chunk)
		n, err := f.ReadAt(b, int64(addr))
		if i := bytes.IndexByte(b[:n], 0); i >= 0 {
			return string(append(out, b[:i]...)), true
		}
		if err != nil {
			return "", false
		}
		out = append(out, b[:n]...)
		addr += uint64(n)
	}
	return "", false
}

// absPath joins a path the caller passed to its directory: dirfd, or its
// working directory for AT_FDCWD, as the caller's mount namespace names
// them.
func (c *call) absPath(dirfd int32, p string) (string, bool) {
	if strings.HasPrefix(p, "/") {
		return path.Clean(p), true
	}
	link := "/proc/" + strconv.Itoa(c.tid) + "/cwd"
	if dirfd != unix.AT_FDCWD {
		link = "/proc/" + strconv.Itoa(c.tid) + "/fd/" + strconv.Itoa(int(dirfd))
	}
	base, err := os.Readlink(link)
	if err != nil || !strings.HasPrefix(base, "/") {
		return "", false
	}
	return path.Join(base, p), true
}

// target reads the path argument at addr, relative to dirfd, and returns
// it absolute.
func (c *call) target(dirfd int32, addr uint64) (string, bool) {
	p, ok := c.readString(addr)
	if !ok || p == "" {
		return "", false
	}
	abs, ok := c.absPath(dirfd, p)
	return abs, ok && c.valid()
}

// path records the file at addr (relative to dirfd) as used with a, if it
// exists.
func (c *call) path(dirfd int32, addr uint64, follow bool, a Access) {
	abs, ok := c.target(dirfd, addr)
	if !ok {
		return
	}
	if real, st, ok := resolveIn(c.tid, abs, follow); ok {
		c.s.add(real, a|kind(st, a))
	}
}

// kind adds List for a directory read and Device for a device.
func kind(st *unix.Stat_t, a Access) Access {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if a&Read != 0 {
			return List
		}
	case unix.S_IFCHR, unix.S_IFBLK:
		return Device
	}
	return 0
}

// open records an open(2) by its flags.
func (c *call) open(dirfd int32, addr uint64, flags int) {
	if flags&unix.O_PATH != 0 {
		return // Landlock checks no O_PATH open
	}
	var a Access
	switch flags & unix.O_ACCMODE {
	case unix.O_RDONLY:
		a = Read
	case unix.O_WRONLY:
		a = Write
	default:
		a = Read | Write
	}
	if flags&unix.O_TRUNC != 0 {
		a |= Write
	}
	abs, ok := c.target(dirfd, addr)
	if !ok {
		return
	}
	follow := flags&unix.O_NOFOLLOW == 0
	real, st, ok := resolveIn(c.tid, abs, follow)
	switch {
	case ok:
		if st.Mode&unix.S_IFMT == unix.S_IFDIR && a&Read != 0 {
			a = a&^Read | List
		}
		c.s.add(real, a|kind(st, 0))
	case flags&unix.O_CREAT != 0:
		c.pend(abs, a|Create)
	}
}

// create records a path the call creates, once it exists.
func (c *call) create(dirfd int32, addr uint64) {
	abs, ok := c.target(dirfd, addr)
	if !ok {
		return
	}
	if _, _, exists := resolveIn(c.tid, abs, false); exists {
		return // EEXIST, or a rename's target replaced: nothing new
	}
	c.pend(abs, Create)
}

// pend keeps a path to check once the call returned.
func (c *call) pend(abs string, a Access) {
	c.s.pending[c.tid] = append(c.s.pending[c.tid], pendingCreate{path: abs, access: a})
}

// remove records a path the call removes, if it exists.
func (c *call) remove(dirfd int32, addr uint64) { c.path(dirfd, addr, false, Remove) }

// fdPath records the file open as fd.
func (c *call) fdPath(fd int32, a Access) {
	link, err := os.Readlink("/proc/" + strconv.Itoa(c.tid) + "/fd/" + strconv.Itoa(int(fd)))
	if err != nil || !strings.HasPrefix(link, "/") || !c.valid() {
		return
	}
	if real, st, ok := resolveIn(c.tid, link, false); ok {
		c.s.add(real, a|kind(st, 0))
	}
}

// exec records an executed file with the #! interpreters and ELF loader
// the kernel opens for it.
func (c *call) exec(dirfd int32, addr uint64, flags int) {
	var abs string
	if flags&unix.AT_EMPTY_PATH != 0 {
		if p, _ := c.readString(addr); p == "" {
			link, err := os.Readlink("/proc/" + strconv.Itoa(c.tid) + "/fd/" + strconv.Itoa(int(dirfd)))
			if err != nil || !c.valid() {
				return
			}
			abs = link
		}
	}
	if abs == "" {
		var ok bool
		if abs, ok = c.target(dirfd, addr); !ok {
			return
		}
	}
	// The kernel recurses through at most 4 interpreters
	// (BINPRM_MAX_RECURSION) and one ELF loader.
	for range 6 {
		real, _, ok := resolveIn(c.tid, abs, true)
		if !ok {
			return
		}
		c.s.add(real, Exec)
		if abs, ok = interpreter(c.tid, real); !ok {
			return
		}
	}
}

// interpreter returns what the kernel opens to run the file at real: the
// first word of its #! line, or an ELF's PT_INTERP loader.
func interpreter(tid int, real string) (string, bool) {
	f, err := openIn(tid, real, true, unix.O_RDONLY)
	if err != nil {
		return "", false
	}
	defer f.Close()
	head, _ := bufio.NewReaderSize(f, 256).Peek(256)
	if bytes.HasPrefix(head, []byte("#!")) {
		line, _, _ := bytes.Cut(head[2:], []byte("\n"))
		fields := strings.Fields(string(line))
		if len(fields) == 0 || !strings.HasPrefix(fields[0], "/") {
			return "", false
		}
		return path.Clean(fields[0]), true
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return "", false
	}
	for _, p := range ef.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, min(p.Filesz, unix.PathMax))
		if _, err := p.ReadAt(b, 0); err != nil {
			return "", false
		}
		s, _, _ := bytes.Cut(b, []byte{0})
		if len(s) == 0 || s[0] != '/' {
			return "", false
		}
		return path.Clean(string(s)), true
	}
	return "", false
}

// sockaddr records a connect or bind (or a sendto's address).
func (c *call) sockaddr(fd int32, addr, size uint64, bind bool) {
	if size < 2 || size > 128 {
		return
	}
	b, ok := c.readMem(addr, int(size))
	if !ok {
		return
	}
	switch binary.LittleEndian.Uint16(b) {
	case unix.AF_INET, unix.AF_INET6:
		if size < 4 || !c.isTCP(fd) || !c.valid() {
			return
		}
		port := binary.BigEndian.Uint16(b[2:4])
		if bind {
			c.s.obs.AddBindTCP(port)
		} else {
			c.s.obs.AddConnectTCP(port)
		}
	case unix.AF_UNIX:
		name := b[2:]
		if len(name) == 0 || !c.valid() {
			return // unnamed, or autobind
		}
		if name[0] == 0 {
			c.s.addUnix("@" + string(name[1:]))
			return
		}
		p, _, _ := bytes.Cut(name, []byte{0})
		abs, ok := c.absPath(unix.AT_FDCWD, string(p))
		if !ok {
			return
		}
		c.s.addUnix(abs)
		if bind {
			c.pend(abs, Create)
		}
	}
}

// isTCP reports whether the caller's descriptor fd is a TCP socket, by
// asking a copy of it (pidfd_getfd).
func (c *call) isTCP(fd int32) bool {
	tgid := threadGroup(c.tid)
	if tgid == 0 {
		return false
	}
	pidfd, err := unix.PidfdOpen(tgid, 0)
	if err != nil {
		return false
	}
	defer unix.Close(pidfd)
	sock, err := unix.PidfdGetfd(pidfd, int(fd), 0)
	if err != nil {
		return false
	}
	defer unix.Close(sock)
	proto, err := unix.GetsockoptInt(sock, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	return err == nil && proto == unix.IPPROTO_TCP
}

// threadGroup returns the process id of thread tid, or 0.
func threadGroup(tid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return 0
	}
	_, rest, ok := bytes.Cut(b, []byte("\nTgid:"))
	if !ok {
		return 0
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	n, _ := strconv.Atoi(strings.TrimSpace(string(line)))
	return n
}

// openIn opens abs as thread tid sees it: in its root and mount namespace,
// every symlink resolved there (absolute ones from its root), and the last
// one only when follow. /proc/self and /proc/thread-self name tid's own.
func openIn(tid int, abs string, follow bool, flags int) (*os.File, error) {
	t := strconv.Itoa(tid)
	for _, self := range []string{"/proc/self/", "/proc/thread-self/"} {
		if rest, ok := strings.CutPrefix(abs, self); ok {
			fd, err := unix.Open("/proc/"+t+"/"+rest, flags|unix.O_CLOEXEC, 0)
			if err != nil {
				return nil, err
			}
			return os.NewFile(uintptr(fd), abs), nil
		}
	}
	root, err := unix.Open("/proc/"+t+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(root)
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	if !follow {
		how.Flags |= unix.O_NOFOLLOW
	}
	fd, err := unix.Openat2(root, strings.TrimPrefix(abs, "/"), &how)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), abs), nil
}

// resolveIn returns the real path of abs as tid sees it, and what it is.
// ok is false when it doesn't exist.
func resolveIn(tid int, abs string, follow bool) (string, *unix.Stat_t, bool) {
	f, err := openIn(tid, abs, follow, unix.O_PATH)
	if err != nil {
		return "", nil, false
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return "", nil, false
	}
	// The kernel names a descriptor's file from the root of the mount
	// namespace it lives in: the path the program sees.
	real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil || !strings.HasPrefix(real, "/") {
		return "", nil, false
	}
	return real, &st, true
}
