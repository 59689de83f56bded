package users

import (
	"errors"
	"strings"
	"testing"
)

// TestResolve gives the one answer for each edge case of a [program] user
// or group, and checks that the host check agrees with the resolver.
func TestResolve(t *testing.T) {
	useFiles(t, testPasswd, testGroup)
	tests := []struct {
		group   bool // a group, else a user
		in      string
		id, gid uint32 // the uid and its gid, or the gid
		err     string // a substring; "unknown" for ErrUnknown
	}{
		{in: "alice", id: 1000, gid: 1000},
		{in: "998", id: 998, gid: 997},    // numeric with an entry: its gid
		{in: "4242", id: 4242, gid: 4242}, // numeric without one: gid = uid
		{in: "0", id: 0, gid: 0},          // root is a uid like another
		{in: "0998", id: 998, gid: 997},   // leading zeros: still a number
		{in: "4294967294", id: 4294967294, gid: 4294967294},
		{in: "4294967295", err: "(uid_t)-1"},   // refused, by every caller
		{in: "4294967296", err: "larger than"}, // getent would wrap it to root
		{in: "-1", err: "not a user name"},     // getent would take it for an option
		{in: "+nis", err: "not a user name"},   // a NIS compat line, not a user
		{in: "no-such-user-xyz", err: "unknown"},
		{group: true, in: "audio", id: 29},
		{group: true, in: "4242", id: 4242},
		{group: true, in: "4294967295", err: "(gid_t)-1"},
		{group: true, in: "no-such-group-xyz", err: "unknown"},
	}
	for _, tt := range tests {
		var id, gid uint32
		var err error
		var found bool
		var herr error
		if tt.group {
			id, err = ResolveGroup(tt.in)
			found, herr = Host{}.LookupGroup(tt.in)
		} else {
			var u User
			u, err = ResolveUser(tt.in)
			id, gid = u.UID, u.GID
			found, herr = Host{}.LookupUser(tt.in)
		}
		switch {
		case tt.err == "unknown":
			if !errors.Is(err, ErrUnknown) {
				t.Errorf("resolving %q: %d, %v; want ErrUnknown", tt.in, id, err)
			}
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("resolving %q: %d, %v; want an error with %q", tt.in, id, err, tt.err)
			}
		case err != nil || id != tt.id || gid != tt.gid:
			t.Errorf("resolving %q: %d/%d, %v; want %d/%d", tt.in, id, gid, err, tt.id, tt.gid)
		}
		if want := tt.err == ""; found != want || (herr != nil) != (tt.err != "" && tt.err != "unknown") {
			t.Errorf("the host check of %q: %v, %v; the resolver said %v", tt.in, found, herr, err)
		}
	}

	if name, uid, file, err := (Host{}).LocalUserIn(990, 999); err != nil || name != "svc" || uid != 998 || file != PasswdFile {
		t.Errorf("LocalUserIn(990, 999) = %q, %d, %q, %v; want svc 998", name, uid, file, err)
	}
	if name, _, _, err := (Host{}).LocalUserIn(5000, 6000); err != nil || name != "" {
		t.Errorf("LocalUserIn(5000, 6000) = %q, %v; want none", name, err)
	}
}
