package sandbox

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/policy"
)

// testPolicy returns the default policy with edit applied.
func testPolicy(t testing.TB, edit func(p *policy.Policy)) *policy.Policy {
	t.Helper()
	p := policy.Default()
	if edit != nil {
		edit(p)
	}
	return p
}

// result is what a sandboxed program did.
type result struct {
	stdout, stderr string
	exit           Exit
	report         Report
}

// mustNew is New that fails the test on error.
func mustNew(t testing.TB, p *policy.Policy, argv []string, opt Options) *Sandbox {
	t.Helper()
	s, err := New(p, argv, opt)
	if err != nil {
		t.Fatalf("New(%q): %v", argv, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// run starts argv under p with stdin as input, waits, and returns what it
// wrote. It fails the test if the program runs longer than a minute.
func run(t testing.TB, p *policy.Policy, opt Options, stdin string, argv ...string) result {
	t.Helper()
	s := mustNew(t, p, argv, opt)
	return runIn(t, s, stdin, nil)
}

func runIn(t testing.TB, s *Sandbox, stdin string, env []string) result {
	t.Helper()
	if env == nil {
		env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"}
	}
	inR, inW := pipe(t)
	outR, outW := pipe(t)
	errR, errW := pipe(t)
	proc, err := s.Start(StartConfig{Stdin: int(inR.Fd()), Stdout: int(outW.Fd()), Stderr: int(errW.Fd()), Env: env})
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer proc.Close()
	go func() {
		io.WriteString(inW, stdin)
		inW.Close()
	}()
	var stdout, stderr bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { io.Copy(&stdout, outR); wg.Done() }()
	go func() { io.Copy(&stderr, errR); wg.Done() }()
	timer := time.AfterFunc(time.Minute, func() { proc.KillTree() })
	defer timer.Stop()
	exit, err := proc.Wait()
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	wg.Wait()
	return result{stdout: stdout.String(), stderr: stderr.String(), exit: exit, report: proc.Report()}
}

func pipe(t testing.TB) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

var (
	helperOnce sync.Once
	helperDir  string
	helperErr  error
)

// cHelper compiles testdata/helpers/NAME.c statically (once per test
// process) and returns its path. The directory is under /run, not the test's
// TempDir: /tmp is replaced by the sandbox's private tmpfs. The program
// itself is always executable under every policy; static, so it needs no
// loader or libraries.
func cHelper(t testing.TB, name string) string {
	t.Helper()
	helperOnce.Do(func() {
		helperDir, helperErr = os.MkdirTemp("/run", "sockjail-test-")
		if helperErr != nil {
			return
		}
		os.Chmod(helperDir, 0o755)
	})
	if helperErr != nil {
		testenv.SkipOrFail(t, "cannot create a helper directory under /run: "+helperErr.Error())
	}
	out := filepath.Join(helperDir, name)
	if _, err := os.Stat(out); err == nil {
		return out
	}
	gcc := testenv.LookTool(t, "gcc")
	src, _ := filepath.Abs(filepath.Join("testdata", "helpers", name+".c"))
	tmp := out + ".tmp"
	cmd := exec.Command(gcc, "-static", "-O1", "-o", tmp, src)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", src, err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMain(m *testing.M) {
	if childMain() {
		return
	}
	code := m.Run()
	removeParkedCgroups()
	if helperDir != "" {
		os.RemoveAll(helperDir)
	}
	os.Exit(code)
}

// lines splits s into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}
