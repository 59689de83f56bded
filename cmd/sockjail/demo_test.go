package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/escapetest"
	"github.com/sockjail/sockjail/internal/testenv"
)

// demoUID is the normal user the demo runs as in the unprivileged rows: a
// uid of its own with a 0700 home directory, as `useradd -m` makes one.
const demoUID = 4242480

// demoClone is what `make demo` needs of a clone; the binary is the one
// testenv built, so `make -o build demo` runs the demo without building.
var demoClone = []string{"Makefile", ".ci/deps", "testdata/hello.sh", "testdata/policies/hello.toml"}

// TestDemo runs the README's `make demo` from a clone in each place a new
// user puts one, as root and as a normal user, and connects with the
// client the demo's hint names: it must answer Hello World. The places are
// the test's own directories with the same modes: a 0700 directory of
// root's under /root, /tmp (which the session's private /tmp covers), and a
// 0700 home directory.
func TestDemo(t *testing.T) {
	testenv.RequireRoot(t)
	makeBin := testenv.LookTool(t, "make")
	setpriv := testenv.LookTool(t, "setpriv")
	sockjail := testenv.Sockjail(t)
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		parent string // where the test's directory goes
		mode   os.FileMode
		uid    int // who owns the clone and runs make; 0 is root
	}{
		{"root/under-root-0700", "/root", 0o700, 0},
		{"root/under-tmp", os.TempDir(), 0o755, 0},
		{"root/home-0700", "/home", 0o700, demoUID},
		{"user/home-0700", "/home", 0o700, demoUID},
		{"user/under-tmp", os.TempDir(), 0o700, demoUID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.MkdirAll(tt.parent, 0o755); err != nil {
				t.Fatal(err)
			}
			dir, err := os.MkdirTemp(tt.parent, "sockjail-demo-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			clone := filepath.Join(dir, "sockjail")
			for _, f := range demoClone {
				demoCopy(t, filepath.Join(root, f), filepath.Join(clone, f))
			}
			demoCopy(t, sockjail, filepath.Join(clone, "bin", "sockjail"))
			if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
				if err != nil {
					return err
				}
				return os.Lchown(p, tt.uid, tt.uid)
			}); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tt.mode); err != nil {
				t.Fatal(err)
			}

			addr := testenv.FreeLoopbackAddr(t)
			args := []string{makeBin, "--no-print-directory", "-o", "build", "demo", "DEMO_ADDR=" + addr}
			if strings.HasPrefix(tt.name, "user/") {
				args = append(escapetest.Setpriv(tt.uid), args...)
				args = append([]string{setpriv}, args[1:]...)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, args[0], args[1:]...)
			cmd.Dir = clone
			cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=" + dir, "LANG=C.UTF-8"}
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
			var stderr testenv.LockedBuffer
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			defer func() {
				syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
				select {
				case <-done:
				case <-time.After(30 * time.Second):
					syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					<-done
				}
				if t.Failed() {
					t.Logf("make demo's stderr:\n%s", stderr.String())
				}
			}()

			client := demoHint(t, stdout)
			// The server may not listen yet: try the client until it
			// gets an answer.
			deadline := time.Now().Add(60 * time.Second)
			for {
				out, err := exec.CommandContext(ctx, "/bin/sh", "-c", client).Output()
				if string(out) == "Hello World\n" {
					break
				}
				select {
				case err := <-done:
					t.Fatalf("make demo ended (%v) before serving", err)
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: got %q, %v; want Hello World", client, out, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			// The session logs its line once its sandbox is gone, which
			// may be after the client has its answer.
			for !strings.Contains(stderr.String(), "msg=connection ") && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if log := stderr.String(); !strings.Contains(log, "msg=connection ") || strings.Contains(log, "level=ERROR") {
				t.Errorf("the demo's log has no connection line, or an error:\n%s", log)
			}
		})
	}
}

// demoHint reads make's output up to the demo's hint and returns the client
// command it names, which must be a command this machine has.
func demoHint(t *testing.T, stdout io.Reader) string {
	t.Helper()
	const marker = "try from another terminal: "
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		_, after, ok := strings.Cut(sc.Text(), marker)
		if !ok {
			continue
		}
		client, _, _ := strings.Cut(after, "   (Ctrl-C")
		go io.Copy(io.Discard, stdout)
		name := strings.Fields(client)[0]
		if _, err := exec.LookPath(name); err != nil {
			t.Fatalf("the demo's hint names %q, which this machine does not have: %v", name, err)
		}
		return client
	}
	t.Fatalf("make demo printed no hint (%q): %v", marker, sc.Err())
	return ""
}

func demoCopy(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

// TestUnreachableProgramRefused: where the program truly can't be reached
// by the user who must run it, `run` and `serve` refuse to start it (exit
// 126) with the file or directory in the way, the user and the fix: as
// root, a script only root may read (the program runs as nobody); as a
// normal user, a program in a 0700 directory of root's, which sockjail
// itself can't enter.
func TestUnreachableProgramRefused(t *testing.T) {
	testenv.RequireRoot(t)
	setpriv := testenv.LookTool(t, "setpriv")
	sockjail := testenv.Sockjail(t)
	base, err := os.MkdirTemp("/srv", "sockjail-unreachable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	private := filepath.Join(base, "root-only")
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{base, 0o755}, {private, 0o700}} {
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d.path, d.mode); err != nil {
			t.Fatal(err)
		}
	}
	ownScript := filepath.Join(base, "own.sh")
	hidden := filepath.Join(private, "hello.sh")
	for _, p := range []string{ownScript, hidden} {
		mode := os.FileMode(0o755)
		if p == ownScript {
			mode = 0o700
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\necho Hello World\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name string
		user bool // start sockjail as demoUID
		prog string
		want []string
	}{
		// As root, each session has a uid of its own (issue 21): the
		// message names the range it comes from.
		{"root", false, ownScript, []string{"the session's dynamic user (a uid from", ownScript, "mode 0700, owner root", "chmod o+rx " + ownScript}},
		{"user", true, hidden, []string{"sockjail runs as user 4242480", "can't enter " + private, "mode 0700, owner root", "start sockjail as root"}},
	} {
		for _, cmdName := range []string{"run", "serve"} {
			t.Run(tt.name+"/"+cmdName, func(t *testing.T) {
				args := []string{sockjail, cmdName}
				if cmdName == "serve" {
					args = append(args, "--listen", testenv.FreeLoopbackAddr(t))
				}
				args = append(args, "--", tt.prog)
				if tt.user {
					args = append(append([]string{setpriv}, escapetest.Setpriv(demoUID)[1:]...), args...)
				}
				cmd := exec.Command(args[0], args[1:]...)
				// run wants a connection on fd 0 and 1 before anything else.
				fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
				if err != nil {
					t.Fatal(err)
				}
				ours, theirs := os.NewFile(uintptr(fds[0]), "client"), os.NewFile(uintptr(fds[1]), "connection")
				defer ours.Close()
				cmd.Stdin, cmd.Stdout = theirs, theirs
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				err = cmd.Start()
				theirs.Close()
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case err = <-done:
				case <-time.After(60 * time.Second):
					cmd.Process.Kill()
					t.Fatalf("%s did not refuse within a minute; stderr:\n%s", cmdName, stderr.String())
				}
				if code := cmd.ProcessState.ExitCode(); code != 126 {
					t.Errorf("exit %d (%v), want 126; stderr:\n%s", code, err, stderr.String())
				}
				for _, w := range tt.want {
					if !strings.Contains(stderr.String(), w) {
						t.Errorf("stderr does not say %q:\n%s", w, stderr.String())
					}
				}
			})
		}
	}
}
