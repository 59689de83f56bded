package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sockjail/sockjail/internal/users"
)

// The program named after `--` is always runnable, wherever it is: sockjail
// opens it (O_PATH) before the session starts, and when the program's user
// can't reach it by its path, because a directory on the way is closed to
// that user (a clone in /root, mode 0700) or because the session's private
// /tmp hides it (a clone in /tmp), the spawner executes it through
// /proc/self/fd instead (spawn_linux.c, sj_exec_path). Its #! interpreter
// and the ELF loader are executed by the kernel by their paths, as the
// program's user, so New checks that user can reach them and refuses with
// the directory, the user and the fix when it can't.
//
// What the check does not cover: POSIX ACLs and other LSMs (the kernel's
// execve has the last word, and its EACCES is reported as "not
// executable"), and a file replaced after New.

// identity is who the program runs as, for the permission checks.
type identity struct {
	uid, gid int
	groups   []uint32
	dynamic  bool // a uid allocated per session, in no group
	lo, hi   uint32
}

// programIdentity returns the identity the program runs with.
func (s *Sandbox) programIdentity() identity {
	c := s.creds
	id := identity{uid: c.uid, gid: c.gid, groups: c.groups}
	if !c.setGroups {
		// The program keeps sockjail's own supplementary groups.
		if gs, err := unix.Getgroups(); err == nil {
			id.groups = nil
			for _, g := range gs {
				id.groups = append(id.groups, uint32(g))
			}
		}
	}
	if s.dynamic {
		r := s.policy.Program.DynamicUIDs
		id = identity{dynamic: true, lo: r.Lo, hi: r.Hi}
	}
	return id
}

// String names the identity for an error message.
func (id identity) String() string {
	if id.dynamic {
		return fmt.Sprintf("the session's dynamic user (a uid from %d-%d, in no group)", id.lo, id.hi)
	}
	name := strconv.Itoa(id.uid)
	if u, err := users.LookupID(uint32(id.uid)); err == nil {
		name = u.Name
	}
	return fmt.Sprintf("user %s (uid %d, gid %d)", name, id.uid, id.gid)
}

// may reports whether id may access a file with st for want (a mask of
// 4 read, 2 write, 1 execute or search), as the kernel's DAC check does for
// a process without capabilities.
func (id identity) may(st *unix.Stat_t, want uint32) bool {
	mode := st.Mode & 0o777
	var bits uint32
	switch {
	case !id.dynamic && uint32(id.uid) == st.Uid:
		bits = mode >> 6
	case !id.dynamic && (uint32(id.gid) == st.Gid || slices.Contains(id.groups, st.Gid)):
		bits = mode >> 3
	default:
		bits = mode
	}
	return bits&want == want
}

// checkReachable checks that the program's user can run the program (its
// file's own permissions: the path does not matter, see above) and reach
// and run each #! interpreter and ELF loader by its path.
func (s *Sandbox) checkReachable() error {
	id := s.programIdentity()
	prog := s.exec[0]
	want, what := uint32(1), "execute"
	if _, _, s.progScript = readShebang(prog); s.progScript {
		// The interpreter reads the script as the program's user.
		want, what = 5, "read and execute"
	}
	var st unix.Stat_t
	if err := unix.Stat(prog, &st); err != nil {
		return &ProgramError{Kind: NotFound, Name: s.argv[0], Err: err}
	}
	if !id.may(&st, want) {
		return &ProgramError{Kind: NotExecutable, Name: s.argv[0], Err: fmt.Errorf(
			"%s may not %s %s (%s) (hint: chmod o+rx %s, or run it as another [program] user)",
			id, what, prog, describe(&st), prog)}
	}
	for _, interp := range s.exec[1:] {
		if dir, what, key := s.hiddenBy(interp); dir != "" {
			return &ProgramError{Kind: NotFound, Name: s.argv[0], Err: fmt.Errorf(
				"its interpreter %s is under %s, which the session's %s hides (hint: install the interpreter elsewhere, or set [filesystem] %s)", interp, dir, what, key)}
		}
		if dir, st, err := id.reach(interp); err != nil {
			return &ProgramError{Kind: NotFound, Name: s.argv[0], Err: fmt.Errorf("its interpreter: %w", err)}
		} else if dir != "" {
			return &ProgramError{Kind: NotExecutable, Name: s.argv[0], Err: fmt.Errorf(
				"its interpreter %s: %s can't enter %s (%s) (hint: chmod o+x %s, install the interpreter where that user can reach it, or set [program] user to one who can)",
				interp, id, dir, describe(st), dir)}
		} else if !id.may(st, 1) {
			return &ProgramError{Kind: NotExecutable, Name: s.argv[0], Err: fmt.Errorf(
				"its interpreter %s: %s may not execute it (%s) (hint: chmod o+x %s)", interp, id, describe(st), interp)}
		}
	}
	return nil
}

// hiddenBy returns the directory that a mount of the session covers path
// with, what that mount is and the policy key that turns it off; dir is ""
// when none does.
func (s *Sandbox) hiddenBy(path string) (dir, what, key string) {
	type cover struct{ dir, what, key string }
	var covers []cover
	for _, d := range s.tmpMounts {
		covers = append(covers, cover{d, "private /tmp", "private_tmp = false"})
	}
	if s.shmOpts != "" {
		covers = append(covers, cover{"/dev/shm", "private /dev/shm", "shm_size = 0"})
	}
	if s.procMount {
		covers = append(covers, cover{"/proc", "fresh /proc", "proc = false"})
	}
	for _, c := range covers {
		if strings.HasPrefix(path, c.dir+"/") {
			return c.dir, c.what, c.key
		}
	}
	return "", "", ""
}

// reach walks path's directories as id and returns the first one id can't
// search, with its stat, or "" and the stat of path itself. It returns an
// error when a stat fails.
func (id identity) reach(path string) (dir string, st *unix.Stat_t, err error) {
	st = new(unix.Stat_t)
	d := "/"
	for _, part := range strings.Split(filepath.Dir(path), "/") {
		d = filepath.Join(d, part)
		if err := unix.Stat(d, st); err != nil {
			return "", nil, &os.PathError{Op: "stat", Path: d, Err: err}
		}
		if !id.may(st, 1) {
			return d, st, nil
		}
	}
	if err := unix.Stat(path, st); err != nil {
		return "", nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return "", st, nil
}

// selfIdentity is sockjail's own identity, without its capabilities.
func selfIdentity() identity {
	id := identity{uid: os.Geteuid(), gid: os.Getegid()}
	if gs, err := unix.Getgroups(); err == nil {
		for _, g := range gs {
			id.groups = append(id.groups, uint32(g))
		}
	}
	return id
}

// explainDenied turns sockjail's own EACCES on path into the directory it
// can't enter, when there is one: sockjail runs unprivileged, and the
// program lies where its user can't go.
func explainDenied(path string, err error) error {
	if os.Geteuid() == 0 {
		return err
	}
	id := selfIdentity()
	if dir, st, serr := id.reach(path); serr == nil && dir != "" {
		return fmt.Errorf("sockjail runs as %s, who can't enter %s (%s) (hint: put the program where that user can reach it, or start sockjail as root)", id, dir, describe(st))
	}
	return err
}

// describe gives a file's mode and owner as ls would show them.
func describe(st *unix.Stat_t) string {
	owner, group := strconv.Itoa(int(st.Uid)), strconv.Itoa(int(st.Gid))
	if u, err := users.LookupID(st.Uid); err == nil {
		owner = u.Name
	}
	return fmt.Sprintf("mode %04o, owner %s, group %s", st.Mode&0o7777, owner, group)
}
