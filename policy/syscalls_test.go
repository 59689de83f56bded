package policy

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSyscallTable checks the generated table against x/sys's constants,
// including syscalls newer than libseccomp 2.5.4.
func TestSyscallTable(t *testing.T) {
	want := map[string]int{
		"read": unix.SYS_READ, "write": unix.SYS_WRITE, "openat": unix.SYS_OPENAT,
		"execve": unix.SYS_EXECVE, "exit_group": unix.SYS_EXIT_GROUP, "rt_sigreturn": unix.SYS_RT_SIGRETURN,
		"clone3": unix.SYS_CLONE3, "io_uring_setup": unix.SYS_IO_URING_SETUP,
		"landlock_create_ruleset": unix.SYS_LANDLOCK_CREATE_RULESET,
		"mseal":                   unix.SYS_MSEAL, "listmount": unix.SYS_LISTMOUNT, "statmount": unix.SYS_STATMOUNT,
		"lsm_get_self_attr": unix.SYS_LSM_GET_SELF_ATTR, "lsm_list_modules": unix.SYS_LSM_LIST_MODULES,
		"setxattrat": unix.SYS_SETXATTRAT, "getxattrat": unix.SYS_GETXATTRAT,
		"listxattrat": unix.SYS_LISTXATTRAT, "removexattrat": unix.SYS_REMOVEXATTRAT,
		"open_tree_attr": unix.SYS_OPEN_TREE_ATTR, "file_getattr": unix.SYS_FILE_GETATTR,
		"file_setattr": unix.SYS_FILE_SETATTR, "map_shadow_stack": unix.SYS_MAP_SHADOW_STACK,
	}
	for name, nr := range want {
		got, ok := LookupSyscall(name)
		if !ok || got != nr {
			t.Errorf("LookupSyscall(%q) = %d, %v; want %d", name, got, ok, nr)
		}
	}
	for _, name := range []string{"mmap2", "socketcall", "", "@basic-io", "READ"} {
		if nr, ok := LookupSyscall(name); ok {
			t.Errorf("LookupSyscall(%q) = %d, want not found", name, nr)
		}
	}
	names := SyscallNames()
	if len(names) < 360 || !sort.StringsAreSorted(names) {
		t.Errorf("SyscallNames: %d names, sorted %v", len(names), sort.StringsAreSorted(names))
	}
	seen := map[int]string{}
	for _, n := range names {
		nr, _ := LookupSyscall(n)
		if other, dup := seen[nr]; dup {
			t.Errorf("%s and %s share number %d", n, other, nr)
		}
		seen[nr] = n
	}
}

