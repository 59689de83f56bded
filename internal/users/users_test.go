package users

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// useFiles points the package at a passwd and a group file for one test.
func useFiles(t *testing.T, passwd, group string) {
	t.Helper()
	dir := t.TempDir()
	p, g := filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	if err := os.WriteFile(p, []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(g, []byte(group), 0o644); err != nil {
		t.Fatal(err)
	}
	oldP, oldG := PasswdFile, GroupFile
	PasswdFile, GroupFile = p, g
	t.Cleanup(func() { PasswdFile, GroupFile = oldP, oldG })
}

const testPasswd = `# a comment
alice:x:1000:1000:Alice:/home/alice:/bin/sh

+nis-compat
broken:x:notanumber:1:::
svc:x:998:997::/var/lib/svc:/usr/sbin/nologin
`

const testGroup = `alice:x:1000:
svc:x:997:
audio:x:29:alice,svc
video:x:44:svc
-compat:x:45:alice
bad:x:xx:alice
`

func TestLocalLookups(t *testing.T) {
	useFiles(t, testPasswd, testGroup)
	for _, c := range []struct {
		name     string
		uid, gid uint32
		groups   []uint32
	}{
		{"alice", 1000, 1000, []uint32{29}},
		{"svc", 998, 997, []uint32{29, 44}},
	} {
		u, err := Lookup(c.name)
		if err != nil || u.UID != c.uid || u.GID != c.gid || u.FromNSS {
			t.Errorf("Lookup(%q) = %+v, %v", c.name, u, err)
			continue
		}
		byID, err := LookupID(c.uid)
		if err != nil || byID != u {
			t.Errorf("LookupID(%d) = %+v, %v; want %+v", c.uid, byID, err, u)
		}
		groups, err := SupplementaryGroups(u)
		if err != nil || !slices.Equal(groups, c.groups) {
			t.Errorf("SupplementaryGroups(%q) = %v, %v; want %v", c.name, groups, err, c.groups)
		}
	}
	if gid, err := LookupGroup("video"); err != nil || gid != 44 {
		t.Errorf("LookupGroup(video) = %d, %v", gid, err)
	}
}

// TestNSSFallback asks for names that the test's files lack and the
// machine's database has (through the real getent), and for names that
// nobody has.
func TestNSSFallback(t *testing.T) {
	useFiles(t, testPasswd, testGroup)
	u, err := Lookup("root")
	if err != nil || u.UID != 0 || u.GID != 0 || !u.FromNSS {
		t.Fatalf("Lookup(root) through getent = %+v, %v", u, err)
	}
	if u, err := LookupID(0); err != nil || u.Name != "root" {
		t.Errorf("LookupID(0) through getent = %+v, %v", u, err)
	}
	if _, err := SupplementaryGroups(u); err != nil {
		t.Errorf("SupplementaryGroups(root) through getent: %v", err)
	}
	if gid, err := LookupGroup("root"); err != nil || gid != 0 {
		t.Errorf("LookupGroup(root) through getent = %d, %v", gid, err)
	}
	for _, name := range []string{"no-such-user-sj", "nis-compat", "+nis-compat", "broken"} {
		if _, err := Lookup(name); !errors.Is(err, ErrUnknown) {
			t.Errorf("Lookup(%q) = %v, want ErrUnknown", name, err)
		}
	}
	if _, err := LookupGroup("no-such-group-sj"); !errors.Is(err, ErrUnknown) {
		t.Errorf("LookupGroup = %v, want ErrUnknown", err)
	}
}

// TestNoGetent checks the error when the files lack a name and NSS can't
// be asked: it must not claim the user does not exist.
func TestNoGetent(t *testing.T) {
	useFiles(t, testPasswd, testGroup)
	t.Setenv("PATH", t.TempDir())
	_, err := Lookup("root")
	if err == nil || errors.Is(err, ErrUnknown) {
		t.Fatalf("Lookup without getent = %v, want an error that is not ErrUnknown", err)
	}
	if _, err := Lookup("alice"); err != nil {
		t.Errorf("a local user needs no getent: %v", err)
	}
}

func TestUnreadableFiles(t *testing.T) {
	old := PasswdFile
	PasswdFile = filepath.Join(t.TempDir(), "missing")
	defer func() { PasswdFile = old }()
	if err := EachLocalUser(func(User) bool { return true }); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("EachLocalUser on a missing file = %v", err)
	}
	// NSS still answers.
	if u, err := Lookup("root"); err != nil || u.UID != 0 {
		t.Errorf("Lookup(root) with no passwd file = %+v, %v", u, err)
	}
}
