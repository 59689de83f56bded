package main

// sockjail learn end to end: the real binary learns a policy from real
// sessions of real programs, then `sockjail run` serves the same sessions
// under that policy, strict, with the same output; and what the program
// was not seen doing is denied with the kernel's exact errno.

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/policy"
)

// learnFixture is a directory outside /tmp (each session has its own) with
// the test programs of internal/learn/testdata in app/, a data directory of three
// files, another directory with one, and a state directory any uid may
// write.
func learnFixture(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t)
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/srv", "sockjail-learn-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	files := map[string]string{"data/a.txt": "alpha\n", "data/b.txt": "bravo\n", "data/c.txt": "charlie\n", "other/x.txt": "xray\n"}
	for _, name := range []string{"service.py", "words.sh", "bind.c"} {
		b, err := os.ReadFile(filepath.Join(root, "internal/learn/testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		// The programs sit apart from the data: Python lists its
		// script's directory, which the policy then grants whole.
		files["app/"+name] = string(b)
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "state"), 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "state"), 0o777)
	return dir
}

// connSession runs `sockjail ARGS...` with a real TCP connection on fd 0 and 1,
// as systemd's Accept=yes hands it, sends input and half-closes, and
// returns what the client read, sockjail's exit code and its stderr.
func connSession(t *testing.T, input string, args ...string) (out string, code int, stderr string) {
	t.Helper()
	return connSessionAs(t, nil, nil, input, args...)
}

