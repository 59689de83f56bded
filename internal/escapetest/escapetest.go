// Package escapetest is the machinery of sockjail's escape suite (the tests
// are cmd/sockjail/escape_test.go; the table of attempts, outcomes and the
// layers that stop them is testdata/escape/README.md): it compiles the
// small C programs of testdata/escape, renders the policies of
// testdata/escape/policies, sets up the files, sockets and listeners the
// attempts aim at, and runs each attempt through the real `sockjail run`
// binary on a real loopback TCP connection, in one of three modes:
//   - root: sockjail started as root (a plain system service);
//   - unprivileged: sockjail started through setpriv as a uid of its own
//     (UnprivUID), the DynamicUser= path, where the sandbox uses a user
//     namespace;
//   - unprivileged-no-userns: the same with SOCKJAIL_TEST_NO_USERNS=1, the
//     fallback for kernels that forbid unprivileged user namespaces (a
//     per-session TMPDIR, no PID namespace).
//
// It is for tests only, needs root, gcc and a static libc, and decides no
// outcome itself: what each attempt must give is the suite's table.
package escapetest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/exitcode"
	"github.com/sockjail/sockjail/internal/proctest"
	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/policy"
	"golang.org/x/sys/unix"
)

// DynamicUID is what ProgramUID answers when the program runs as a uid of
// its session's own: sockjail started as root with user = "" takes one from
// the default policy's dynamic_uids for each session.
const DynamicUID = -1

// UnprivUID is the uid the unprivileged modes start sockjail as, and so
// the program's uid there, like the transient uid of systemd's
// DynamicUser=. It is a uid of its own, in no passwd file, rather than
// nobody: RLIMIT_NPROC counts a uid's processes machine-wide, and other
// tests run programs as nobody at the same time (measured: their processes
// made our program's execve fail with EAGAIN).
const UnprivUID = 4242450

// ProgramUID is the program's uid in mode m under policy pol: a dynamic
// uid of the session's own (DynamicUID) when sockjail runs as root, else
// sockjail's own uid, and UnprivUID under the nproc policy, which names it.
func ProgramUID(m, pol string) int {
	if m == "root" && pol != "nproc" {
		return DynamicUID
	}
	return UnprivUID
}

// IsProgramUID reports whether uid is what ProgramUID(m, pol) stands for.
func IsProgramUID(m, pol string, uid int) bool {
	want := ProgramUID(m, pol)
	if want == DynamicUID {
		return policy.Default().Program.DynamicUIDs.Contains(uint32(uid))
	}
	return uid == want
}

// Mode is one way of starting sockjail.
type Mode struct {
	Name   string
	Unpriv bool     // start sockjail as UnprivUID through setpriv
	Env    []string // added to sockjail's environment
}

// Modes are the three modes the suite runs in (see the package comment).
var Modes = []Mode{
	{Name: "root"},
	{Name: "unprivileged", Unpriv: true},
	{Name: "unprivileged-no-userns", Unpriv: true, Env: []string{"SOCKJAIL_TEST_NO_USERNS=1"}},
}

// Policies are the policy templates under testdata/escape/policies
// (without ".toml"); "default" means no --policy at all, the embedded
// default.
var Policies = []string{
	"default", "read", "write", "exec", "connect", "bind", "abstract",
	"signals", "ptrace", "mount", "unshare", "setuid", "iouring",
	"iouring-best-effort", "nproc", "fsize", "as",
}

// BinaryEnv names an environment variable that points the suite at
// an installed sockjail (say /usr/local/bin/sockjail on a server) instead of
// the one built from this tree. UnprivUID must be able to run it.
const BinaryEnv = "SOCKJAIL_ESCAPE_BINARY"

// Env is what the suite sets up once per test: the compiled
// programs, the files and listeners the attempts aim at, and the policies.
type Env struct {
	Sockjail string
	Root     string // a fresh directory under /srv, mode 0755
	Bin      string // the compiled programs
	// Vars are the {placeholders} of the attempts' arguments and the
	// policy templates: {bin}, {secret}, {connectport}, ...
	Vars     map[string]string
	Policies map[string]string // name → rendered policy file
}

