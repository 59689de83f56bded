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
