// Package sandbox starts a program confined by a sockjail policy.
//
// [New] does, once per policy and program, everything that can be computed
// ahead of time: it resolves the program and its #! interpreter, compiles
// the seccomp filter to BPF, builds the Landlock ruleset, resolves the
// user, group and rlimits, and decides which namespaces this machine allows.
// [Sandbox.Start] is the per-connection hot path: a small C spawner clones a
// child that shares sockjail's memory (as posix_spawn does, so the cost does
// not grow with sockjail's heap); as pid 1 of a new PID namespace when
// possible, it mounts a private /tmp and starts the program, which drops
// privileges, applies Landlock and seccomp and execs. Nothing is ever applied to
// sockjail's own process, and sockjail is never re-executed; docs/design.md
// ("Spawn path") explains why.
//
// The package knows nothing about sockets: it is handed three file
// descriptors. It does not copy data, decide when a session ends or log;
// that is internal/session's job. Enforcement is fail-closed: when the
// policy asks for a protection the kernel cannot give and the policy is
// strict, New returns a *[RefusedError] and nothing is started.
package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"syscall"
)

// Environment variables read by [OptionsFromEnv]. They exist so that tests
// (and the escape suite driving the real binary) can simulate an older
// kernel or a machine without user namespaces; they never loosen anything.
const (
	// EnvMaxLandlockABI caps the Landlock ABI sockjail believes the kernel
	// supports ("3" makes a kernel with ABI 7 look like ABI 3).
	EnvMaxLandlockABI = "SOCKJAIL_TEST_MAX_LANDLOCK_ABI"
	// EnvNoUserNS, when non-empty, makes sockjail behave as if
	// unprivileged user namespaces were unavailable.
	EnvNoUserNS = "SOCKJAIL_TEST_NO_USERNS"
)

// Options tune [New] for tests and diagnostics. The zero value is what
// production uses.
type Options struct {
	// MaxLandlockABI, when positive, makes New treat the kernel as
	// supporting at most this Landlock ABI.
	MaxLandlockABI int
	// NoUserNS forces the unprivileged fallback without user namespaces.
	NoUserNS bool

	// Trace, when set, makes every session a tracing session (`sockjail
	// learn`): the same namespaces, private /tmp, credentials and limits,
	// but no Landlock and a seccomp filter that denies nothing and sends
	// every syscall to a listener, which Start hands to Trace before the
	// program's execve. Trace must start serving the listener and
	// return: the execve waits for its answer. Unlike every other
	// option this takes protections away; nothing but learn sets it.
	Trace func(Trace)

	// cgroupV2, in tests, puts the session cgroups in a v2 tree other
	// than the machine's.
	cgroupV2 *testCgroupTree
}

// testCgroupTree is a cgroup2 tree for tests: a mount point, sockjail's
// cgroup in it, and the file system that holds it.
type testCgroupTree struct {
	root, own string
	fs        cgroupFS
}

// OptionsFromEnv reads [EnvMaxLandlockABI] and [EnvNoUserNS] from getenv
// (os.Getenv in production).
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	var o Options
	if v := getenv(EnvMaxLandlockABI); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return o, fmt.Errorf("%s=%q is not a Landlock ABI number", EnvMaxLandlockABI, v)
		}
		o.MaxLandlockABI = n
	}
	o.NoUserNS = getenv(EnvNoUserNS) != ""
	return o, nil
}

// TmpMode says how the program's private /tmp is provided.
type TmpMode string

const (
	// TmpNamespace: a tmpfs on /tmp and /var/tmp in a new mount namespace
	// (sockjail started as root).
	TmpNamespace TmpMode = "namespace"
	// TmpUserNS: the same, inside a new user namespace (unprivileged).
	TmpUserNS TmpMode = "userns"
	// TmpDir: a per-session directory named by TMPDIR; Landlock denies the
	// rest of /tmp (unprivileged, no user namespaces).
	TmpDir TmpMode = "dir"
	// TmpOff: the policy does not ask for a private /tmp.
	TmpOff TmpMode = "off"
)