// Programs are the C files of testdata/escape.
var Programs = []string{
	"read", "write", "exec", "helper", "tmp", "connect", "bind", "abstract",
	"ptrace", "kill", "mount", "unshare", "clone", "link", "unixpath", "udp",
	"tfo", "listen", "fds", "env", "setuid", "int80", "x32", "iouring", "sys",
	"meta", "paths", "ipc", "family", "proc",
	"rlimit", "forkbomb", "fsize", "mem", "uid",
	// issue 21's findings about the program's uid
	"setid", "persist", "flood",
	// cmd/sockjail/escape_unmediated_test.go
	"dgram", "triple", "ifconf", "inotify", "metaall", "prio",
}

// Setup builds sockjail and the programs and creates the targets.
// Everything lives outside /tmp, which the sandbox replaces with a private
// tmpfs, and is readable by every uid for the unprivileged modes.
func Setup(t *testing.T) *Env {
	t.Helper()
	testenv.RequireRoot(t)
	gcc := testenv.LookTool(t, "gcc")
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/libc.a"); err != nil {
		testenv.SkipOrFail(t, "static libc (libc6-dev) is not installed: "+err.Error())
	}
	modRoot, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(modRoot, "testdata", "escape")

	e := &Env{Sockjail: os.Getenv(BinaryEnv)}
	if e.Sockjail == "" {
		e.Sockjail = testenv.Sockjail(t)
		// testenv builds into a 0700 directory: let UnprivUID run it.
		if err := os.Chmod(filepath.Dir(e.Sockjail), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll("/srv", 0o755); err != nil {
		t.Fatal(err)
	}
	e.Root, err = os.MkdirTemp("/srv", "sockjail-escape-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Unmount(filepath.Join(e.Root, "mnt"), unix.MNT_DETACH)
		os.RemoveAll(e.Root)
	})
	dirs := map[string]os.FileMode{"bin": 0o755, "secret": 0o755, "writable": 0o777, "other": 0o777, "noexec": 0o755, "mnt": 0o755, "policies": 0o755, "sock": 0o755}
	for d, mode := range dirs {
		p := filepath.Join(e.Root, d)
		if err := os.Mkdir(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	if err := os.Chmod(e.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	e.Bin = filepath.Join(e.Root, "bin")

	// The programs, compiled once per source version (compile), are
	// copied in: the cache is under /tmp, which the sandbox hides.
	cache := compile(t, gcc, src)
	for _, name := range Programs {
		copyFile(t, filepath.Join(cache, name), filepath.Join(e.Bin, name), 0o755)
	}

	secret := filepath.Join(e.Root, "secret", "secret.txt")
	WriteFile(t, secret, "the secret\n", 0o644)
	WriteFile(t, filepath.Join(filepath.Dir(secret), "shared.txt"), "linkable by nobody\n", 0o666)
	// Files to move out of a directory every uid may write, one per mode.
	for _, m := range append([]string{"bare"}, "root", "unprivileged", "unprivileged-no-userns") {
		WriteFile(t, filepath.Join(e.Root, "other", "movable-"+m), "movable\n", 0o666)
	}
	// The exec target: the helper, in a directory that no policy but
	// "exec" names, readable and executable by everyone.
	copyFile(t, filepath.Join(e.Bin, "helper"), filepath.Join(e.Root, "noexec", "helper"), 0o755)
	// A setuid-root copy of the helper.
	setuid := filepath.Join(e.Bin, "setuid-helper")
	copyFile(t, filepath.Join(e.Bin, "helper"), setuid, 0o755)
	if err := os.Chmod(setuid, 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(setuid); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Fatalf("%s is not setuid: %v %v", setuid, fi.Mode(), err)
	}

	// A TCP listener that the connect attempts aim at; it accepts and
	// closes.
	connectPort := testenv.ClosingTCPPort(t)
	// A free port for the bind attempts: bound by nobody else, as far as
	// a port found free a moment ago can be.
	bln := testenv.PlainTCPListener(t)
	bindPort := bln.Addr().(*net.TCPAddr).Port
	bln.Close()
	// An abstract unix socket outside the sandbox.
	abstract := fmt.Sprintf("sockjail-escape-%d-%d", os.Getpid(), time.Now().UnixNano())
	aln, err := net.Listen("unix", "@"+abstract)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { aln.Close() })
	go testenv.AcceptAndClose(aln)

	// A pathname unix socket outside the sandbox, connectable by
	// everyone (like /run/dbus/system_bus_socket).
	unixSock := filepath.Join(e.Root, "sock", "s")
	uln, err := net.Listen("unix", unixSock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uln.Close() })
	if err := os.Chmod(unixSock, 0o666); err != nil {
		t.Fatal(err)
	}
	go testenv.AcceptAndClose(uln)

	e.Vars = map[string]string{
		"unixsock":    unixSock,
		"unprivuid":   strconv.Itoa(UnprivUID),
		"bin":         e.Bin,
		"secret":      secret,
		"secretdir":   filepath.Dir(secret),
		"writedir":    filepath.Join(e.Root, "writable"),
		"otherdir":    filepath.Join(e.Root, "other"),
		"execdir":     filepath.Join(e.Root, "noexec"),
		"setuid":      setuid,
		"mnt":         filepath.Join(e.Root, "mnt"),
		"connectport": strconv.Itoa(connectPort),
		"bindport":    strconv.Itoa(bindPort),
		"abstract":    abstract,
	}

	e.Policies = RenderPolicies(t, filepath.Join(e.Root, "policies"), e.Vars)

	return e
}

// Outcome names what a finished attempt gave: a signal's name when one
// killed it (exit 128+N and no output), else the result of its one line.
func Outcome(name, out string, code int) string {
	if code > exitcode.SignalBase && out == "" {
		return unix.SignalName(syscall.Signal(code - exitcode.SignalBase))
	}
	r := ParseResult(strings.TrimRight(out, "\n"))
	if code != 0 || r.Fields["escape"] != name {
		return ""
	}
	return r.Fields["result"]
}

// compile builds the programs of src with gcc -static into a cache
// directory named by a hash of the sources, the program list and gcc's
// version, and
// returns it. Each test function sets up its own copy of the suite, and
// compiling ~30 static programs takes seconds on a loaded machine; the
// cache makes that once per source version, across runs too (as Go's build
// cache does). A changed source gets a new directory, never a stale binary.
func compile(t *testing.T, gcc, src string) string {
	t.Helper()
	h := sha256.New()
	ver, err := exec.Command(gcc, "--version").Output()
	if err != nil {
		t.Fatalf("gcc --version: %v", err)
	}
	h.Write(ver)
	fmt.Fprintf(h, "%q\n", Programs) // what gets built
	files, err := filepath.Glob(filepath.Join(src, "*.[ch]"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
		h.Write(b)
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("sockjail-escape-%x", h.Sum(nil)[:8]))
	if ownDir(dir) {
		if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
			return dir
		}
	}
	tmp, err := os.MkdirTemp(os.TempDir(), "sockjail-escape-build-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	// In parallel: gcc -static takes ~0.2 s each on an idle machine.
	var wg sync.WaitGroup
	errs := make([]error, len(Programs))
	for i, name := range Programs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(gcc, "-static", "-O1", "-Wall", "-Werror", "-o", filepath.Join(tmp, name), name+".c")
			cmd.Dir = src
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("gcc %s.c: %v\n%s", name, err, out)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Builds of other source versions, ours and unused for an hour, go.
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), "sockjail-escape-????????????????"))
	for _, o := range old {
		if fi, err := os.Lstat(o); err == nil && o != dir && ownDir(o) && time.Since(fi.ModTime()) > time.Hour {
			os.RemoveAll(o)
		}
	}
	// Another test process may have won the race: then use its copy.
	// A directory of that name that isn't ours (anyone can create one in
	// /tmp) is never used: then this run's own build is kept instead.
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, ".complete")); serr != nil || !ownDir(dir) {
			keep, kerr := os.MkdirTemp(os.TempDir(), "sockjail-escape-own-")
			if kerr != nil {
				t.Fatal(kerr)
			}
			t.Cleanup(func() { os.RemoveAll(keep) })
			if err := os.Rename(tmp, filepath.Join(keep, "bin")); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(keep, "bin")
		}
	}
	return dir
}

