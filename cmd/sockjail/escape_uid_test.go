package main

// Escape attempts about the program's uid (issue 21, items 5 and 6): what
// one session can leave behind for a later one, or take from all others,
// through the uid it runs as.

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/escapetest"
	"github.com/sockjail/sockjail/internal/exitcode"
	"github.com/sockjail/sockjail/internal/testenv"
)

// escSetIDMethods are the ways setid.c plants a set-ID file, with what the
// sandbox must answer: EPERM for every call whose mode the filter reads,
// ENOSYS for openat2, whose mode it can't read (libc falls back to openat).
var escSetIDMethods = map[string]string{
	"chmod": "EPERM", "fchmod": "EPERM", "fchmodat": "EPERM", "fchmodat2": "EPERM",
	"chmod-setgid": "EPERM", "creat": "EPERM", "mknod": "EPERM", "mknodat": "EPERM",
	"open": "EPERM", "openat": "EPERM", "tmpfile": "EPERM", "openat2": "ENOSYS",
}

// TestEscapeSetID: a program plants a set-user-ID or set-group-ID file in a
// directory its policy lets it write, by every syscall that takes a mode.
// Such a file would give any host user who runs it the program's uid after
// the session (nobody's, sockjail's own user's, or a dynamic uid that a
// later caller gets). The filter refuses each way with EPERM (openat2 with
// ENOSYS), in every mode and for every user, and no file with either bit
// is left. Unconfined, every method works, so the test is able to fail.
func TestEscapeSetID(t *testing.T) {
	e := escapetest.Setup(t)
	testenv.LookTool(t, "setpriv")
	escDynamicWritePolicy(t, e)
	dir := e.Vars["writedir"]
	t.Run("bare", func(t *testing.T) {
		for method := range escSetIDMethods {
			path := filepath.Join(dir, "bare-"+method)
			out, err := exec.Command("setpriv", append(escapetest.Setpriv(escapetest.UnprivUID)[1:], filepath.Join(e.Bin, "setid"), method, path)...).Output()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := escapetest.Verify("setid-"+method, "ok", string(out), 0); err != nil {
				t.Errorf("unconfined: %v", err)
			}
			os.Remove(path)
		}
	})
	for _, m := range escapetest.Modes {
		for _, pol := range []string{"write", "dynamic-write"} {
			if pol == "dynamic-write" && m.Unpriv {
				continue // a dynamic user needs sockjail to start as root
			}
			t.Run(m.Name+"/"+pol, func(t *testing.T) {
				for method, want := range escSetIDMethods {
					path := filepath.Join(dir, m.Name+"-"+pol+"-"+method)
					s, out, code := e.Run(t, m, pol, nil, []string{filepath.Join(e.Bin, "setid"), method, path})
					r, err := escapetest.Verify("setid-"+method, want, out, code)
					if err == nil && r.Fields["mode"] != "none" && r.Fields["mode"] != "0755" {
						err = fmt.Errorf("mode=%s, want none or 0755", r.Fields["mode"])
					}
					if err != nil {
						t.Errorf("%s: %v\nsockjail's log:\n%s", s.Desc, err, s.Stderr.String())
					}
				}
			})
		}
	}
	escNoSetIDFiles(t, dir)
}

// escDynamicWriteUID is the one uid of the dynamic-write policy: a range
// of one, so that every session gets the uid the previous one had. It is
// away from the default range and from policies/dynamic.toml's.
const escDynamicWriteUID = 4242430

// escDynamicWritePolicy adds the policy "dynamic-write": a dynamic user
// from a range of one uid that may write the suite's writable directory.
// It differs from the default in three things, so it is written here rather
// than kept with the one-difference policies of testdata/escape/policies.
func escDynamicWritePolicy(t *testing.T, e *escapetest.Env) {
	t.Helper()
	p := filepath.Join(e.Root, "policies", "dynamic-write.toml")
	escapetest.WriteFile(t, p, fmt.Sprintf(`version = 1
[program]
user = "dynamic"
dynamic_uids = "%d-%d"
[filesystem]
read_write = [%q]
`, escDynamicWriteUID, escDynamicWriteUID, e.Vars["writedir"]), 0o644)
	e.Policies["dynamic-write"] = p
}

