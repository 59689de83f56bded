package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"

	"github.com/sockjail/sockjail/policy"
)

// Landlock ABI versions that sockjail's policy features need.
const (
	landlockABINet    = 4 // TCP bind/connect rules
	landlockABIScopes = 6 // signal and abstract-unix scopes
	landlockABIAudit  = 7 // denials logged after execve
	// landlockABIResolveUnix restricts connect(2) to pathname unix sockets.
	landlockABIResolveUnix = 9
	// landlockABIUDP restricts UDP bind/connect/sendmsg.
	landlockABIUDP = 10
)

// landlockPresets are go-landlock's configs by ABI version: every access
// right that ABI knows, so that whatever the policy does not grant is denied.
var landlockPresets = []landlock.Config{
	{}, landlock.V1, landlock.V2, landlock.V3, landlock.V4, landlock.V5,
	landlock.V6, landlock.V7, landlock.V8, landlock.V9, landlock.V10, landlock.V11,
}

// Access sets for policy rules. They are narrower than go-landlock's
// RODirs/RWDirs: read_only does not include execute (only [filesystem].exec
// and the program itself may be executed), and nothing grants mknod of
// device nodes.
const (
	accessRead    = ll.AccessFSReadFile | ll.AccessFSReadDir
	accessRWFile  = ll.AccessFSReadFile | ll.AccessFSWriteFile | ll.AccessFSTruncate
	accessRWDir   = accessRWFile | ll.AccessFSReadDir | ll.AccessFSRemoveDir | ll.AccessFSRemoveFile | ll.AccessFSMakeDir | ll.AccessFSMakeReg | ll.AccessFSMakeSock | ll.AccessFSMakeFifo | ll.AccessFSMakeSym | ll.AccessFSRefer
	accessExec    = ll.AccessFSExecute | accessRead
	accessDevice  = ll.AccessFSReadFile | ll.AccessFSWriteFile | ll.AccessFSTruncate | ll.AccessFSIoctlDev
	accessFileMax = ll.AccessFSExecute | ll.AccessFSReadFile | ll.AccessFSWriteFile | ll.AccessFSTruncate | ll.AccessFSIoctlDev
)

// landlockPlan is the Landlock part of a Sandbox: one ruleset (files, TCP
// ports and IPC scopes together: separate layers would break renames across
// directories) described as a table that the spawner turns into a ruleset in
// each child (see sj_landlock in spawn_linux.c for why not once here).
type landlockPlan struct {
	abi   int // 0: no Landlock
	cfg   landlock.Config
	paths []llPath
	ports []llPort
	flags uint32 // landlock_restrict_self flags
	// tmpAccess is granted on the private /tmp (the tmpfs roots, or the
	// TmpDir directory) and on the private /dev/shm in the child.
	tmpAccess uint64
	// procAccess is granted on the root of the session's fresh /proc,
	// which exists only in the child.
	procAccess uint64
}

type llPath struct {
	name   string
	access uint64
	fd     int // O_PATH, opened in New, closed by Sandbox.Close
}

type llPort struct {
	port   uint16
	access uint64
}

func (l *landlockPlan) enabled() bool { return l.abi > 0 }

// check builds the planned ruleset once, from the descriptors the
// children will use, and throws it away: a rule the kernel refuses then
// fails in New, with the path it concerns, and not in every child. It
// costs one syscall per rule, no path lookups.
func (l *landlockPlan) check() error {
	attr := ll.RulesetAttr{
		HandledAccessFS:  uint64(l.cfg.HandledAccessFS),
		HandledAccessNet: uint64(l.cfg.HandledAccessNet),
		Scoped:           uint64(l.cfg.Scoped),
	}
	fd, err := ll.LandlockCreateRuleset(&attr, 0)
	if err != nil {
		return fmt.Errorf("landlock_create_ruleset: %w", err)
	}
	defer unix.Close(fd)
	for _, p := range l.paths {
		if err := ll.LandlockAddPathBeneathRule(fd, &ll.PathBeneathAttr{AllowedAccess: p.access, ParentFd: p.fd}, 0); err != nil {
			return fmt.Errorf("the rule for %q: %w", p.name, err)
		}
	}
	for _, p := range l.ports {
		if err := ll.LandlockAddNetPortRule(fd, &ll.NetPortAttr{AllowedAccess: p.access, Port: uint64(p.port)}, 0); err != nil {
			return fmt.Errorf("the rule for TCP port %d: %w", p.port, err)
		}
	}
	return nil
}

// mask intersects a with the file access rights the ABI knows.
func (l *landlockPlan) mask(a uint64) uint64 { return a & uint64(l.cfg.HandledAccessFS) }

