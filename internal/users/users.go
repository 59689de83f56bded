// Package users looks up users and groups: in /etc/passwd and /etc/group
// first, and through NSS, by running getent(1), for what those files do
// not have (LDAP, sssd, systemd's userdb).
//
// sockjail does not call NSS in-process: its binary is linked statically
// for start-up speed (docs/design.md, "Performance"), and a static binary
// that loads NSS modules needs exactly the glibc it was built with. getent
// is the system's own, dynamically linked tool, so it always matches. Most
// services run as users from the files (nobody, a system user), which
// costs one read of a small file and no process.
//
// Supplementary groups come from /etc/group for a user found in
// /etc/passwd, and from `getent initgroups` for one found through NSS; a
// local user's membership in a network-only group is not seen, which
// gives the program fewer groups, never more.
package users

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The files read before NSS. Tests point them elsewhere.
var (
	PasswdFile = "/etc/passwd"
	GroupFile  = "/etc/group"
)

// getentTimeout bounds one NSS lookup: a network directory that does not
// answer must not hold a connection forever.
const getentTimeout = 10 * time.Second

// ErrUnknown is wrapped by the errors for a name or id that no database
// has.
var ErrUnknown = errors.New("no such entry")

// User is one entry of the user database.
type User struct {
	Name     string
	UID, GID uint32
	// FromNSS is set when the entry came from getent, not the files.
	FromNSS bool
}

// Lookup finds the user called name.
func Lookup(name string) (User, error) {
	return lookupUser(name, func(u User) bool { return u.Name == name })
}

// LookupID finds the user with uid.
func LookupID(uid uint32) (User, error) {
	return lookupUser(strconv.FormatUint(uint64(uid), 10), func(u User) bool { return u.UID == uid })
}

func lookupUser(key string, match func(User) bool) (User, error) {
	var found User
	ok := false
	err := EachLocalUser(func(u User) bool {
		if match(u) {
			found, ok = u, true
		}
		return !ok
	})
	if ok {
		return found, nil
	}
	line, nssErr := getent("passwd", key)
	if nssErr == nil {
		if u, good := parsePasswdLine(line); good && match(u) {
			u.FromNSS = true
			return u, nil
		}
		nssErr = fmt.Errorf("getent passwd %s: unexpected answer %q", key, line)
	}
	return User{}, lookupError("user", key, err, nssErr)
}

// LookupGroup finds the gid of the group called name.
func LookupGroup(name string) (uint32, error) {
	gid, ok, err := scanGroups(func(gname string, gid uint32, _ []string) bool { return gname == name })
	if ok {
		return gid, nil
	}
	line, nssErr := getent("group", name)
	if nssErr == nil {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[0] == name {
			if n, perr := strconv.ParseUint(f[2], 10, 32); perr == nil {
				return uint32(n), nil
			}
		}
		nssErr = fmt.Errorf("getent group %s: unexpected answer %q", name, line)
	}
	return 0, lookupError("group", name, err, nssErr)
}

// SupplementaryGroups returns the gids of the groups u is a member of,
// besides its primary group.
func SupplementaryGroups(u User) ([]uint32, error) {
	var out []uint32
	add := func(gid uint32) {
		if gid != u.GID && !slices.Contains(out, gid) {
			out = append(out, gid)
		}
	}
	if u.FromNSS {
		line, err := getent("initgroups", u.Name)
		if err != nil {
			return nil, err
		}
		// "name  gid gid ..."
		for _, f := range strings.Fields(line)[1:] {
			if n, err := strconv.ParseUint(f, 10, 32); err == nil {
				add(uint32(n))
			}
		}
		return out, nil
	}
	_, _, err := scanGroups(func(_ string, gid uint32, members []string) bool {
		if slices.Contains(members, u.Name) {
			add(gid)
		}
		return false
	})
	return out, err
}

// EachLocalUser calls fn for each entry of PasswdFile until it returns
// false. Malformed lines and NIS compat lines ("+", "-") are skipped.
func EachLocalUser(fn func(User) bool) error {
	return eachLine(PasswdFile, func(line string) bool {
		u, ok := parsePasswdLine(line)
		return !ok || fn(u)
	})
}

// scanGroups scans GroupFile until match returns true, and returns that
// group's gid.
func scanGroups(match func(name string, gid uint32, members []string) bool) (gid uint32, found bool, err error) {
	err = eachLine(GroupFile, func(line string) bool {
		f := strings.Split(line, ":")
		if len(f) < 4 || isCompat(f[0]) {
			return true
		}
		n, perr := strconv.ParseUint(f[2], 10, 32)
		if perr != nil {
			return true
		}
		var members []string
		if f[3] != "" {
			members = strings.Split(f[3], ",")
		}
		if match(f[0], uint32(n), members) {
			gid, found = uint32(n), true
			return false
		}
		return true
	})
	return gid, found, err
}

func parsePasswdLine(line string) (User, bool) {
	f := strings.Split(line, ":")
	if len(f) < 4 || isCompat(f[0]) {
		return User{}, false
	}
	uid, err1 := strconv.ParseUint(f[2], 10, 32)
	gid, err2 := strconv.ParseUint(f[3], 10, 32)
	if err1 != nil || err2 != nil {
		return User{}, false
	}
	return User{Name: f[0], UID: uint32(uid), GID: uint32(gid)}, true
}

func isCompat(name string) bool {
	return name == "" || name[0] == '+' || name[0] == '-'
}

// eachLine calls fn for each non-comment line of path until it returns
// false.
func eachLine(path string, fn func(string) bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if !fn(line) {
			return nil
		}
	}
	return sc.Err()
}

// getent asks NSS for key in database, and returns the first line of the
// answer. Exit status 2 means "not found" (getent(1)).
func getent(database, key string) (string, error) {
	path, err := exec.LookPath("getent")
	if err != nil {
		return "", fmt.Errorf("getent not found to ask NSS: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), getentTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, database, key)
	cmd.Env = []string{"LC_ALL=C"}
	out, err := cmd.Output()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.ExitCode() == 2:
		return "", fmt.Errorf("%w in NSS (getent %s)", ErrUnknown, database)
	case ctx.Err() != nil:
		return "", fmt.Errorf("getent %s %s: no answer within %s", database, key, getentTimeout)
	case err != nil:
		return "", fmt.Errorf("getent %s %s: %w", database, key, err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return line, nil
}

// lookupError says why neither the files nor NSS had an entry for key.
// It wraps ErrUnknown only when both were asked and answered "none".
func lookupError(what, key string, filesErr, nssErr error) error {
	switch {
	case filesErr != nil:
		return fmt.Errorf("%s %q: can't read the local file (%v), and %v", what, key, filesErr, nssErr)
	case errors.Is(nssErr, ErrUnknown):
		return fmt.Errorf("%w: %s %q", ErrUnknown, what, key)
	default:
		return fmt.Errorf("%s %q is not in the local file, and NSS could not be asked: %v", what, key, nssErr)
	}
}