// connSessionAs is connSession with sockjail run as cred (nil: as the
// test) with env added, by the binary at args[0] when cred is set.
func connSessionAs(t *testing.T, cred *syscall.Credential, env []string, input string, args ...string) (out string, code int, stderr string) {
	t.Helper()
	client, f := testenv.TCPPair(t)
	var errBuf bytes.Buffer
	cmd := exec.Command(testenv.Sockjail(t), args...)
	if cred != nil {
		cmd = exec.Command(args[0], args[1:]...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, &errBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	io.WriteString(client, input)
	client.CloseWrite()
	client.SetReadDeadline(time.Now().Add(2 * time.Minute))
	b, _ := io.ReadAll(client)
	code, err := testenv.ExitStatus(cmd.Wait())
	if err != nil {
		t.Fatal(err)
	}
	return string(b), code, errBuf.String()
}

// learnOne learns argv from one session with input, into a policy file,
// and checks that `sockjail check` accepts it.
func learnOne(t *testing.T, dir, input, want string, argv ...string) string {
	t.Helper()
	pol := filepath.Join(dir, "learned.toml")
	out, code, stderr := connSession(t, input, append([]string{"learn", "--out", pol, "--"}, argv...)...)
	if code != 0 || out != want {
		t.Fatalf("learn: exit %d, output %q, want %q\nstderr:\n%s", code, out, want, stderr)
	}
	checkLearned(t, pol)
	return pol
}

func checkLearned(t *testing.T, pol string) {
	t.Helper()
	if out, err := exec.Command(testenv.Sockjail(t), "check", pol).CombinedOutput(); err != nil {
		t.Fatalf("sockjail check %s: %v\n%s", pol, err, out)
	}
	p, err := policy.Load(pol)
	if err != nil {
		t.Fatal(err)
	}
	if p.Enforce != policy.EnforceStrict {
		t.Fatalf("learned policy enforce = %q, want strict", p.Enforce)
	}
}

// runLearned serves one session of argv under the learned policy.
func runLearned(t *testing.T, pol, input string, argv ...string) (string, int, string) {
	t.Helper()
	return connSession(t, input, append([]string{"run", "--policy", pol, "--"}, argv...)...)
}

// wantRun checks that a session under the learned policy answers want and
// exits with code.
func wantRun(t *testing.T, pol, input, want string, code int, argv ...string) {
	t.Helper()
	out, got, stderr := runLearned(t, pol, input, argv...)
	if out != want || got != code {
		t.Errorf("run %q with input %q: exit %d, output %q; want exit %d, output %q\nstderr:\n%s", argv, input, got, out, code, want, stderr)
	}
}

func TestLearnShellScript(t *testing.T) {
	dir := learnFixture(t)
	script := filepath.Join(dir, "app/words.sh")
	a, b := filepath.Join(dir, "data/a.txt"), filepath.Join(dir, "other/x.txt")
	pol := learnOne(t, dir, "alp\n", "1\n1970\n", script, a)
	// Learning again from the same session gives the same file.
	first, _ := os.ReadFile(pol)
	learnOne(t, dir, "alp\n", "1\n1970\n", script, a)
	if again, _ := os.ReadFile(pol); !bytes.Equal(first, again) {
		t.Errorf("learning twice gave two files:\n%s\n---\n%s", first, again)
	}
	// The same session, enforced: the same answer.
	wantRun(t, pol, "alp\n", "1\n1970\n", 0, script, a)
	// A file beside the one read, and a file in another directory: grep
	// gets EACCES from Landlock, the script goes on to date.
	wantRun(t, pol, "bra\n", "1970\n", 0, script, filepath.Join(dir, "data/b.txt"))
	wantRun(t, pol, "x\n", "1970\n", 0, script, b)
	out, _, stderr := runLearned(t, pol, "bra\n", script, filepath.Join(dir, "data/b.txt"))
	if !strings.Contains(stderr, "data/b.txt: Permission denied") {
		t.Errorf("grep of a file not read while learning: output %q, stderr does not say EACCES:\n%s", out, stderr)
	}
}

func TestLearnPythonService(t *testing.T) {
	dir := learnFixture(t)
	port, other := testenv.LineBackend(t), testenv.LineBackend(t)
	svc := []string{filepath.Join(dir, "app/service.py"), dir}
	in := func(name string, port int, extra ...string) string {
		return strings.Join(append([]string{name, strconv.Itoa(port)}, extra...), " ") + "\n"
	}
	pol := filepath.Join(dir, "learned.toml")

	// Two concurrent sessions under --listen, each reading another file:
	// the policy covers both.
	addr := testenv.FreeLoopbackAddr(t)
	var logs bytes.Buffer
	learn := exec.Command(testenv.Sockjail(t), append([]string{"learn", "--listen", addr, "--sessions", "2", "--out", pol, "--"}, svc...)...)
	learn.Stderr = &logs
	if err := learn.Start(); err != nil {
		t.Fatal(err)
	}
	defer learn.Process.Kill()
	var conns []net.Conn
	for range 2 {
		conns = append(conns, dialRetry(t, addr))
	}
	// Both sessions are live before either speaks.
	time.Sleep(200 * time.Millisecond)
	var wg sync.WaitGroup
	answers := make([]string, 2)
	for i, name := range []string{"a.txt", "b.txt"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.WriteString(conns[i], in(name, port))
			conns[i].(*net.TCPConn).CloseWrite()
			conns[i].SetReadDeadline(time.Now().Add(2 * time.Minute))
			b, _ := io.ReadAll(conns[i])
			answers[i] = string(b)
		}()
	}
	wg.Wait()
	code, err := testenv.ExitStatus(learn.Wait())
	if err != nil || code != 0 {
		t.Fatalf("learn --listen: exit %d (%v)\n%s", code, err, logs.String())
	}
	if answers[0] != "a.txt: alpha; backend: ok a.txt\n" || answers[1] != "b.txt: bravo; backend: ok b.txt\n" {
		t.Fatalf("answers while learning: %q", answers)
	}
	checkLearned(t, pol)
	text, _ := os.ReadFile(pol)
	if !bytes.Contains(text, []byte(`"`+filepath.Join(dir, "data/a.txt")+`",`)) {
		t.Fatalf("premise: the policy does not name the single files read:\n%s", text)
	}
	if !bytes.Contains(text, []byte("Learned from 2 sessions")) {
		t.Errorf("the header does not count 2 sessions:\n%s", text)
	}

	// The same sessions, enforced.
	wantRun(t, pol, in("a.txt", port), "a.txt: alpha; backend: ok a.txt\n", 0, svc...)
	wantRun(t, pol, in("b.txt", port), "b.txt: bravo; backend: ok b.txt\n", 0, svc...)
	// What it was not seen doing: the third file of the directory,
	// another directory and another port are EACCES (Landlock), a
	// syscall it never made is the policy's EPERM (seccomp).
	wantRun(t, pol, in("c.txt", port), "error EACCES\n", 1, svc...)
	wantRun(t, pol, in("../other/x.txt", port), "error EACCES\n", 1, svc...)
	wantRun(t, pol, in("a.txt", other), "error EACCES\n", 1, svc...)
	if bytes.Contains(text, []byte(`"sched_getaffinity"`)) {
		t.Fatalf("premise: the service made sched_getaffinity while learning")
	}
	wantRun(t, pol, in("a.txt", port, "affinity"), "error EPERM\n", 1, svc...)
}

func TestLearnBind(t *testing.T) {
	dir := learnFixture(t)
	cc := testenv.LookTool(t, "cc")
	bin := filepath.Join(dir, "bind")
	if out, err := exec.Command(cc, "-O2", "-o", bin, filepath.Join(dir, "app/bind.c")).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	port, other := strconv.Itoa(testenv.FreeTCPPort(t)), strconv.Itoa(testenv.FreeTCPPort(t))
	pol := learnOne(t, dir, "", "bound "+port+"\n", bin, port)
	wantRun(t, pol, "", "bound "+port+"\n", 0, bin, port)
	// Another port: Landlock's EACCES.
	out, code, stderr := runLearned(t, pol, "", bin, other)
	if code != 1 || out != "" || !strings.Contains(stderr, "bind: Permission denied") {
		t.Errorf("bind of another port: exit %d, output %q, stderr:\n%s", code, out, stderr)
	}
}

// TestLearnUnprivileged learns as nobody, where `run` works unprivileged:
// in a user namespace, and without one (the tracing filter's handover
// then happens without the init's vfork).
func TestLearnUnprivileged(t *testing.T) {
	dir := learnFixture(t)
	bin := filepath.Join(dir, "sockjail")
	b, err := os.ReadFile(testenv.Sockjail(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(dir, "out")
	os.Mkdir(outDir, 0o777)
	os.Chmod(outDir, 0o777)
	script, words := filepath.Join(dir, "app/words.sh"), filepath.Join(dir, "data/a.txt")
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	for _, mode := range []struct {
		name string
		env  []string
		tmp  string
	}{
		{"userns", nil, "tmp=userns"},
		{"no-userns", []string{"SOCKJAIL_TEST_NO_USERNS=1"}, "tmp=dir"},
	} {
		t.Run(mode.name, func(t *testing.T) {
			pol := filepath.Join(outDir, mode.name+".toml")
			out, code, stderr := connSessionAs(t, nobody, mode.env, "alp\n", bin, "learn", "--out", pol, "--", script, words)
			if code != 0 || out != "1\n1970\n" {
				t.Fatalf("learn as nobody: exit %d, output %q\n%s", code, out, stderr)
			}
			if !strings.Contains(stderr, mode.tmp) || !strings.Contains(stderr, "traced=true") {
				t.Errorf("the log line does not say %s and traced=true:\n%s", mode.tmp, stderr)
			}
			checkLearned(t, pol)
			text, _ := os.ReadFile(pol)
			for _, want := range []string{words, "/usr/bin/grep", "/usr/bin/date"} {
				if !bytes.Contains(text, []byte(`"`+want+`",`)) {
					t.Errorf("the policy learned as nobody lacks %s:\n%s", want, text)
				}
			}
			// Enforced by run as nobody too, in the same mode: the
			// learned policy leaves the default's session bounds and
			// /proc implicit, as the default does, so a strict run
			// without a cgroup (or a procfs) of its own logs what it
			// skipped instead of refusing.
			out, code, stderr = connSessionAs(t, nobody, mode.env, "alp\n", bin, "run", "--policy", pol, "--", script, words)
			if code != 0 || out != "1\n1970\n" {
				t.Fatalf("run as nobody with the learned policy: exit %d, output %q\n%s", code, out, stderr)
			}
			wantRun(t, pol, "alp\n", "1\n1970\n", 0, script, words)
		})
	}
}
