package sandbox

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/policy"
)

func TestExitStatus(t *testing.T) {
	testenv.RequireRoot(t)
	tests := []struct {
		name string
		argv []string
		want Exit
	}{
		{"zero", []string{"true"}, Exit{Code: 0}},
		{"one", []string{"false"}, Exit{Code: 1}},
		{"code 42", []string{"sh", "-c", "exit 42"}, Exit{Code: 42}},
		{"SIGKILL", []string{"sh", "-c", "kill -KILL $$"}, Exit{Signal: syscall.SIGKILL}},
		{"SIGTERM", []string{"sh", "-c", "kill -TERM $$"}, Exit{Signal: syscall.SIGTERM}},
		{"SIGSEGV", []string{"sh", "-c", "kill -SEGV $$"}, Exit{Signal: syscall.SIGSEGV}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, testPolicy(t, nil), Options{}, "", tt.argv...)
			if r.exit != tt.want {
				t.Errorf("exit = %v, want %v (stderr %q)", r.exit, tt.want, r.stderr)
			}
		})
	}
}

func TestStdioAndEnv(t *testing.T) {
	testenv.RequireRoot(t)
	p := testPolicy(t, func(p *policy.Policy) {
		p.Filesystem.ReadOnly = append(p.Filesystem.ReadOnly, policy.Path{Name: "/proc"})
	})
	s := mustNew(t, p, []string{"sh", "-c", `read x; echo "got $x"; echo "env $FOO" >&2; ls -l /proc/self/fd | wc -l`}, Options{})
	r := runIn(t, s, "hello\n", []string{"PATH=/usr/bin:/bin", "FOO=bar"})
	out := lines(r.stdout)
	if len(out) != 2 || out[0] != "got hello" {
		t.Fatalf("stdout = %q", r.stdout)
	}
	// "total 0" + fds 0, 1, 2 + the one ls opens for the directory:
	// nothing of sockjail's leaks into the program.
	if out[1] != "5" {
		t.Errorf("the program has %s lines in ls /proc/self/fd, want 5 (0, 1, 2 and ls's own)", out[1])
	}
	if strings.TrimSpace(r.stderr) != "env bar" {
		t.Errorf("stderr = %q", r.stderr)
	}
}

func TestProgramErrors(t *testing.T) {
	dir := t.TempDir()
	noexec := dir + "/noexec"
	os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644)
	tests := []struct {
		argv []string
		kind ProgramErrorKind
		is   error
	}{
		{[]string{"/nonexistent/prog"}, NotFound, fs.ErrNotExist},
		{[]string{"no-such-program-sockjail"}, NotFound, fs.ErrNotExist},
		{[]string{noexec}, NotExecutable, fs.ErrPermission},
		{[]string{dir}, NotExecutable, fs.ErrPermission},
	}
	for _, tt := range tests {
		_, err := New(testPolicy(t, nil), tt.argv, Options{})
		var pe *ProgramError
		if !errors.As(err, &pe) || pe.Kind != tt.kind || !errors.Is(err, tt.is) {
			t.Errorf("New(%q) = %v, want a ProgramError of kind %d", tt.argv, err, tt.kind)
		}
	}
}

// TestSignalForwarded checks that SIGTERM reaches a script that traps it,
// through the PID namespace's init.
func TestSignalForwarded(t *testing.T) {
	testenv.RequireRoot(t)
	s := mustNew(t, testPolicy(t, nil), []string{"bash", "-c", `trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done`}, Options{})
	outR, outW := pipe(t)
	proc, err := s.Start(StartConfig{Stdin: -1, Stdout: int(outW.Fd()), Stderr: 2, Env: []string{"PATH=/usr/bin:/bin"}})
	outW.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	buf := make([]byte, 6)
	if _, err := io.ReadFull(outR, buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exit, err := proc.Wait()
	if err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(outR)
	if exit != (Exit{Code: 7}) || string(rest) != "got TERM\n" {
		t.Errorf("exit %v, output %q; want exit status 7 and \"got TERM\"", exit, rest)
	}
	if err := proc.Signal(syscall.SIGTERM); err != os.ErrProcessDone {
		t.Errorf("Signal after Wait = %v, want os.ErrProcessDone", err)
	}
}

// TestDaemonGone checks that a daemonized grandchild (double fork, setsid)
// holding a pipe is gone once the program has exited: the pipe's reader
// gets EOF.
func TestDaemonGone(t *testing.T) {
	testenv.RequireRoot(t)
	proc, outR := startToPipe(t, []string{"sh", "-c", `(setsid sh -c 'sleep 1000' &) ; echo started`})
	exit, err := proc.Wait()
	if err != nil || exit.Code != 0 {
		t.Fatalf("Wait = %v, %v", exit, err)
	}
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(outR); done <- b }()
	select {
	case b := <-done:
		if string(b) != "started\n" {
			t.Errorf("output %q", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the daemonized grandchild still holds the pipe 10 s after Wait")
	}
}

func TestKillTree(t *testing.T) {
	testenv.RequireRoot(t)
	proc, outR := startToPipe(t, []string{"sh", "-c", `sleep 1000 & sleep 1000`})
	if err := proc.KillTree(); err != nil {
		t.Fatal(err)
	}
	exit, err := proc.Wait()
	if err != nil || exit.Signal != syscall.SIGKILL {
		t.Fatalf("Wait = %v, %v; want killed by SIGKILL", exit, err)
	}
	if b, err := io.ReadAll(outR); err != nil || len(b) != 0 {
		t.Errorf("ReadAll = %q, %v", b, err)
	}
}

// TestWaitProgram: WaitProgram returns the program's own status while a
// child it left behind still runs; Wait then returns the same status once
// the whole session, that child included, is gone.
func TestWaitProgram(t *testing.T) {
	testenv.RequireRoot(t)
	proc, outR := startToPipe(t, []string{"sh", "-c", `sleep 1000 & echo started; exit 7`})
	if !proc.Report().PIDNS {
		t.Fatal("no PID namespace: WaitProgram is Wait there")
	}
	exit, err := proc.WaitProgram()
	if err != nil || exit != (Exit{Code: 7}) {
		t.Fatalf("WaitProgram = %v, %v; want exit 7", exit, err)
	}
	// The sleep holds the pipe until the session is gone: the output
	// ends only after Wait.
	full, err := proc.Wait()
	if err != nil || full != exit {
		t.Fatalf("Wait = %v, %v; want %v", full, err, exit)
	}
	if b, err := io.ReadAll(outR); err != nil || string(b) != "started\n" {
		t.Errorf("output %q, %v", b, err)
	}
	if again, _ := proc.WaitProgram(); again != exit {
		t.Errorf("WaitProgram after Wait = %v, want %v", again, exit)
	}
}

// startToPipe starts argv under the test policy with stdout and stderr on
// a pipe, and returns the process (closed at the test's end) and the
// pipe's read end.
func startToPipe(t *testing.T, argv []string) (*Process, *os.File) {
	t.Helper()
	s := mustNew(t, testPolicy(t, nil), argv, Options{})
	outR, outW := pipe(t)
	proc, err := s.Start(StartConfig{Stdin: -1, Stdout: int(outW.Fd()), Stderr: int(outW.Fd()), Env: []string{"PATH=/usr/bin:/bin"}})
	outW.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.Close() })
	return proc, outR
}
