package sandbox

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/creack/pty"

	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/policy"
)

// TestSyscallActions checks each [syscalls] action on a syscall the default
// policy denies (setuid, in @setuid).
func TestSyscallActions(t *testing.T) {
	testenv.RequireRoot(t)
	probe := cHelper(t, "probe")
	tests := []struct {
		action   policy.SyscallAction
		errno    string
		wantOut  string
		wantExit Exit
	}{
		{policy.ActionErrno, "EPERM", "setuid0 EPERM\n", Exit{}},
		{policy.ActionErrno, "EACCES", "setuid0 EACCES\n", Exit{}},
		{policy.ActionKill, "EPERM", "", Exit{Signal: syscall.SIGSYS}},
		// log allows the call: the kernel itself refuses nobody's
		// setuid(0) with EPERM.
		{policy.ActionLog, "EPERM", "setuid0 EPERM\n", Exit{}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.action, tt.errno), func(t *testing.T) {
			p := testPolicy(t, func(p *policy.Policy) {
				p.Syscalls.Action = tt.action
				p.Syscalls.Errno = tt.errno
			})
			r := run(t, p, Options{}, "", probe, "setuid0")
			if r.stdout != tt.wantOut || r.exit != tt.wantExit {
				t.Errorf("stdout %q exit %v, want %q %v", r.stdout, r.exit, tt.wantOut, tt.wantExit)
			}
		})
	}
}

// TestLimitsEnforced checks that [limits] bite: a file past file_size fails
// with EFBIG.
func TestLimitsEnforced(t *testing.T) {
	testenv.RequireRoot(t)
	probe := cHelper(t, "probe")
	p := testPolicy(t, func(p *policy.Policy) { p.Limits.FileSize = policy.Limit{Value: 4096} })
	r := run(t, p, Options{}, "", probe, "write:4096", "write:8192")
	if want := "write:4096 ok\nwrite:8192 EFBIG\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
}

// TestControllingTTY gives the program a pty as stdin with ControllingTTY:
// /dev/tty opens only when it is the controlling terminal.
func TestControllingTTY(t *testing.T) {
	testenv.RequireRoot(t)
	p := testPolicy(t, func(p *policy.Policy) {
		p.Filesystem.Devices = append(p.Filesystem.Devices, policy.Path{Name: "/dev/tty"})
	})
	s := mustNew(t, p, []string{"sh", "-c", `if true </dev/tty; then echo ctty; else echo none; fi`}, Options{})
	for _, ctty := range []bool{true, false} {
		ptm, tty, err := pty.Open()
		if err != nil {
			testenv.SkipOrFail(t, "no pty: "+err.Error())
		}
		outR, outW := pipe(t)
		proc, err := s.Start(StartConfig{Stdin: int(tty.Fd()), Stdout: int(outW.Fd()), Stderr: int(outW.Fd()), ControllingTTY: ctty})
		tty.Close()
		outW.Close()
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(outR)
		proc.Wait()
		proc.Close()
		ptm.Close()
		want := "none"
		if ctty {
			want = "ctty"
		}
		if !strings.HasSuffix(string(out), want+"\n") {
			t.Errorf("ControllingTTY=%v: output %q, want %q", ctty, out, want)
		}
	}
}

// TestConcurrentStarts starts many programs from many goroutines at once,
// as serve does, and checks each got its own stdio and status.
func TestConcurrentStarts(t *testing.T) {
	testenv.RequireRoot(t)
	s := mustNew(t, testPolicy(t, nil), []string{"sh", "-c", `read n; echo "n=$n"; exit $((n % 7))`}, Options{})
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inR, inW, _ := os.Pipe()
			outR, outW, _ := os.Pipe()
			defer inW.Close()
			defer outR.Close()
			proc, err := s.Start(StartConfig{Stdin: int(inR.Fd()), Stdout: int(outW.Fd()), Stderr: -1})
			inR.Close()
			outW.Close()
			if err != nil {
				errs <- err
				return
			}
			defer proc.Close()
			fmt.Fprintf(inW, "%d\n", i)
			out, _ := io.ReadAll(outR)
			exit, err := proc.Wait()
			if err != nil || string(out) != fmt.Sprintf("n=%d\n", i) || exit.Code != i%7 {
				errs <- fmt.Errorf("session %d: output %q exit %v err %v", i, out, exit, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestStartErrors checks that a failure between fork and exec names its
// step.
func TestStartErrors(t *testing.T) {
	testenv.RequireRoot(t)
	p := testPolicy(t, func(p *policy.Policy) { p.Program.Workdir = "/nonexistent-sockjail-dir" })
	s := mustNew(t, p, []string{"true"}, Options{})
	_, err := s.Start(StartConfig{Stdin: -1, Stdout: -1, Stderr: -1})
	se, ok := err.(*StartError)
	if !ok || se.Step != "chdir" || se.Errno != syscall.ENOENT {
		t.Errorf("Start = %v, want a StartError at chdir with ENOENT", err)
	}
}

// TestNoFileBelowParentFDs starts a program while sockjail itself holds more
// descriptors than the policy's nofile allows, as serve does with many
// connections open: the child inherits them until execve, so the limit must
// not be applied before the Landlock ruleset is built (EMFILE otherwise), and
// the program must still get it.
func TestNoFileBelowParentFDs(t *testing.T) {
	testenv.RequireRoot(t)
	const limit = 64
	var held []*os.File
	defer func() {
		for _, f := range held {
			f.Close()
		}
	}()
	for i := 0; i < 3*limit; i++ {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, f)
	}
	p := testPolicy(t, func(p *policy.Policy) { p.Limits.NoFile = policy.Limit{Value: limit} })
	r := run(t, p, Options{}, "", "sh", "-c", "ulimit -n")
	if r.exit.ExitCode() != 0 || r.stdout != "64\n" {
		t.Errorf("program with nofile = %d under a parent holding %d fds: %v, stdout %q, stderr %q", limit, len(held), r.exit, r.stdout, r.stderr)
	}
}

// TestMissingPaths: a missing path in a filesystem list refuses the
// sandbox with the path and a hint, unless it is written optional ("-"),
// when its rule is left out.
func TestMissingPaths(t *testing.T) {
	const missing = "/nonexistent-sockjail-path"
	p := testPolicy(t, func(p *policy.Policy) {
		p.Filesystem.ReadOnly = append(p.Filesystem.ReadOnly, policy.Path{Name: missing})
	})
	_, err := New(p, []string{"true"}, Options{})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), `filesystem.read_only "`+missing+`"`) || !strings.Contains(err.Error(), `"-`+missing+`"`) {
		t.Errorf("New with a missing read_only path: %v", err)
	}
	p = testPolicy(t, func(p *policy.Policy) {
		p.Filesystem.ReadWrite = append(p.Filesystem.ReadWrite, policy.Path{Name: missing, Optional: true})
	})
	s, err := New(p, []string{"true"}, Options{})
	if err != nil {
		t.Fatalf("New with an optional missing path: %v", err)
	}
	defer s.Close()
	for _, lp := range s.ll.paths {
		if lp.name == missing {
			t.Errorf("the optional missing path has a rule")
		}
	}
}
