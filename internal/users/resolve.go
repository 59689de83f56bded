package users

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// This file is the one resolver of the names a policy's [program] user
// and group hold; the policy's host check and the sandbox both use it, so
// that a name means the same in `sockjail check` as when the program runs.
//
// Its answer for each edge case:
//   - a numeric uid or gid (digits only; leading zeros allowed) is taken
//     as it is: an id without an entry is a valid id (a uid's gid is then
//     the uid);
//   - 4294967295 is (uid_t)-1 (or (gid_t)-1), which the kernel's
//     set*id calls take as "unchanged": refused;
//   - digits beyond 32 bits are refused, not looked up as a name (getent
//     would wrap 4294967296 around to root);
//   - a numeric uid with an entry takes the entry's gid and groups;
//   - a name starting with "-" or "+" is refused: getent would read it as
//     an option, and "+" marks NIS compat lines;
//   - anything else is a name, looked up (ErrUnknown when no database
//     has it).

// noID is (uid_t)-1 and (gid_t)-1.
const noID = 1<<32 - 1

// parseID reports whether s is a numeric id, and refuses the ids and names
// above.
func parseID(s, what, noun string) (id uint32, numeric bool, err error) {
	if s == "" || s[0] == '-' || s[0] == '+' {
		return 0, false, fmt.Errorf("%q is not a %s name", s, noun)
	}
	if strings.Trim(s, "0123456789") != "" {
		return 0, false, nil
	}
	n, perr := strconv.ParseUint(s, 10, 32)
	if perr != nil {
		return 0, true, fmt.Errorf("%s %s is larger than %d", what, s, noID-1)
	}
	if n == noID {
		return 0, true, fmt.Errorf("%s %d is (%s_t)-1, not a %s", what, n, what, noun)
	}
	return uint32(n), true, nil
}

// ResolveUser resolves a user name or a numeric uid.
func ResolveUser(s string) (User, error) {
	uid, numeric, err := parseID(s, "uid", "user")
	if err != nil {
		return User{}, err
	}
	if !numeric {
		return Lookup(s)
	}
	u, err := LookupID(uid)
	if errors.Is(err, ErrUnknown) {
		return User{Name: s, UID: uid, GID: uid}, nil
	}
	return u, err
}

// ResolveGroup resolves a group name or a numeric gid.
func ResolveGroup(s string) (uint32, error) {
	gid, numeric, err := parseID(s, "gid", "group")
	if err != nil || numeric {
		return gid, err
	}
	return LookupGroup(s)
}

// Host answers a policy's host check (policy.Policy.CheckHost) from this
// machine's user and group databases.
type Host struct{}

// LookupUser reports whether s names a user here. A numeric uid is not
// looked up: every uid is a valid one.
func (Host) LookupUser(s string) (bool, error) {
	if _, numeric, err := parseID(s, "uid", "user"); numeric || err != nil {
		return err == nil, err
	}
	return found(Lookup(s))
}

// LookupGroup reports whether s names a group here.
func (Host) LookupGroup(s string) (bool, error) {
	if _, numeric, err := parseID(s, "gid", "group"); numeric || err != nil {
		return err == nil, err
	}
	_, err := LookupGroup(s)
	return found(User{}, err)
}

// LocalUserIn returns a user of PasswdFile whose uid is in lo..hi (name
// "" when there is none), and the file's name.
func (Host) LocalUserIn(lo, hi uint32) (name string, uid uint32, file string, err error) {
	err = EachLocalUser(func(u User) bool {
		if lo <= u.UID && u.UID <= hi {
			name, uid = u.Name, u.UID
			return false
		}
		return true
	})
	return name, uid, PasswdFile, err
}

func found(_ User, err error) (bool, error) {
	if errors.Is(err, ErrUnknown) {
		return false, nil
	}
	return err == nil, err
}
