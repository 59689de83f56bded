// Package termtest drives a real terminal client (telnet, for instance) on
// a pseudo-terminal of a given size, like expect(1): send keystrokes, wait
// for text. It is for tests only.
package termtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/sockjail/sockjail/internal/testenv"
)

// Term is a client program running on a pty.
type Term struct {
	cmd  *exec.Cmd
	ptm  *os.File
	mu   sync.Mutex
	buf  []byte // everything the client printed
	seen int    // Expect consumed buf up to here
	done chan struct{}
	err  error // the read error that ended the transcript
}

// Start runs cmd on a new pty of cols x rows and records what it prints.
func Start(cmd *exec.Cmd, cols, rows int) (*Term, error) {
	ptm, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
	if err != nil {
		return nil, fmt.Errorf("starting %s on a pty: %w", cmd.Path, err)
	}
	t := &Term{cmd: cmd, ptm: ptm, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		b := make([]byte, 4096)
		for {
			n, err := ptm.Read(b)
			t.mu.Lock()
			t.buf = append(t.buf, b[:n]...)
			t.mu.Unlock()
			if err != nil {
				t.mu.Lock()
				t.err = err
				t.mu.Unlock()
				return
			}
		}
	}()
	return t, nil
}

// Client starts the terminal client tool (a path) with args on a pty of
// cols x rows, as a user at an xterm would: TERM=xterm, a PATH and a HOME
// of its own, nothing else of the test's environment. It is closed when
// the test ends.
func Client(t testing.TB, tool string, cols, rows int, args ...string) *Term {
	t.Helper()
	cmd := exec.Command(tool, args...)
	cmd.Env = []string{"TERM=xterm", "PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
	term, err := Start(cmd, cols, rows)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(term.Close)
	return term
}

// Send types s.
func (t *Term) Send(s string) error {
	_, err := t.ptm.Write([]byte(s))
	return err
}

// Expect waits until want appears in the output after what earlier
// Expects consumed, and returns the output up to and including it.
func (t *Term) Expect(want string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		t.mu.Lock()
		i := bytes.Index(t.buf[t.seen:], []byte(want))
		if i >= 0 {
			out := string(t.buf[t.seen : t.seen+i+len(want)])
			t.seen += i + len(want)
			t.mu.Unlock()
			return out, nil
		}
		ended := t.err != nil
		t.mu.Unlock()
		if ended || time.Now().After(deadline) {
			return "", fmt.Errorf("%q did not appear within %v; output so far:\n%q", want, timeout, t.Transcript())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Resize sets the client's terminal to cols x rows; the kernel sends the
// client SIGWINCH, as a person resizing the window would.
func (t *Term) Resize(cols, rows int) error {
	return pty.Setsize(t.ptm, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
}

// Transcript returns everything the client printed.
func (t *Term) Transcript() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// Wait waits for the client to exit (at most timeout) and returns its
// error; after timeout it kills it.
func (t *Term) Wait(timeout time.Duration) error {
	ch := make(chan error, 1)
	go func() { ch <- t.cmd.Wait() }()
	select {
	case err := <-ch:
		<-t.done
		return err
	case <-time.After(timeout):
		t.cmd.Process.Kill()
		<-ch
		return fmt.Errorf("%s still running after %v; killed", t.cmd.Path, timeout)
	}
}

// Close kills the client if it still runs and closes the pty.
func (t *Term) Close() {
	if t.cmd.ProcessState == nil {
		t.cmd.Process.Kill()
		t.cmd.Wait()
	}
	t.ptm.Close()
}

// MenuLogin logs into the menu program on term as "alice", typing as a
// person would (each key on its own), and fails t unless the prompts come
// without any input and the typed name echoes exactly once before the
// greeting. It returns how long the first prompt took.
func MenuLogin(t testing.TB, term *Term, wait time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := term.Expect("Choice: ", wait); err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	term.Send("n\r")
	if _, err := term.Expect("Name: ", wait); err != nil {
		t.Fatal(err)
	}
	for _, c := range "alice" {
		term.Send(string(c))
		time.Sleep(20 * time.Millisecond)
	}
	term.Send("\r")
	echoed, err := term.Expect("Hello, alice!", wait)
	if err != nil {
		t.Fatal(err)
	}
	if echoed != "alice\r\nHello, alice!" {
		t.Errorf("between the prompt and the answer the client showed %q, want the name echoed once", echoed)
	}
	return first
}

// BuildMenu compiles testdata/programs/menu/menu.c with the system's C
// compiler into dir and returns the binary's path.
func BuildMenu(t testing.TB, dir string) string {
	t.Helper()
	cc := testenv.LookTool(t, "cc")
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "menu")
	cmd := exec.Command(cc, "-O2", "-Wall", "-o", out, filepath.Join(root, "testdata/programs/menu/menu.c"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("compiling the menu program: %v\n%s", err, b)
	}
	return out
}
