package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

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

// landlockPlan is the Landlock part of a Sandbox.
type landlockPlan struct {
	abi   int // 0: no Landlock
	cfg   landlock.Config
	rules []landlock.Rule
	fd    int // the shared ruleset, -1 when none
	flags uint32
}

func (l *landlockPlan) enabled() bool { return l.abi > 0 }

// build creates a ruleset from the plan's rules plus read-write access to
// rwDirs. The fd is close-on-exec; the caller closes it.
func (l *landlockPlan) build(rwDirs ...string) (int, error) {
	rules := l.rules
	if len(rwDirs) > 0 {
		rules = append(rules[:len(rules):len(rules)], l.access(accessRWDir, rwDirs...))
	}
	fd, flags, err := l.cfg.NewRulesetFD(rules...)
	if err != nil {
		return -1, fmt.Errorf("sockjail: building the Landlock ruleset: %w", err)
	}
	if fd < 0 {
		return -1, errors.New("sockjail: Landlock ruleset is empty (bug)")
	}
	l.flags = flags
	return fd, nil
}

// access is a rule granting a (intersected with what the ABI knows) on paths.
func (l *landlockPlan) access(a uint64, paths ...string) landlock.FSRule {
	return landlock.PathAccess(landlock.AccessFSSet(a)&l.cfg.HandledAccessFS, paths...)
}

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

// planLandlock builds the single ruleset (files, TCP ports and IPC scopes
// together: separate layers would break renames across directories) that
// every Start applies. Rules bind to the inodes open now, so a tmpfs the
// child mounts later over /tmp is reached through the /tmp rule: Landlock's
// path walk crosses the mountpoint (TestPrivateTmpLandlock checks this).
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
		l.cfg = l.cfg.EnableLoggingForSubprocesses()
	}
	// The config never exceeds the kernel's ABI, so BestEffort changes
	// nothing on an honest kernel; it only guards against a kernel that
	// reports more than it enforces.
	l.cfg = l.cfg.BestEffort()

	fsys := s.policy.Filesystem
	add := func(key string, paths []policy.Path, fileAccess, dirAccess uint64) error {
		for _, p := range paths {
			fi, err := os.Stat(p.Name)
			if err != nil {
				if p.Optional && errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return fmt.Errorf("sockjail: filesystem.%s %q: %w (hint: write it as \"-%s\" to ignore a missing path)", key, p.Name, err, p.Name)
			}
			a := dirAccess
			if !fi.IsDir() {
				// Directory rights on a file give EINVAL.
				a = fileAccess & accessFileMax
			}
			l.rules = append(l.rules, l.access(a, p.Name))
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
	// policy (the seed's /opt script works without naming /opt).
	for _, p := range s.exec {
		l.rules = append(l.rules, l.access(accessExec&accessFileMax, p))
	}
	if s.ns.cloneFlags&unix.CLONE_NEWNS != 0 && len(s.tmpMounts) > 0 {
		l.rules = append(l.rules, l.access(accessRWDir, s.tmpMounts...))
	}
	if abi >= landlockABINet {
		for _, r := range net.BindTCP {
			for port := int(r.Lo); port <= int(r.Hi); port++ {
				l.rules = append(l.rules, landlock.BindTCP(uint16(port)))
			}
		}
		for _, r := range net.ConnectTCP {
			for port := int(r.Lo); port <= int(r.Hi); port++ {
				l.rules = append(l.rules, landlock.ConnectTCP(uint16(port)))
			}
		}
		s.report.LandlockNet = true
	}
	fd, err := l.build()
	if err != nil {
		return err
	}
	l.fd = fd
	s.report.LandlockABI = abi
	if l.cfg.Scoped&ll.ScopeSignal != 0 {
		s.report.Scopes = append(s.report.Scopes, "signal")
	}
	if l.cfg.Scoped&ll.ScopeAbstractUnixSocket != 0 {
		s.report.Scopes = append(s.report.Scopes, "abstract_unix")
	}
	return nil
}

func (s *Sandbox) closeRuleset() {
	if s.ll.fd >= 0 {
		unix.Close(s.ll.fd)
		s.ll.fd = -1
	}
}