// ownDir reports whether dir is a real directory (not a symlink) owned
// by this process's uid and writable by no one else, so that the binaries
// in it, which the test runs as root, are the ones it built.
func ownDir(dir string) bool {
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}

// RenderPolicies fills in the policy templates of
// testdata/escape/policies with vars and writes them into dir. It returns
// the file of each policy by name.
func RenderPolicies(t *testing.T, dir string, vars map[string]string) map[string]string {
	t.Helper()
	modRoot, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	tdir := filepath.Join(modRoot, "testdata", "escape", "policies")
	ents, err := os.ReadDir(tdir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, ent := range ents {
		name, ok := strings.CutSuffix(ent.Name(), ".toml")
		if !ok {
			continue
		}
		tmpl, err := template.ParseFiles(filepath.Join(tdir, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := tmpl.Option("missingkey=error").Execute(&buf, vars); err != nil {
			t.Fatalf("policy %s: %v", ent.Name(), err)
		}
		p := filepath.Join(dir, ent.Name())
		WriteFile(t, p, buf.String(), 0o644)
		files[name] = p
	}
	for _, name := range append(Policies, "dynamic", "best-effort") {
		if _, ok := files[name]; !ok && name != "default" {
			t.Fatalf("testdata/escape/policies/%s.toml is missing", name)
		}
	}
	return files
}

// WriteFile writes a file with exactly mode, past the umask.
func WriteFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	WriteFile(t, to, string(b), mode)
}

// Expand fills in the {placeholders} of argv. {supervisor} is left for
// start, which knows sockjail's pid only when it starts it.
func (e *Env) Expand(argv []string, extra map[string]string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		for k, v := range e.Vars {
			a = strings.ReplaceAll(a, "{"+k+"}", v)
		}
		for k, v := range extra {
			a = strings.ReplaceAll(a, "{"+k+"}", v)
		}
		out[i] = a
	}
	return out
}

// Session is one `sockjail run` on a real loopback TCP connection: the
// accepted socket is sockjail's fd 0 and 1, the test holds the client.
type Session struct {
	t      *testing.T
	cmd    *exec.Cmd
	client *net.TCPConn
	r      *bufio.Reader
	Stderr *testenv.LockedBuffer // sockjail's log
	done   chan struct{}
	code   int
	Desc   string // mode, policy and command line, for messages
}

// SessionTimeout bounds every session; the programs take milliseconds.
const SessionTimeout = 60 * time.Second

// Start runs `sockjail run [--policy] -- argv` in mode. The placeholder
// {supervisor} in argv becomes sockjail's own pid: sockjail is started
// through `sh -c 'exec …'`, so the shell's $$ is sockjail's pid.
func (e *Env) Start(t *testing.T, m Mode, pol string, env []string, argv []string) *Session {
	t.Helper()
	cc, sf := testenv.TCPPair(t)
	defer sf.Close() // sockjail's copy must be the last, so that its close ends the connection

	var full []string
	if m.Unpriv {
		full = append(full, Setpriv(UnprivUID)...)
	}
	full = append(full, e.Sockjail, "run")
	if pol != "default" {
		p := e.Policies[pol]
		if p == "" {
			t.Fatalf("no policy %q", pol)
		}
		full = append(full, "--policy", p)
	}
	full = append(full, "--")
	full = append(full, argv...)
	script := "exec"
	for _, a := range full {
		if a == "{supervisor}" {
			script += ` "$$"`
		} else {
			script += " " + shellQuote(a)
		}
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = append(CleanEnv(), m.Env...)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin, cmd.Stdout = sf, sf
	// An fd sockjail inherits (as from a careless parent): fd 3.
	extra, err := os.Open(e.Vars["secret"])
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	cmd.ExtraFiles = []*os.File{extra}
	s := &Session{t: t, cmd: cmd, client: cc, Stderr: &testenv.LockedBuffer{}, done: make(chan struct{}), code: -1,
		Desc: fmt.Sprintf("mode %s, policy %s: %s", m.Name, pol, strings.Join(argv, " "))}
	s.r = bufio.NewReader(s.client)
	cmd.Stderr = s.Stderr
	if err := cmd.Start(); err != nil {
		cc.Close()
		t.Fatal(err)
	}
	go func() {
		cmd.Wait()
		s.code = cmd.ProcessState.ExitCode()
		close(s.done)
	}()
	s.client.SetDeadline(time.Now().Add(SessionTimeout))
	t.Cleanup(func() {
		s.client.Close()
		select {
		case <-s.done:
		case <-time.After(SessionTimeout):
			cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

// Run starts a session and finishes it. When the program could not even
// be started because its uid had used up RLIMIT_NPROC (execve's EAGAIN: in
// root mode the program runs as nobody, whose processes are counted
// machine-wide, other tests' included), it waits and tries again: the
// attempt has not run yet, so nothing is being retried away.
func (e *Env) Run(t *testing.T, m Mode, pol string, env []string, argv []string) (s *Session, out string, code int) {
	t.Helper()
	for try := 1; ; try++ {
		s = e.Start(t, m, pol, env, argv)
		out, code = s.Finish()
		log := s.Stderr.String()
		if try == 20 || code != exitcode.OSError || out != "" || !strings.Contains(log, "failed at execve: resource temporarily unavailable") {
			return s, out, code
		}
		t.Logf("%s: the program's uid is at its process limit (%d processes of uid %d now); trying again", s.Desc, len(proctest.ProcessesOf(ProgramUID(m.Name, pol))), ProgramUID(m.Name, pol))
		time.Sleep(time.Duration(try) * 100 * time.Millisecond)
	}
}

// CanaryEnv is set in sockjail's environment for every session; the
// env-leak attempt looks for it in the program's.
const CanaryEnv = "SOCKJAIL_ESCAPE_CANARY"

// CleanEnv is sockjail's environment: the test's, minus the test hooks
// that a developer's shell may have set, plus the canary.
func CleanEnv() []string {
	env := []string{CanaryEnv + "=sockjail's own"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SOCKJAIL_TEST_") {
			env = append(env, kv)
		}
	}
	return env
}

// Setpriv is the command line prefix that drops to uid (and the same
// gid) with no supplementary groups, as systemd does for DynamicUser=.
func Setpriv(uid int) []string {
	id := strconv.Itoa(uid)
	return []string{"setpriv", "--reuid=" + id, "--regid=" + id, "--clear-groups", "--"}
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Line reads one result line while the session goes on.
func (s *Session) Line() Result {
	s.t.Helper()
	l, err := s.r.ReadString('\n')
	if err != nil {
		s.t.Fatalf("%s: reading a line: %v (got %q)\nsockjail's log:\n%s", s.Desc, err, l, s.Stderr.String())
	}
	return ParseResult(l)
}

// StartLine starts a session that prints a line and then waits for EOF,
// and reads that line. Like run, it tries again when the program could not
// be started because its uid was at its process limit.
func (e *Env) StartLine(t *testing.T, m Mode, pol string, argv []string) (*Session, Result) {
	t.Helper()
	for try := 1; ; try++ {
		s := e.Start(t, m, pol, nil, argv)
		l, err := s.r.ReadString('\n')
		if err == nil {
			return s, ParseResult(l)
		}
		out, code := s.Finish()
		if try < 20 && l == "" && out == "" && code == exitcode.OSError && strings.Contains(s.Stderr.String(), "failed at execve: resource temporarily unavailable") {
			t.Logf("%s: the program's uid is at its process limit; trying again", s.Desc)
			time.Sleep(time.Duration(try) * 100 * time.Millisecond)
			continue
		}
		t.Fatalf("%s: reading a line: %v (got %q, then %q, exit %d)\nsockjail's log:\n%s", s.Desc, err, l, out, code, s.Stderr.String())
	}
}

// KillSockjail kills sockjail itself with SIGKILL, as a crash or an
// operator's kill -9 would, so that none of its cleanup runs, and waits for
// it to be gone.
func (s *Session) KillSockjail() {
	s.cmd.Process.Kill()
	<-s.done
}

// Send writes data to the program's stdin (the connection) while the
// session goes on.
func (s *Session) Send(data string) {
	s.t.Helper()
	if _, err := io.WriteString(s.client, data); err != nil {
		s.t.Fatalf("%s: writing to the connection: %v", s.Desc, err)
	}
}

// ReadUntil reads from the connection until what it read ends with want,
// and returns all of it.
func (s *Session) ReadUntil(want string) string {
	s.t.Helper()
	var got []byte
	for !bytes.HasSuffix(got, []byte(want)) {
		b, err := s.r.ReadByte()
		if err != nil {
			s.t.Fatalf("%s: waiting for %q: %v (got %q)\nsockjail's log:\n%s", s.Desc, want, err, got, s.Stderr.String())
		}
		got = append(got, b)
	}
	return string(got)
}

// Finish half-closes the client's side (so the program sees EOF and
// sockjail's lingering close ends at once), reads everything up to EOF and
// waits for sockjail's exit code.
func (s *Session) Finish() (out string, code int) {
	s.t.Helper()
	if err := s.client.CloseWrite(); err != nil {
		s.t.Fatal(err)
	}
	b, err := io.ReadAll(s.r)
	if err != nil {
		s.t.Errorf("%s: reading the connection: %v (got %q)\nsockjail's log:\n%s", s.Desc, err, b, s.Stderr.String())
	}
	select {
	case <-s.done:
	case <-time.After(SessionTimeout):
		s.t.Fatalf("%s: sockjail did not exit within %v after EOF", s.Desc, SessionTimeout)
	}
	return string(b), s.code
}

// Result is a parsed "escape=NAME result=R key=value..." line.
type Result struct {
	Raw    string
	Fields map[string]string
}

// ParseResult parses one result line.
func ParseResult(l string) Result {
	r := Result{Raw: strings.TrimRight(l, "\n"), Fields: map[string]string{}}
	for _, f := range strings.Fields(r.Raw) {
		if k, v, ok := strings.Cut(f, "="); ok {
			r.Fields[k] = v
		}
	}
	return r
}

// Verify checks one finished attempt: a signal outcome wants sockjail to
// exit 128+N and the program to print nothing; any other outcome wants
// exit 0 and exactly the line "escape=NAME result=WANT ...".
func Verify(name, want, out string, code int) (Result, error) {
	if sig := unix.SignalNum(want); sig != 0 {
		if code != exitcode.SignalBase+int(sig) || out != "" {
			return Result{}, fmt.Errorf("want %s (exit %d, no output), got exit %d and %q", want, exitcode.SignalBase+int(sig), code, out)
		}
		return Result{}, nil
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if code != 0 || len(lines) != 1 {
		return Result{}, fmt.Errorf("want one line with result=%s and exit 0, got exit %d and %q", want, code, out)
	}
	r := ParseResult(lines[0])
	if r.Fields["escape"] != name || r.Fields["result"] != want {
		return r, fmt.Errorf("want escape=%s result=%s, got %q", name, want, r.Raw)
	}
	return r, nil
}

// RunBare runs argv unconfined as root, the way the controls do, with
// the environment and the extra fd 3 a session's sockjail gets, and
// returns its output, its exit code (128+N when signal N killed it, as
// sockjail reports a program's death) and its stderr.
func (e *Env) RunBare(t *testing.T, argv []string) (out string, code int, stderr string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = CleanEnv()
	extra, err := os.Open(e.Vars["secret"])
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	cmd.ExtraFiles = []*os.File{extra}
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	b, err := cmd.Output()
	if code, err = testenv.ExitStatus(err); err != nil {
		t.Fatal(err)
	}
	return string(b), code, errBuf.String()
}

// FindProcess returns the pid of the one process of program (by its base
// name) whose command line holds token.
func FindProcess(t *testing.T, program, token string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var pids []int
		for _, pid := range proctest.PIDs() {
			args := proctest.Cmdline(pid)
			// The program itself, not sockjail nor sh with it in argv.
			if len(args) >= 3 && filepath.Base(args[0]) == program && slices.Contains(args, token) {
				pids = append(pids, pid)
			}
		}
		if len(pids) == 1 {
			return pids[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("want one process with %q in its command line, found %v", token, pids)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Step returns a check that a refused attempt failed at step (the
// step= field), which says which layer refused it.
func Step(step string) func(mode, pol string, f map[string]string) error {
	return func(mode, pol string, f map[string]string) error {
		if f["result"] != "ok" && f["step"] != step {
			return fmt.Errorf("refused at step=%s, want step=%s", f["step"], step)
		}
		return nil
	}
}