// TestSyscallGroups checks that every group the issue names exists, that
// memberships follow systemd, and that every member is an x86-64 syscall.
func TestSyscallGroups(t *testing.T) {
	for _, g := range []string{"@system-service", "@basic-io", "@file-system", "@io-event", "@ipc", "@network-io", "@process", "@signal", "@timer", "@privileged", "@mount", "@module", "@reboot", "@swap", "@raw-io", "@clock", "@debug", "@obsolete", "@cpu-emulation", "@resources", "@sync", "@chown", "@setuid", "@aio", "@keyring", "@memlock", "@pkey", "@sandbox", "@default"} {
		if _, err := GroupMembers(g); err != nil {
			t.Errorf("%s: %v", g, err)
		}
		if d, err := GroupDescription(g); err != nil || d == "" {
			t.Errorf("%s has no description", g)
		}
	}
	tests := []struct {
		group       string
		has, hasNot []string
	}{
		{"@system-service", []string{"read", "execve", "openat", "socket", "clone3", "io_uring_setup", "chown", "setuid", "ioctl", "mseal"}, []string{"mount", "reboot", "ptrace", "init_module", "bpf", "landlock_create_ruleset", "swapon", "iopl"}},
		{"@privileged", []string{"chown", "settimeofday", "init_module", "iopl", "reboot", "swapon", "bpf", "setuid", "capset"}, []string{"read", "setgid"}},
		{"@default", []string{"execve", "exit", "exit_group", "rt_sigreturn", "futex", "futex_waitv", "mseal", "map_shadow_stack"}, []string{"read"}},
		{"@mount", []string{"mount", "umount2", "open_tree", "open_tree_attr", "statmount", "listmount", "mount_setattr"}, nil},
		{"@file-system", []string{"openat", "statx", "setxattrat", "file_getattr", "cachestat"}, []string{"mount"}},
		{"@sandbox", []string{"landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "seccomp"}, nil},
		{"@network-io", []string{"socket", "connect", "accept4", "sendmsg"}, []string{"socketcall"}},
		{"@aio", []string{"io_setup", "io_uring_enter"}, nil},
	}
	for _, tt := range tests {
		m, err := GroupMembers(tt.group)
		if err != nil {
			t.Fatal(err)
		}
		if !sort.StringsAreSorted(m) || len(slices.Compact(slices.Clone(m))) != len(m) {
			t.Errorf("%s: members not sorted and unique", tt.group)
		}
		for _, s := range tt.has {
			if !slices.Contains(m, s) {
				t.Errorf("%s lacks %s", tt.group, s)
			}
		}
		for _, s := range tt.hasNot {
			if slices.Contains(m, s) {
				t.Errorf("%s has %s", tt.group, s)
			}
		}
	}
	for _, g := range SyscallGroups() {
		m, _ := GroupMembers(g)
		if len(m) == 0 {
			t.Errorf("%s is empty", g)
		}
		for _, s := range m {
			if _, ok := LookupSyscall(s); !ok {
				t.Errorf("%s holds %s, not an x86-64 syscall", g, s)
			}
		}
	}
	if _, err := GroupMembers("@nope"); err == nil {
		t.Errorf("GroupMembers(@nope) succeeded")
	}
	if inc, _ := GroupIncludes("@system-service"); !slices.Contains(inc, "@default") || !slices.Contains(inc, "@file-system") {
		t.Errorf("@system-service includes %v", inc)
	}
}

// TestResolve checks allow minus deny plus the mandatory set.
func TestResolve(t *testing.T) {
	names := func(s []Syscall) []string {
		out := make([]string, len(s))
		for i, c := range s {
			out[i] = c.Name
			if nr, _ := LookupSyscall(c.Name); nr != c.Nr {
				t.Errorf("%s has Nr %d, want %d", c.Name, c.Nr, nr)
			}
		}
		return out
	}
	def, err := Default().Syscalls.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	got := names(def)
	if !sort.StringsAreSorted(got) {
		t.Errorf("not sorted by name")
	}
	for _, s := range []string{"read", "write", "openat", "execve", "clone", "clone3", "wait4", "socket", "mmap", "rt_sigaction", "getrandom", "ioctl", "pipe2", "epoll_wait"} {
		if !slices.Contains(got, s) {
			t.Errorf("default policy denies %s, which bash, python3 or a static C program needs", s)
		}
	}
	for _, s := range []string{"unshare", "setns", "io_uring_setup", "io_uring_enter", "io_uring_register", "mount", "ptrace", "bpf", "init_module", "reboot", "keyctl", "add_key", "chown", "setuid", "setgid", "capset", "userfaultfd", "process_vm_readv", "perf_event_open", "landlock_create_ruleset"} {
		if slices.Contains(got, s) {
			t.Errorf("default policy allows %s", s)
		}
	}

	tests := []struct {
		allow, deny []string
		want        []string
	}{
		{nil, nil, []string{"execve", "exit", "exit_group", "rt_sigreturn"}},
		{[]string{"read", "write"}, nil, []string{"execve", "exit", "exit_group", "read", "rt_sigreturn", "write"}},
		{[]string{"@basic-io"}, []string{"@basic-io"}, []string{"execve", "exit", "exit_group", "rt_sigreturn"}},
		{[]string{"@sync", "read"}, []string{"sync", "fsync"}, []string{"execve", "exit", "exit_group", "fdatasync", "msync", "read", "rt_sigreturn", "sync_file_range", "syncfs"}},
	}
	for _, tt := range tests {
		r, err := Syscalls{Allow: tt.allow, Deny: tt.deny}.Resolve()
		if err != nil {
			t.Fatal(err)
		}
		if got := names(r); !slices.Equal(got, tt.want) {
			t.Errorf("allow %v deny %v = %v, want %v", tt.allow, tt.deny, got, tt.want)
		}
	}
	if _, err := (Syscalls{Allow: []string{"bogus"}}).Resolve(); err == nil {
		t.Errorf("Resolve accepted an unknown name")
	}
}

// TestErrno checks errno names, aliases included.
func TestErrno(t *testing.T) {
	for name, want := range map[string]unix.Errno{"EPERM": unix.EPERM, "ENOSYS": unix.ENOSYS, "EACCES": unix.EACCES, "EWOULDBLOCK": unix.EAGAIN, "ENOTSUP": unix.EOPNOTSUPP, "EHWPOISON": unix.EHWPOISON} {
		if got, ok := LookupErrno(name); !ok || got != want {
			t.Errorf("LookupErrno(%s) = %v, %v", name, got, ok)
		}
	}
	for _, name := range []string{"", "eperm", "EPERMX", "1"} {
		if _, ok := LookupErrno(name); ok {
			t.Errorf("LookupErrno(%q) succeeded", name)
		}
	}
	if Default().Syscalls.ErrnoValue() != unix.EPERM {
		t.Errorf("default errno is not EPERM")
	}
}

// TestSyscallTableSorted checks what lookups by binary search and
// Resolve's walk in table order rely on: names strictly sorted, every
// mandatory syscall present.
func TestSyscallTableSorted(t *testing.T) {
	for i := 1; i < len(syscallTable); i++ {
		if syscallTable[i-1].Name >= syscallTable[i].Name {
			t.Fatalf("syscallTable is not strictly sorted at %q, %q", syscallTable[i-1].Name, syscallTable[i].Name)
		}
	}
	for _, name := range MandatorySyscalls {
		if _, ok := syscallIndex(name); !ok {
			t.Errorf("mandatory syscall %q is not in the table", name)
		}
	}
}

// TestSyscallGroupsSorted: lookupSyscallGroup searches by binary search.
func TestSyscallGroupsSorted(t *testing.T) {
	for i := 1; i < len(syscallGroups); i++ {
		if syscallGroups[i-1].name >= syscallGroups[i].name {
			t.Fatalf("syscallGroups is not strictly sorted at %q, %q", syscallGroups[i-1].name, syscallGroups[i].name)
		}
	}
	for _, g := range syscallGroups {
		if found, ok := lookupSyscallGroup(g.name); !ok || found.name != g.name {
			t.Errorf("lookupSyscallGroup(%q) = %v, %v", g.name, found, ok)
		}
	}
}

// TestGroupPositions checks the generated positions against the names
// they repeat: Resolve uses the positions, the docs the names.
func TestGroupPositions(t *testing.T) {
	for _, g := range syscallGroups {
		var calls, includes []string
		for _, i := range g.calls {
			calls = append(calls, syscallTable[i].Name)
		}
		for _, i := range g.includes {
			includes = append(includes, syscallGroups[i].name)
		}
		var wantCalls, wantIncludes []string
		for _, m := range g.members {
			if strings.HasPrefix(m, "@") {
				wantIncludes = append(wantIncludes, m)
			} else {
				wantCalls = append(wantCalls, m)
			}
		}
		if !slices.Equal(calls, wantCalls) || !slices.Equal(includes, wantIncludes) {
			t.Errorf("%s: positions name %v and %v, members are %v and %v", g.name, calls, includes, wantCalls, wantIncludes)
		}
	}
}
