package sandbox

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/policy"
)

// TestInterpreterSwapRace is the audit's widening to "/" (issue 21, item 2):
// a script whose #! interpreter is a symbolic link in a read_write
// directory, retargeted between /bin/sh and "/" by a racer while sandboxes
// for it are built. Before the fix, Landlock got read and execute on
// whatever the path opened, "/" included, and the program read a file
// outside every policy. Now every rule of the exec chain must be on a
// regular file, every sandbox built either has that or was refused with
// a clear error, and no program reads the secret.
func TestInterpreterSwapRace(t *testing.T) {
	testenv.RequireRoot(t)
	if kernelLandlockABI(Options{}) == 0 {
		testenv.SkipOrFail(t, "Landlock is not available")
	}
	// Outside /tmp and /var/tmp, which the sandbox's private /tmp hides.
	base, err := os.MkdirTemp("/srv", "sockjail-interpswap")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	app, secretDir := filepath.Join(base, "app"), filepath.Join(base, "secret")
	for _, d := range []string{base, app, secretDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o755)
	}
	// Readable by everyone: only Landlock keeps the program out.
	secret := filepath.Join(secretDir, "secret")
	if err := os.WriteFile(secret, []byte("TOPSECRET\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	interp := filepath.Join(app, "interp")
	if err := os.Symlink("/bin/sh", interp); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(app, "script")
	if err := os.WriteFile(script, []byte("#!"+interp+"\ncat "+secret+" 2>&1; echo done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := testPolicy(t, func(p *policy.Policy) {
		p.Filesystem.ReadWrite = append(p.Filesystem.ReadWrite, policy.Path{Name: app})
	})

	// Control: without a racer the script runs and is denied the secret.
	if r := run(t, p, Options{}, "", script); !strings.Contains(r.stdout, "done") || strings.Contains(r.stdout, "TOPSECRET") {
		t.Fatalf("control run: %q %q", r.stdout, r.stderr)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var swaps atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			target := "/bin/sh"
			if i%2 == 1 {
				target = "/"
			}
			tmp := filepath.Join(app, "interp.new")
			os.Remove(tmp)
			if os.Symlink(target, tmp) == nil && os.Rename(tmp, interp) == nil {
				swaps.Add(1)
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	const rounds = 400
	var built, refused, wide, leaked int
	for i := 0; i < rounds; i++ {
		s, err := New(p, []string{script}, Options{})
		if err != nil {
			refused++
			if !strings.Contains(err.Error(), "regular file") && !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("refused with an unclear error: %v", err)
			}
			continue
		}
		built++
		for _, lp := range s.ll.paths[len(s.ll.paths)-len(s.exec):] {
			var st unix.Stat_t
			if err := unix.Fstat(lp.fd, &st); err != nil {
				t.Fatal(err)
			}
			if st.Mode&unix.S_IFMT != unix.S_IFREG {
				wide++
				t.Errorf("exec-chain rule for %q is on a %o, not a regular file", lp.name, st.Mode&unix.S_IFMT)
			}
		}
		if i%8 == 0 {
			// Run some: none may read the secret, whatever the racer did.
			if out := runRacing(t, s); strings.Contains(out, "TOPSECRET") {
				leaked++
				t.Errorf("round %d read the secret outside the policy: %q", i, out)
			}
		}
		s.Close()
	}
	t.Logf("%d rounds with %d swaps: %d sandboxes built, %d refused, %d with a rule wider than a file, %d read the secret",
		rounds, swaps.Load(), built, refused, wide, leaked)
	if refused == 0 {
		// The racer never made "/" current while a sandbox was built:
		// the test did not test anything.
		testenv.SkipOrFail(t, "the race was never hit")
	}
}

// runRacing runs s's program and returns its output, or "" when it could
// not start: the racer may have made its interpreter "/" meanwhile.
func runRacing(t *testing.T, s *Sandbox) string {
	t.Helper()
	outR, outW := pipe(t)
	proc, err := s.Start(StartConfig{Stdin: -1, Stdout: int(outW.Fd()), Stderr: int(outW.Fd()),
		Env: []string{"PATH=/usr/bin:/bin"}})
	outW.Close()
	if err != nil {
		outR.Close()
		return ""
	}
	defer proc.Close()
	out, _ := io.ReadAll(outR)
	outR.Close()
	if _, err := proc.Wait(); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return string(out)
}