// kernelLandlockABI returns the running kernel's Landlock ABI (0: none),
// capped by opt.MaxLandlockABI and by what go-landlock knows.
func kernelLandlockABI(opt Options) int {
	abi, err := ll.LandlockGetABIVersion()
	if err != nil || abi < 0 {
		abi = 0
	}
	if opt.MaxLandlockABI > 0 && abi > opt.MaxLandlockABI {
		abi = opt.MaxLandlockABI
	}
	return min(abi, len(landlockPresets)-1)
}

// planLandlock plans the ruleset every Start applies, and opens the paths
// of its rules once.
func (s *Sandbox) planLandlock(g *gaps) error {
	abi := kernelLandlockABI(s.opt)
	net := s.policy.Network
	if abi == 0 {
		g.add("Landlock is not available (kernel ABI 0, or not in the LSM list): file access and TCP ports would be unrestricted")
		if s.report.Tmp == TmpDir {
			g.add("private /tmp without Landlock: other sessions' TMPDIRs are protected by their mode only")
		}
		return nil
	}
	if abi < landlockABINet {
		g.add("Landlock network rules need ABI %d, the kernel has %d: TCP bind and connect would be unrestricted", landlockABINet, abi)
	}
	var scopes landlock.ScopedSet
	if net.ScopeSignals {
		scopes |= ll.ScopeSignal
	}
	if net.ScopeAbstractUnix {
		scopes |= ll.ScopeAbstractUnixSocket
	}
	if scopes != 0 && abi < landlockABIScopes {
		g.add("Landlock IPC scopes (signals, abstract unix sockets) need ABI %d, the kernel has %d", landlockABIScopes, abi)
	}

	l := &s.ll
	l.abi = abi
	l.cfg = landlockPresets[abi]
	l.cfg.Scoped &= scopes
	if abi >= landlockABIAudit {
		// Denials by the program get audited (its execve starts a new
		// "exec"); sockjail's own setup in the child does not.
		l.flags = ll.FlagRestrictSelfLogNewExecOn
	}

	fsys := s.policy.Filesystem
	// Each path is opened once, O_PATH, and the children build their
	// rulesets from these descriptors. A path the program could change
	// (one inside a read_write path) is opened without following any
	// symbolic link: a link there could be retargeted by a session, at
	// "/" say, while the next sandbox is built.
	writable := writableRoots(fsys.ReadWrite)
	add := func(key string, paths []policy.Path, fileAccess, dirAccess uint64) error {
		for _, p := range paths {
			fd, isDir, err := openForRule(p.Name, writable, false)
			if err != nil {
				if p.Optional && errors.Is(err, fs.ErrNotExist) {
					continue
				}
				s.closeRuleset()
				return fmt.Errorf("filesystem.%s %q: %w (hint: write it as \"-%s\" to ignore a missing path)", key, p.Name, err, p.Name)
			}
			a := dirAccess
			if !isDir {
				// Directory rights on a file give EINVAL.
				a = fileAccess & accessFileMax
			}
			l.paths = append(l.paths, llPath{name: p.Name, access: l.mask(a), fd: fd})
		}
		return nil
	}
	if err := add("read_only", fsys.ReadOnly, accessRead, accessRead); err != nil {
		return err
	}
	if err := add("read_write", fsys.ReadWrite, accessRWFile, accessRWDir); err != nil {
		return err
	}
	if err := add("exec", fsys.Exec, accessExec, accessExec); err != nil {
		return err
	}
	if err := add("devices", fsys.Devices, accessDevice, accessDevice); err != nil {
		return err
	}
	// The program and its interpreters can always be run, under every
	// policy (the seed's /opt script works without naming /opt). Their
	// rules are file rules on what was opened, which must be a regular
	// file that someone may execute: a path swapped to a directory (or
	// to a secret) while it is opened gets no rule at all.
	for _, p := range s.exec {
		fd, _, err := openForRule(p, writable, true)
		if err != nil {
			s.closeRuleset()
			return fmt.Errorf("opening %q for its Landlock rule: %w", p, err)
		}
		l.paths = append(l.paths, llPath{name: p, access: l.mask(accessExec & accessFileMax), fd: fd})
	}
	if s.report.Tmp != TmpOff || s.shmOpts != "" {
		l.tmpAccess = l.mask(accessRWDir)
	}
	if s.procMount {
		// Read only: the mount is read-only too, and nothing in it
		// is executed (a program's /proc/self/exe resolves to the
		// program's own file, which has its own rule).
		l.procAccess = l.mask(accessRead)
	}
	if abi >= landlockABINet {
		// A range covering every port is the same as not handling that
		// right, and costs no rules.
		if allPorts(net.BindTCP) {
			l.cfg.HandledAccessNet &^= ll.AccessNetBindTCP
		} else {
			l.ports = appendPorts(l.ports, net.BindTCP, ll.AccessNetBindTCP)
		}
		if allPorts(net.ConnectTCP) {
			l.cfg.HandledAccessNet &^= ll.AccessNetConnectTCP
		} else {
			l.ports = appendPorts(l.ports, net.ConnectTCP, ll.AccessNetConnectTCP)
		}
		s.report.LandlockNet = l.cfg.HandledAccessNet&(ll.AccessNetBindTCP|ll.AccessNetConnectTCP) != 0
	}

	if err := l.check(); err != nil {
		s.closeRuleset()
		return fmt.Errorf("building the Landlock ruleset: %w", err)
	}
	s.report.LandlockABI = abi
	if l.cfg.Scoped&ll.ScopeSignal != 0 {
		s.report.Scopes = append(s.report.Scopes, "signal")
	}
	if l.cfg.Scoped&ll.ScopeAbstractUnixSocket != 0 {
		s.report.Scopes = append(s.report.Scopes, "abstract_unix")
	}
	return nil
}