// escNoSetIDFiles fails the test for every file under dir with a set-ID
// bit.
func escNoSetIDFiles(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			t.Errorf("%s has mode %v: a set-ID file was planted", path, fi.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEscapeDynamicPersist: a dynamic uid carries nothing from one caller
// to the next. Under a policy whose range is one uid, so that every session
// gets the uid the previous one had, a session leaves a 0600 file and a 0700
// directory with a 0600 file in its writable directory; the next session,
// with the same uid, must not read them (EACCES), and they must be kept,
// given to root. The same when sockjail is killed while the first session
// lives, so that it never swept: the next session to take the uid sweeps
// before its program runs.
func TestEscapeDynamicPersist(t *testing.T) {
	e := escapetest.Setup(t)
	escDynamicWritePolicy(t, e)
	m := escapetest.Modes[0]
	uid := strconv.Itoa(escDynamicWriteUID)
	persist := filepath.Join(e.Bin, "persist")
	readBack := func(t *testing.T, path string) {
		t.Helper()
		s, out, code := e.Run(t, m, "dynamic-write", nil, []string{persist, "read", path})
		r, err := escapetest.Verify("persist-read", "EACCES", out, code)
		if err == nil && (r.Fields["inner"] != "EACCES" || r.Fields["uid"] != uid) {
			err = fmt.Errorf("got %q, want inner=EACCES uid=%s", r.Raw, uid)
		}
		if err != nil {
			t.Errorf("%s: the next caller with the same uid: %v\nsockjail's log:\n%s", s.Desc, err, s.Stderr.String())
		}
		for _, p := range []string{path, path + ".d", path + ".d/inner"} {
			fi, err := os.Lstat(p)
			if err != nil {
				t.Errorf("%s is gone: %v (the sweep must keep the files)", p, err)
				continue
			}
			if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 || st.Gid != 0 {
				t.Errorf("%s is owned by %d:%d after the session, want 0:0", p, st.Uid, st.Gid)
			}
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != "the first caller's secret\n" {
			t.Errorf("%s holds %q (%v), want the first caller's data kept", path, b, err)
		}
	}

	t.Run("successive", func(t *testing.T) {
		path := filepath.Join(e.Vars["writedir"], "persist-successive")
		s, out, code := e.Run(t, m, "dynamic-write", nil, []string{persist, "write", path})
		if r, err := escapetest.Verify("persist-write", "ok", out, code); err != nil || r.Fields["uid"] != uid {
			t.Fatalf("%s: %v, uid=%s (want %s)\nsockjail's log:\n%s", s.Desc, err, r.Fields["uid"], uid, s.Stderr.String())
		}
		readBack(t, path)
	})

	t.Run("sockjail-killed", func(t *testing.T) {
		path := filepath.Join(e.Vars["writedir"], "persist-killed")
		s := e.Start(t, m, "dynamic-write", nil, []string{persist, "hold", path})
		if r := s.Line(); r.Fields["result"] != "ok" || r.Fields["uid"] != uid {
			t.Fatalf("%s: got %q, want result=ok uid=%s", s.Desc, r.Raw, uid)
		}
		// sockjail dies without its Close: nothing has been swept.
		s.KillSockjail()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != escDynamicWriteUID {
			t.Fatalf("%s is owned by %d right after sockjail was killed, want the session's uid %d (the test's premise)", path, st.Uid, escDynamicWriteUID)
		}
		readBack(t, path)
	})
}

// escSharedUID is the uid of the control policy of TestEscapeUIDFlood: a
// named user shared by every session, as nobody was the default's, but one
// that nothing else on the machine runs as.
const escSharedUID = 4242460

// escFloods are the per-uid limits TestEscapeUIDFlood uses up, with the
// errno that stops the flood and the steps of the probe that the flood
// breaks when the uid is shared: under RLIMIT_NPROC the program's execve
// fails (sockjail exits 71, the probe prints nothing) when the uid is past
// the limit, and its fork when the uid is at it.
var escFloods = []struct {
	name, stop string
	steps      []string
}{
	{"nproc", "EAGAIN", []string{"execve", "fork"}},
	{"inotify", "EMFILE", []string{"inotify"}},
}

// TestEscapeUIDFlood: one caller uses up a limit the kernel counts per uid
// (RLIMIT_NPROC, inotify instances) and holds it, while another session
// starts and does ordinary work (a fork and an inotify instance), through
// `sockjail run` and `sockjail serve`, as root. Under the default policy
// each session has a uid of its own, so the second one must start and
// finish normally. The control runs both sessions as one named uid, as
// the default's shared nobody did: there the second one must fail, which
// shows that the flood reaches the limit on this host and that the test is
// able to fail.
func TestEscapeUIDFlood(t *testing.T) {
	e := escapetest.Setup(t)
	shared := filepath.Join(e.Root, "policies", "shared-uid.toml")
	escapetest.WriteFile(t, shared, fmt.Sprintf("version = 1\n[program]\nuser = \"%d\"\n", escSharedUID), 0o644)
	e.Policies["shared-uid"] = shared
	flood := filepath.Join(e.Bin, "flood")
	m := escapetest.Modes[0]

	// outcome is what the probe session got: "ok", or the errno and the
	// step that failed ("execve" when the program could not even start).
	type outcome struct{ result, step, log string }
	for _, fl := range escFloods {
		for _, pol := range []string{"default", "shared-uid"} {
			want := func(o outcome) error {
				if pol == "default" {
					if o.result != "ok" {
						return fmt.Errorf("the second session got %s at %s, want ok: its uid is its own", o.result, o.step)
					}
					return nil
				}
				if o.result == "ok" || !slices.Contains(fl.steps, o.step) {
					return fmt.Errorf("control: the second session got %s (step %q) while the first held the shared uid's %s; want a failure at %v. The premise (the kernel counts this limit per uid) does not hold here", o.result, o.step, fl.name, fl.steps)
				}
				return nil
			}
			t.Run(fl.name+"/run/"+pol, func(t *testing.T) {
				a := e.Start(t, m, pol, nil, []string{flood})
				a.Send(fl.name + "\n")
				if r := a.Line(); r.Fields["result"] != fl.stop {
					t.Fatalf("%s: the flood got %q, want result=%s", a.Desc, r.Raw, fl.stop)
				}
				b := e.Start(t, m, pol, nil, []string{flood})
				b.Send("probe\n")
				out, code := b.Finish()
				o := outcome{log: b.Stderr.String()}
				r := escapetest.ParseResult(out)
				switch {
				case out == "" && code == exitcode.OSError && strings.Contains(o.log, "execve: resource temporarily unavailable"):
					o.result, o.step = "EAGAIN", "execve"
				case code == 0:
					o.result, o.step = r.Fields["result"], r.Fields["step"]
				default:
					o.result = fmt.Sprintf("exit %d, output %q", code, out)
				}
				if err := want(o); err != nil {
					t.Errorf("%s: %v\nsockjail's log:\n%s", b.Desc, err, o.log)
				}
				a.Finish()
			})
			t.Run(fl.name+"/serve/"+pol, func(t *testing.T) {
				var args []string
				if pol != "default" {
					args = append(args, "--policy", e.Policies[pol])
				}
				s := startServe(t, append(args, "--listen", "127.0.0.1:0"), flood)
				a := dialFrom(t, "", s.addr)
				defer a.Close()
				a.Write([]byte(fl.name + "\n"))
				if r := escapetest.ParseResult(readLine(t, a)); r.Fields["result"] != fl.stop {
					t.Fatalf("the flood got %q, want result=%s", r.Raw, fl.stop)
				}
				b := dialFrom(t, "", s.addr)
				defer b.Close()
				b.Write([]byte("probe\n"))
				b.CloseWrite()
				out, _ := readToEOF(b)
				o := outcome{result: "no answer"}
				if r := escapetest.ParseResult(string(out)); r.Fields["escape"] == "flood-probe" {
					o.result, o.step = r.Fields["result"], r.Fields["step"]
				} else if s.logs.find(10*time.Second, func(m map[string]any) bool {
					e, _ := m["error"].(string)
					return strings.Contains(e, "execve: resource temporarily unavailable")
				}) != nil {
					o.result, o.step = "EAGAIN", "execve"
				}
				if err := want(o); err != nil {
					t.Errorf("serve: %v (answer %q)", err, out)
				}
				a.CloseWrite()
				readToEOF(a)
			})
		}
	}
}

// escNamedUserPolicy adds the policy pol ("default" or one of
// testdata/escape/policies without a [program] table) with [program] user
// set to user, as "POL-as-USER", and returns that name.
func escNamedUserPolicy(t *testing.T, e *escapetest.Env, pol, user string) string {
	t.Helper()
	base := "version = 1\n"
	if pol != "default" {
		b, err := os.ReadFile(e.Policies[pol])
		if err != nil {
			t.Fatal(err)
		}
		base = string(b)
	}
	name := pol + "-as-" + user
	p := filepath.Join(e.Root, "policies", name+".toml")
	escapetest.WriteFile(t, p, base+fmt.Sprintf("\n[program]\nuser = %q\n", user), 0o644)
	e.Policies[name] = p
	return name
}
