package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockjail/sockjail/internal/users"
)

// TestCheckHost: Parse accepts users and groups this host lacks (a policy
// may be for another host), and CheckHost reports them at their
// positions, as Parse reports its own errors.
func TestCheckHost(t *testing.T) {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	group := filepath.Join(dir, "group")
	if err := os.WriteFile(passwd, []byte("root:x:0:0::/root:/bin/sh\nweird:x:500100:500100::/:/bin/false\nsvc:x:1234:1234::/:/bin/false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(group, []byte("root:x:0:\nsvc:x:1234:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	oldP, oldG := users.PasswdFile, users.GroupFile
	users.PasswdFile, users.GroupFile = passwd, group
	t.Cleanup(func() { users.PasswdFile, users.GroupFile = oldP, oldG })

	tests := []struct {
		name string
		in   string
		want []string // "line:column: message"; none when the host has it all
	}{
		{"no user", "[program]\nuser = \"\"\n", nil},
		{"user by name", "[program]\nuser = \"svc\"\ngroup = \"svc\"\n", nil},
		{"numeric ids", "[program]\nuser = \"4242\"\ngroup = \"4242\"\n", nil},
		{"dynamic", "[program]\nuser = \"dynamic\"\ndynamic_uids = \"400000-400010\"\n", nil},
		{"unknown user", "[program]\nuser = \"no-such-user-xyz\"\n", []string{`2:8: unknown user "no-such-user-xyz": write a user name from this machine, a numeric uid, or "dynamic"`}},
		{"unknown group", "[program]\ngroup = \"no-such-group-xyz\"\n", []string{`2:9: unknown group "no-such-group-xyz": write a group name from this machine or a numeric gid`}},
		{"uid -1", "[program]\nuser = \"4294967295\"\n", []string{`2:8: uid 4294967295 is (uid_t)-1, not a user`}},
		{"gid -1", "[program]\ngroup = \"4294967295\"\n", []string{`2:9: gid 4294967295 is (gid_t)-1, not a group`}},
		{"uid range passwd", "[program]\nuser = \"dynamic\"\ndynamic_uids = \"500000-500200\"\n", []string{`3:16: uid range 500000-500200 includes user "weird" (uid 500100) from ` + passwd}},
		{"both", "[program]\ngroup = \"nope-g\"\nuser = \"nope-u\"\n", []string{
			`2:9: unknown group "nope-g": write a group name from this machine or a numeric gid`,
			`3:8: unknown user "nope-u": write a user name from this machine, a numeric uid, or "dynamic"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("f.toml", []byte(tt.in))
			if err != nil {
				t.Fatalf("Parse read the host: %v", err)
			}
			err = p.CheckHost(users.Host{})
			var got []string
			if err != nil {
				var list ErrorList
				if !errors.As(err, &list) {
					t.Fatalf("error is %T, not ErrorList", err)
				}
				for _, e := range list {
					got = append(got, strings.TrimPrefix(e.Error(), "f.toml:"))
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
	// The embedded default names nothing of the host.
	if err := Default().CheckHost(users.Host{}); err != nil {
		t.Errorf("the default policy: %v", err)
	}
}
