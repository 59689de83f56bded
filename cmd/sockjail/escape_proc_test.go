package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/escapetest"
	"github.com/sockjail/sockjail/internal/proctest"
)

// The escape suite's /proc and /dev/shm cases (issue 15, and the /proc
// leaks of issue 21): what a fresh procfs opens and what it must keep shut.
// With a mount and PID namespace (root, unprivileged) the session's /proc
// shows its own processes only; without one (unprivileged-no-userns) the
// host's /proc stays, Landlock denies opening anything in it, and what
// Landlock doesn't mediate (stat, and readlink of /proc/self) is the
// documented residual of that mode.

// escProcNS and escProcNoNS are the outcomes of `proc look` in each kind of
// mode. "host" means: whatever the same lstat gives on the host (learned
// from a control, since kernels differ in which /proc files they have).
var (
	escProcNS = map[string]string{
		"proc-other-session": "ENOENT",
		"proc-host":          "ENOENT",
		"proc-host-environ":  "ENOENT",
		"proc-host-cmdline":  "ENOENT",
		"proc-host-root":     "ENOENT",
		"proc-host-fd":       "ENOENT",
		"proc-self":          "ok",
		"proc-init":          "ok",
		"proc-init-environ":  "EACCES",
		"proc-sys":           "ENOENT",
		"proc-sysrq-trigger": "ENOENT",
		"proc-kcore":         "ENOENT",
		"proc-reopen":        "EACCES",
		"shm-other":          "ENOENT",
	}
	escProcNoNS = map[string]string{
		// Residual: stat(2) is not mediated by Landlock.
		"proc-other-session": "ok",
		"proc-host":          "ok",
		"proc-host-environ":  "EACCES",
		"proc-host-cmdline":  "EACCES",
		"proc-host-root":     "EACCES",
		"proc-host-fd":       "EACCES",
		// Residual: the target is the program's pid on the host.
		"proc-self":          "ok",
		"proc-init":          "EACCES",
		"proc-init-environ":  "EACCES",
		"proc-sys":           "host",
		"proc-sysrq-trigger": "host",
		"proc-kcore":         "host",
		"proc-reopen":        "EACCES",
		"shm-other":          "ENOENT",
	}
	escProcHostPath = map[string]string{
		"proc-sys": "/proc/sys", "proc-sysrq-trigger": "/proc/sysrq-trigger", "proc-kcore": "/proc/kcore",
	}
)

// TestEscapeProc: session B looks through /proc for session A's program, a
// host process (the test itself, root's) and its own sockjail (the same
// uid in the unprivileged modes), at /proc/1 and at the system files; A
// holds a marker in its /dev/shm, which B must not see, the host's
// /dev/shm never holds, and which is gone with A's mount namespace.
func TestEscapeProc(t *testing.T) {
	e := escapetest.Setup(t)
	for _, m := range escapetest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			ns := m.Name != "unprivileged-no-userns"
			token := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
			a, hold := e.StartLine(t, m, "default", e.Expand([]string{"{bin}/proc", "hold", token}, nil))
			wantHold := "ok"
			if !ns {
				wantHold = "EACCES" // the host's /dev/shm, denied
			}
			if hold.Fields["escape"] != "shm-hold" || hold.Fields["result"] != wantHold {
				t.Fatalf("%s: got %q, want shm-hold result=%s\n%s", a.Desc, hold.Raw, wantHold, a.Stderr.String())
			}
			if _, err := os.Lstat("/dev/shm/marker-" + token); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the host's /dev/shm has session A's marker: %v", err)
			}
			aPID := escapetest.FindProcess(t, "proc", token)
			aMnt, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", aPID))

			want := escProcNS
			if !ns {
				want = escProcNoNS
			}
			for _, host := range []struct{ what, pid string }{
				{"the test process", strconv.Itoa(os.Getpid())},
				{"its own sockjail", "{supervisor}"},
			} {
				b, out, code := e.Run(t, m, "default", nil, e.Expand([]string{"{bin}/proc", "look", host.pid, strconv.Itoa(aPID), token, e.Vars["secret"]}, nil))
				if code != 0 {
					t.Fatalf("%s: exit %d, output %q\n%s", b.Desc, code, out, b.Stderr.String())
				}
				got := map[string]escapetest.Result{}
				for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
					r := escapetest.ParseResult(l)
					got[r.Fields["escape"]] = r
				}
				for name, w := range want {
					if w == "host" {
						w = "ok"
						if _, err := os.Lstat(escProcHostPath[name]); err != nil {
							w = "ENOENT"
						}
					}
					if r := got[name]; r.Fields["result"] != w {
						t.Errorf("%s (%s): %s: got %q, want result=%s", b.Desc, host.what, name, r.Raw, w)
					}
				}
				self, init := got["proc-self"].Fields, got["proc-init"].Fields
				if ns {
					// The session's own pids: the init is 1, the
					// program 2, and /proc/1 is the init sockjail
					// cloned (its name is sockjail's).
					if self["pid"] != "2" || self["target"] != "2" {
						t.Errorf("%s: /proc/self: %q, want pid=2 target=2", b.Desc, got["proc-self"].Raw)
					}
					if init["name"] != "sockjail" || init["ppid"] != "1" {
						t.Errorf("%s: /proc/1: %q, want name=sockjail ppid=1", b.Desc, got["proc-init"].Raw)
					}
				} else if self["target"] != self["pid"] || self["pid"] == "2" {
					t.Errorf("%s: /proc/self: %q, want the host's pid (the residual of this mode)", b.Desc, got["proc-self"].Raw)
				}
			}

			out, code := a.Finish()
			if code != 0 || out != "" {
				t.Errorf("%s: exit %d, output %q", a.Desc, code, out)
			}
			if !ns {
				return
			}
			// A's /dev/shm lived in A's mount namespace: once every
			// process of it is gone, no process holds that namespace.
			if aMnt == "" {
				t.Fatalf("could not read session A's mount namespace")
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				var holders []int
				for _, pid := range proctest.PIDs() {
					if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid)); l == aMnt {
						holders = append(holders, pid)
					}
				}
				if len(holders) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("session A's mount namespace %s (and its /dev/shm) is still held by %v", aMnt, holders)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
