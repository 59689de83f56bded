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
	"strconv"
	"syscall"
	"testing"

	"github.com/sockjail/sockjail/internal/escapetest"
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