// Report says what is enforced on a program. Every session logs it, so an
// operator can see a degraded sandbox instead of assuming a full one.
type Report struct {
	// LandlockABI is the Landlock ABI the ruleset was built for; 0 means
	// no Landlock.
	LandlockABI int `json:"landlock_abi"`
	// LandlockNet reports whether TCP bind/connect rules are in force.
	LandlockNet bool `json:"landlock_net"`
	// Scopes lists the Landlock IPC scopes in force ("signal",
	// "abstract_unix").
	Scopes []string `json:"scopes"`
	// SeccompRules counts the syscall rules of the seccomp filter; 0 means
	// no filter.
	SeccompRules int     `json:"seccomp_rules"`
	SeccompBPF   int     `json:"seccomp_bpf_insns"`
	UID          int     `json:"uid"`
	GID          int     `json:"gid"`
	Dynamic      bool    `json:"dynamic_user"`
	Tmp          TmpMode `json:"tmp"`
	TmpDir       string  `json:"tmpdir,omitempty"`
	PIDNS        bool    `json:"pidns"`
	// IPCNS reports a private IPC namespace. Without one, System V IPC
	// and POSIX message queue syscalls fail with EACCES instead.
	IPCNS  bool `json:"ipcns"`
	UserNS bool `json:"userns"`
	// Proc reports a fresh procfs on /proc with the session's processes
	// only. Without one, the host's /proc is there and Landlock denies it.
	Proc bool `json:"proc"`
	// Shm is the size in bytes of the private /dev/shm; 0 means none
	// (the host's stays, and Landlock denies it).
	Shm uint64 `json:"shm,omitempty"`
	// Cgroup says what bounds the session's totals: CgroupV1, CgroupV2,
	// CgroupUnit or CgroupNone.
	Cgroup string `json:"cgroup"`
	// MemoryMax, TasksMax and CPUQuota (percent of one CPU) are the
	// bounds in force; 0 means none.
	MemoryMax uint64 `json:"memory_max,omitempty"`
	TasksMax  uint64 `json:"tasks_max,omitempty"`
	CPUQuota  uint64 `json:"cpu_quota,omitempty"`
	// Traced reports a tracing session: nothing is denied, every syscall
	// is observed (Options.Trace).
	Traced bool `json:"traced,omitempty"`
	// Skipped lists protections the policy asked for that are not applied
	// (with enforce = "best-effort", and the default policy's bounds
	// where no cgroup can be made).
	Skipped []string `json:"skipped,omitempty"`
}

// RefusedError is returned by [New] when the policy is strict and asks for
// protections this machine cannot give. Missing says which, one reason per
// element, in words an operator can act on.
type RefusedError struct {
	Missing []string
}

func (e *RefusedError) Error() string {
	return "refusing to start the program: " + strings.Join(e.Missing, "; ") +
		` (enforce = "best-effort" would run it with less protection)`
}

// ProgramErrorKind says why a program cannot be run.
type ProgramErrorKind int

const (
	// NotFound: no such file (the shell's exit code 127).
	NotFound ProgramErrorKind = iota + 1
	// NotExecutable: the file exists but cannot be executed (126).
	NotExecutable
)

// ProgramError reports a program that cannot be run. It matches
// fs.ErrNotExist or fs.ErrPermission with errors.Is.
type ProgramError struct {
	Kind ProgramErrorKind
	Name string // as given on the command line
	Err  error  // the underlying cause
}

func (e *ProgramError) Error() string {
	what := "not found"
	if e.Kind == NotExecutable {
		what = "not executable"
	}
	return fmt.Sprintf("program %q %s: %v", e.Name, what, e.Err)
}

func (e *ProgramError) Is(target error) bool {
	switch target {
	case fs.ErrNotExist:
		return e.Kind == NotFound
	case fs.ErrPermission:
		return e.Kind == NotExecutable
	}
	return false
}

func (e *ProgramError) Unwrap() error { return e.Err }

// StartError is returned by [Sandbox.Start] when a step between fork and
// execve failed. The program did not run.
type StartError struct {
	Step  string // "mount_tmp", "setresuid", "landlock", "execve", …
	Errno syscall.Errno
}

func (e *StartError) Error() string {
	return fmt.Sprintf("starting the program failed at %s: %v", e.Step, e.Errno)
}

func (e *StartError) Unwrap() error { return e.Errno }

// Exit is how the program ended.
type Exit struct {
	Code   int            // exit status when Signal == 0
	Signal syscall.Signal // the signal that killed it, or 0
	Core   bool           // it dumped core
}

// ExitCode returns the shell's convention: Code, or 128+Signal.
func (e Exit) ExitCode() int {
	if e.Signal != 0 {
		return 128 + int(e.Signal)
	}
	return e.Code
}

func (e Exit) String() string {
	if e.Signal != 0 {
		s := "killed by " + e.Signal.String()
		if e.Core {
			s += " (core dumped)"
		}
		return s
	}
	return "exit status " + strconv.Itoa(e.Code)
}

func exitFromWaitStatus(ws syscall.WaitStatus) Exit {
	if ws.Signaled() {
		return Exit{Signal: ws.Signal(), Core: ws.CoreDump()}
	}
	return Exit{Code: ws.ExitStatus()}
}

var errClosed = errors.New("sandbox is closed")
