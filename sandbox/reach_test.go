package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/policy"
)

// reachUID owns the test's "home directory of another user": a uid of its
// own, in no passwd file.
const reachUID = 4242470

// reachTree makes the test's places for a program, each a directory
// holding hello.sh (#!/bin/sh), env.sh (#!/usr/bin/env sh) and echo (a
// copy of /bin/echo, an ELF with a loader), all mode 0755:
//   - "root-0700": a directory of root's, mode 0700, as /root is;
//   - "tmp": under /tmp, which the session's private /tmp covers;
//   - "tmp-0700": both;
//   - "home-0700": another user's home directory, mode 0700;
//   - "home-0700-nobody": the same, owned by the user the program runs as
//     when sockjail is nobody (owner is a uid, or -1 for root).
func reachTree(t *testing.T, places map[string]int) map[string]string {
	t.Helper()
	testenv.RequireRoot(t) // it writes under /run and gives directories away
	base, err := os.MkdirTemp("/run", "sockjail-reach-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(base) })
	tmpBase, err := os.MkdirTemp("/tmp", "sockjail-reach-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(tmpBase) })
	echo, err := os.ReadFile("/bin/echo")
	must(t, err)
	out := map[string]string{}
	for name, owner := range places {
		parent := base
		if strings.HasPrefix(name, "tmp") {
			parent = tmpBase
		}
		must(t, os.Chmod(parent, 0o755))
		dir := filepath.Join(parent, name)
		mode := os.FileMode(0o755)
		if strings.Contains(name, "0700") {
			mode = 0o700
		}
		must(t, os.Mkdir(dir, mode))
		must(t, os.Chmod(dir, mode))
		files := map[string][]byte{
			"hello.sh": []byte("#!/bin/sh\necho Hello World\n"),
			"env.sh":   []byte("#!/usr/bin/env sh\necho Hello World\n"),
			"echo":     echo,
		}
		for f, b := range files {
			must(t, os.WriteFile(filepath.Join(dir, f), b, 0o755))
			if owner >= 0 {
				must(t, os.Chown(filepath.Join(dir, f), owner, owner))
			}
		}
		if owner >= 0 {
			must(t, os.Chown(dir, owner, owner))
		}
		out[name] = dir
	}
	return out
}

// TestProgramReachable: the program named after `--` runs wherever it is,
// as the README promises, when sockjail runs as root and the program as
// nobody: in a 0700 directory of root's (a clone in /root), under /tmp
// (which the session's private /tmp covers), and in another user's 0700
// home directory. Scripts (direct and through env) and an ELF binary.
func TestProgramReachable(t *testing.T) {
	places := reachTree(t, map[string]int{"root-0700": -1, "tmp": -1, "tmp-0700": -1, "home-0700": reachUID})
	for place, dir := range places {
		for _, prog := range []string{"hello.sh", "env.sh", "echo"} {
			t.Run(place+"/"+prog, func(t *testing.T) {
				argv := []string{filepath.Join(dir, prog)}
				if prog == "echo" {
					argv = append(argv, "Hello", "World")
				}
				r := run(t, testPolicy(t, nil), Options{}, "", argv...)
				if r.stdout != "Hello World\n" || r.exit != (Exit{}) {
					t.Errorf("%v: stdout %q stderr %q exit %v", argv, r.stdout, r.stderr, r.exit)
				}
			})
		}
	}
}

// TestProgramReachableUnprivileged: sockjail started as a user (here
// nobody) runs a program in that user's own 0700 home directory and under
// /tmp, with a user namespace (whose private /tmp covers it) and without
// one (where Landlock denies the rest of /tmp).
func TestProgramReachableUnprivileged(t *testing.T) {
	places := reachTree(t, map[string]int{"home-0700-nobody": NobodyID, "tmp-0700": NobodyID})
	for place, dir := range places {
		for _, noUserNS := range []bool{false, true} {
			name := place + "/userns"
			if noUserNS {
				name = place + "/no-userns"
			}
			t.Run(name, func(t *testing.T) {
				res := runAsNobody(t, childJob{Argv: []string{filepath.Join(dir, "hello.sh")}, NoUserNS: noUserNS})
				if res.Err != "" || res.Stdout != "Hello World\n" || res.Exit != (Exit{}) {
					t.Errorf("stdout %q, exit %v, error %q", res.Stdout, res.Exit, res.Err)
				}
			})
		}
	}
}

// TestProgramUnreachable: where the program or its interpreter truly can't
// be reached by the user who must run it, New refuses with the file or
// directory in the way, the user and the fix.
func TestProgramUnreachable(t *testing.T) {
	testenv.RequireRoot(t)
	base, err := os.MkdirTemp("/run", "sockjail-unreach-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(base) })
	must(t, os.Chmod(base, 0o755))
	private := filepath.Join(base, "private")
	must(t, os.Mkdir(private, 0o700))
	must(t, os.Chmod(private, 0o700))
	echo, err := os.ReadFile("/bin/echo")
	must(t, err)
	must(t, os.WriteFile(filepath.Join(private, "interp"), echo, 0o755))
	tmpDir, err := os.MkdirTemp("/tmp", "sockjail-unreach-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(tmpDir) })
	must(t, os.Chmod(tmpDir, 0o755))
	must(t, os.WriteFile(filepath.Join(tmpDir, "interp"), echo, 0o755))
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(base, name)
		must(t, os.WriteFile(p, []byte(body), mode))
		must(t, os.Chmod(p, mode))
		return p
	}
	for _, tt := range []struct {
		name string
		prog string
		kind ProgramErrorKind
		want []string // in the message
	}{
		{"program mode 0700", write("own.sh", "#!/bin/sh\necho hi\n", 0o700), NotExecutable,
			[]string{"dynamic user (a uid from 400000-409999", "may not read and execute", filepath.Join(base, "own.sh"), "mode 0700, owner root", "chmod o+rx"}},
		{"interpreter in a 0700 directory", write("via-private.sh", "#!"+filepath.Join(private, "interp")+"\n", 0o755), NotExecutable,
			[]string{"dynamic user (a uid from 400000-409999", "can't enter " + private, "mode 0700, owner root", "chmod o+x " + private}},
		{"interpreter under the private /tmp", write("via-tmp.sh", "#!"+filepath.Join(tmpDir, "interp")+"\n", 0o755), NotFound,
			[]string{filepath.Join(tmpDir, "interp"), "under /tmp", "private /tmp hides", "install the interpreter elsewhere", "private_tmp = false"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(testPolicy(t, nil), []string{tt.prog}, Options{})
			if err == nil {
				s.Close()
			}
			var pe *ProgramError
			if !errors.As(err, &pe) || pe.Kind != tt.kind {
				t.Fatalf("New(%s) = %v, want a ProgramError of kind %d", tt.prog, err, tt.kind)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error %q does not say %q", err, w)
				}
			}
		})
	}
	// The interpreter under /tmp runs once no private /tmp covers it.
	p := testPolicy(t, func(p *policy.Policy) { p.Filesystem.PrivateTmp = false })
	if r := run(t, p, Options{}, "", filepath.Join(base, "via-tmp.sh"), "x"); !strings.Contains(r.stdout, "via-tmp.sh x") {
		t.Errorf("with private_tmp = false: %v, stdout %q, stderr %q", r.exit, r.stdout, r.stderr)
	}
}

// TestProgramUnreachableBySockjail: sockjail started as a user who can't
// reach the program itself says which directory is in the way.
func TestProgramUnreachableBySockjail(t *testing.T) {
	places := reachTree(t, map[string]int{"root-0700": -1})
	res := runAsNobody(t, childJob{Argv: []string{filepath.Join(places["root-0700"], "hello.sh")}})
	for _, w := range []string{"sockjail runs as user nobody", "can't enter " + places["root-0700"], "mode 0700, owner root", "start sockjail as root"} {
		if !strings.Contains(res.Err, w) {
			t.Errorf("the error %q does not say %q", res.Err, w)
		}
	}
}