// errRetargetable is why a symbolic link the program could change is
// refused as (or on the way to) a Landlock rule's path.
var errRetargetable = errors.New("a symbolic link inside a read_write path, which the program could retarget; name the real path")

// errNotExecutableFile is why a path of the exec chain that does not open
// as an executable regular file gets no rule.
var errNotExecutableFile = errors.New("not an executable regular file (swapped while it was opened?)")

// writableRoots returns the read_write paths, the places where the program
// can create, rename and retarget links.
// With "/" among them there is nothing a retargeted link could add, and
// none is returned.
func writableRoots(rw []policy.Path) []string {
	roots := make([]string, 0, len(rw))
	for _, p := range rw {
		if p.Name == "/" {
			return nil
		}
		roots = append(roots, p.Name)
	}
	return roots
}

// insideAny reports whether path is one of roots or below one (paths are
// absolute and clean).
func insideAny(path string, roots []string) bool {
	for _, r := range roots {
		if path == r || strings.HasPrefix(path, r+"/") {
			return true
		}
	}
	return false
}

// openForRule opens path with O_PATH for a Landlock rule and reports
// whether it is a directory. The rule binds to what was opened, so what
// was opened is checked, on the descriptor, not on the path:
//   - with execFile (the program and its interpreters, which may well be
//     links, /usr/bin/python3 say), path is resolved first, and what was
//     opened must be a regular file with an execute bit
//     (errNotExecutableFile), so that its rule is never a directory's nor
//     a secret's;
//   - a path (resolved, with execFile) inside one of writable is opened
//     with RESOLVE_NO_SYMLINKS: a symbolic link anywhere on it is refused
//     (errRetargetable), since the program could point it anywhere while
//     the next sandbox is built.
//
// Errors are *fs.PathError, as os.Stat's. It does not cover a directory
// outside the policy that a host user (not the program) can write: who
// can swap the program's interpreter there can run anything anyway, and
// the checks above still keep the rule to one executable file.
func openForRule(path string, writable []string, execFile bool) (fd int, isDir bool, err error) {
	if execFile {
		if path, err = filepath.EvalSymlinks(path); err != nil {
			return -1, false, err
		}
	}
	if insideAny(path, writable) {
		fd, err = unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err == unix.ELOOP {
			return -1, false, &fs.PathError{Op: "open", Path: path, Err: errRetargetable}
		}
	} else {
		fd, err = unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return -1, false, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, false, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	if execFile && (st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o111 == 0) {
		unix.Close(fd)
		return -1, false, &fs.PathError{Op: "open", Path: path, Err: errNotExecutableFile}
	}
	return fd, st.Mode&unix.S_IFMT == unix.S_IFDIR, nil
}

func allPorts(rs []policy.PortRange) bool {
	for _, r := range rs {
		if r.Lo <= 1 && r.Hi == 65535 {
			return true
		}
	}
	return false
}

func appendPorts(dst []llPort, rs []policy.PortRange, access uint64) []llPort {
	for _, r := range rs {
		for port := int(r.Lo); port <= int(r.Hi); port++ {
			dst = append(dst, llPort{port: uint16(port), access: access})
		}
	}
	return dst
}

func (s *Sandbox) closeRuleset() {
	for i := range s.ll.paths {
		if s.ll.paths[i].fd >= 0 {
			unix.Close(s.ll.paths[i].fd)
			s.ll.paths[i].fd = -1
		}
	}
}
