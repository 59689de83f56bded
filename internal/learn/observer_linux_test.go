package learn

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/policy"
	"github.com/sockjail/sockjail/sandbox"
)

// fixture is a directory outside /tmp (which the session replaces) that a
// session's own uid can read, with copies of the test programs.
func fixture(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/srv", "sockjail-learn-")
	if err != nil {
		testenv.SkipOrFail(t, "cannot create a directory under /srv: "+err.Error())
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o755))
	for _, name := range []string{"service.py", "words.sh"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dir, name), b, 0o755))
	}
	must(t, os.Mkdir(filepath.Join(dir, "data"), 0o755))
	for name, content := range map[string]string{"a.txt": "alpha", "b.txt": "bravo", "c.txt": "charlie"} {
		must(t, os.WriteFile(filepath.Join(dir, "data", name), []byte(content+"\n"), 0o644))
	}
	must(t, os.Mkdir(filepath.Join(dir, "state"), 0o777))
	must(t, os.Chmod(filepath.Join(dir, "state"), 0o777))
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// traceRun runs argv in a tracing session of the default policy with stdin
// and returns its stdout.
func traceRun(t *testing.T, o *Observer, stdin string, argv ...string) string {
	t.Helper()
	opt, err := sandbox.OptionsFromEnv(os.Getenv)
	must(t, err)
	opt.Trace = o.Trace
	sb, err := sandbox.New(policy.Default(), argv, opt)
	if err != nil {
		t.Fatalf("sandbox.New: %v", err)
	}
	defer sb.Close()
	inR, inW, err := os.Pipe()
	must(t, err)
	outR, outW, err := os.Pipe()
	must(t, err)
	proc, err := sb.Start(sandbox.StartConfig{Stdin: int(inR.Fd()), Stdout: int(outW.Fd()), Stderr: 2,
		Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"}})
	inR.Close()
	outW.Close()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer proc.Close()
	if !proc.Report().Traced {
		t.Errorf("report of a tracing session: Traced is false")
	}
	go func() { io.WriteString(inW, stdin); inW.Close() }()
	timer := time.AfterFunc(2*time.Minute, func() { proc.KillTree() })
	defer timer.Stop()
	out, _ := io.ReadAll(outR)
	outR.Close()
	exit, err := proc.Wait()
	must(t, err)
	if exit.ExitCode() != 0 {
		t.Fatalf("%q: %v; stdout %q", argv, exit, out)
	}
	return string(out)
}

// realPath is path with every symlink resolved.
func realPath(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	must(t, err)
	return r
}

// loader is the ELF loader of the host's dynamic programs.
func loader(t *testing.T) string { return realPath(t, "/lib64/ld-linux-x86-64.so.2") }

// wantPaths checks that obs saw each path with at least the given access.
func wantPaths(t *testing.T, obs *Observations, want map[string]Access) {
	t.Helper()
	for p, a := range want {
		if got := obs.Paths[p]; got&a != a {
			t.Errorf("path %s: access %b, want at least %b", p, got, a)
		}
	}
}

func TestObservePythonService(t *testing.T) {
	dir := fixture(t)
	port := testenv.LineBackend(t)
	o := NewObserver()
	out := traceRun(t, o, "b.txt "+strconv.Itoa(port)+"\n", filepath.Join(dir, "service.py"), dir)
	if want := "b.txt: bravo; backend: ok b.txt\n"; out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
	obs := o.Observations()
	if obs.Sessions != 1 {
		t.Errorf("Sessions = %d, want 1", obs.Sessions)
	}
	wantPaths(t, obs, map[string]Access{
		filepath.Join(dir, "service.py"):    Exec | Read,
		realPath(t, "/usr/bin/python3"):     Exec,
		loader(t):                           Exec,
		filepath.Join(dir, "data", "b.txt"): Read,
		filepath.Join(dir, "state", "last"): Create | Write,
	})
	for _, p := range []string{filepath.Join(dir, "data", "a.txt"), filepath.Join(dir, "data", "c.txt")} {
		if a, ok := obs.Paths[p]; ok {
			t.Errorf("path %s never opened, recorded as %b", p, a)
		}
	}
	for p := range obs.Paths {
		if p == "/tmp" || filepath.Dir(p) == "/proc" || bytes.HasPrefix([]byte(p), []byte("/proc/")) {
			t.Errorf("path %s is provided by the session and should not be recorded", p)
		}
	}
	if obs.ConnectTCP[uint16(port)] != 1 {
		t.Errorf("ConnectTCP = %v, want port %d once", obs.ConnectTCP, port)
	}
	if len(obs.BindTCP) != 0 {
		t.Errorf("BindTCP = %v, want none", obs.BindTCP)
	}
	for _, sc := range []string{"execve", "openat", "connect", "socket", "exit_group"} {
		if obs.Syscalls[sc] == 0 {
			t.Errorf("syscall %s not recorded", sc)
		}
	}
}

func TestObserveShellScript(t *testing.T) {
	dir := fixture(t)
	words := filepath.Join(dir, "data", "a.txt")
	o := NewObserver()
	out := traceRun(t, o, "alp\n", filepath.Join(dir, "words.sh"), words)
	if want := "1\n1970\n"; out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
	obs := o.Observations()
	wantPaths(t, obs, map[string]Access{
		filepath.Join(dir, "words.sh"): Exec | Read,
		realPath(t, "/bin/sh"):         Exec,
		realPath(t, "/usr/bin/grep"):   Exec,
		realPath(t, "/usr/bin/date"):   Exec,
		loader(t):                      Exec,
		words:                          Read,
	})
	if _, ok := obs.Paths[filepath.Join(dir, "data", "b.txt")]; ok {
		t.Errorf("b.txt never opened, but recorded")
	}
	if len(obs.ConnectTCP)+len(obs.BindTCP) != 0 {
		t.Errorf("TCP ports recorded for a script that uses none: %v %v", obs.ConnectTCP, obs.BindTCP)
	}
	for _, sc := range []string{"execve", "wait4", "vfork"} {
		if obs.Syscalls[sc] == 0 {
			t.Errorf("syscall %s not recorded (%v)", sc, obs.Syscalls)
		}
	}
}

// compileBind builds testdata/bind.c into dir.
func compileBind(t *testing.T, dir string) string {
	t.Helper()
	cc := testenv.LookTool(t, "cc")
	bin := filepath.Join(dir, "bind")
	if out, err := exec.Command(cc, "-O2", "-o", bin, filepath.Join("testdata", "bind.c")).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	return bin
}

func TestObserveBind(t *testing.T) {
	dir := fixture(t)
	bin := compileBind(t, dir)
	port := testenv.FreeTCPPort(t)
	o := NewObserver()
	// Two sessions through one observer: their observations merge.
	for range 2 {
		out := traceRun(t, o, "", bin, strconv.Itoa(port))
		if want := "bound " + strconv.Itoa(port) + "\n"; out != want {
			t.Fatalf("output %q, want %q", out, want)
		}
	}
	obs := o.Observations()
	if obs.Sessions != 2 {
		t.Errorf("Sessions = %d, want 2", obs.Sessions)
	}
	if obs.BindTCP[uint16(port)] != 2 {
		t.Errorf("BindTCP = %v, want port %d twice", obs.BindTCP, port)
	}
	if len(obs.ConnectTCP) != 0 {
		t.Errorf("ConnectTCP = %v, want none", obs.ConnectTCP)
	}
	wantPaths(t, obs, map[string]Access{bin: Exec, loader(t): Exec})
	for _, sc := range []string{"socket", "bind", "listen"} {
		if obs.Syscalls[sc] != 2 {
			t.Errorf("syscall %s recorded %d times, want 2", sc, obs.Syscalls[sc])
		}
	}
}

// TestObservePathBound: a session that creates more files than the bound
// keeps only that many paths, counts the rest, and still runs to its end.
func TestObservePathBound(t *testing.T) {
	dir := fixture(t)
	o := NewObserver()
	o.maxPaths = 20
	script := `cd "$1" && for i in $(seq 100); do : > f$i; done && echo made`
	out := traceRun(t, o, "", "/bin/sh", "-c", script, "sh", filepath.Join(dir, "state"))
	if out != "made\n" {
		t.Fatalf("output %q", out)
	}
	obs := o.Observations()
	if len(obs.Paths) != 20 {
		t.Errorf("%d paths recorded, want the bound, 20", len(obs.Paths))
	}
	if obs.Dropped < 80 {
		t.Errorf("Dropped = %d, want at least the 80 files past the bound", obs.Dropped)
	}
}
