package policy

//go:generate go run ./internal/gen -o zsyscalls_amd64.go

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// MandatorySyscalls are always allowed, whatever the policy says: the
// sandbox itself needs execve to start the program after the filter is
// loaded, and no program can end or return from a signal handler without
// the others. A deny that names one of them is an error.
var MandatorySyscalls = []string{"execve", "exit", "exit_group", "rt_sigreturn"}

func isMandatory(name string) bool { return slices.Contains(MandatorySyscalls, name) }

// Syscall is one syscall of the x86-64 table.
type Syscall struct {
	Name string
	Nr   int
}

// groupDef is a syscall group: a description and its direct members.
type groupDef struct {
	name     string // "@basic-io"
	help     string
	members  []string // syscall names and @groups
	calls    []uint16 // the syscall members' positions in syscallTable
	includes []uint8  // the @group members' positions in syscallGroups
}

// LookupSyscall returns the x86-64 number of the syscall called name.
func LookupSyscall(name string) (nr int, ok bool) {
	i, ok := syscallIndex(name)
	if !ok {
		return 0, false
	}
	return syscallTable[i].Nr, true
}

// syscallIndex returns the position of name in syscallTable.
func syscallIndex(name string) (int, bool) {
	return slices.BinarySearchFunc(syscallTable[:], name, func(s Syscall, name string) int { return strings.Compare(s.Name, name) })
}

// SyscallNames returns every syscall name of the x86-64 table, sorted.
func SyscallNames() []string {
	out := make([]string, len(syscallTable))
	for i, s := range syscallTable {
		out[i] = s.Name
	}
	return out
}

// syscallSet marks syscalls by their position in syscallTable.
type syscallSet [len(syscallTable)]bool

// SyscallGroups returns the names of all syscall groups ("@basic-io", …),
// sorted.
func SyscallGroups() []string {
	out := make([]string, len(syscallGroups))
	for i, g := range syscallGroups {
		out[i] = g.name
	}
	return out
}

// lookupSyscallGroup returns the group called name ("@basic-io").
func lookupSyscallGroup(name string) (*groupDef, bool) {
	i, ok := slices.BinarySearchFunc(syscallGroups[:], name, func(g groupDef, name string) int { return strings.Compare(g.name, name) })
	if !ok {
		return nil, false
	}
	return &syscallGroups[i], true
}

// GroupDescription returns a group's one-line description.
func GroupDescription(group string) (string, error) {
	g, ok := lookupSyscallGroup(group)
	if !ok {
		return "", unknownGroupError(group)
	}
	return g.help, nil
}

// GroupMembers returns the syscalls of group, with the groups it includes
// expanded, sorted and without duplicates.
func GroupMembers(group string) ([]string, error) {
	var set syscallSet
	if err := expand(group, &set); err != nil {
		return nil, err
	}
	var out []string
	for i, in := range set {
		if in {
			out = append(out, syscallTable[i].Name)
		}
	}
	return out, nil
}

// GroupIncludes returns the groups group includes directly, sorted.
func GroupIncludes(group string) ([]string, error) {
	g, ok := lookupSyscallGroup(group)
	if !ok {
		return nil, unknownGroupError(group)
	}
	var out []string
	for _, m := range g.members {
		if strings.HasPrefix(m, "@") {
			out = append(out, m)
		}
	}
	return out, nil
}

func unknownGroupError(group string) error {
	return fmt.Errorf("unknown syscall group %q: run 'sockjail policy syscalls' for the list", group)
}

// expand adds the syscalls that name (a syscall or an @group) stands for
// to set.
func expand(name string, set *syscallSet) error {
	if !strings.HasPrefix(name, "@") {
		i, ok := syscallIndex(name)
		if !ok {
			return fmt.Errorf("unknown syscall %q on x86-64", name)
		}
		set[i] = true
		return nil
	}
	g, ok := lookupSyscallGroup(name)
	if !ok {
		return unknownGroupError(name)
	}
	g.expand(set)
	return nil
}

// expand adds the group's syscalls to set, included groups' too.
func (g *groupDef) expand(set *syscallSet) {
	for _, i := range g.calls {
		set[i] = true
	}
	for _, i := range g.includes {
		syscallGroups[i].expand(set)
	}
}

// checkSyscallName reports whether name is a known syscall or group.
func checkSyscallName(name string) error {
	if strings.HasPrefix(name, "@") {
		if _, ok := lookupSyscallGroup(name); !ok {
			return unknownGroupError(name)
		}
		return nil
	}
	if _, ok := syscallIndex(name); !ok {
		return fmt.Errorf("unknown syscall %q: not in the x86-64 syscall table (groups start with @)", name)
	}
	return nil
}

// Resolve returns the syscalls the filter allows: everything allow names,
// minus everything deny names, plus [MandatorySyscalls], sorted by name.
// It fails only for a name that is not a syscall or group, which a parsed
// policy never holds.
func (s Syscalls) Resolve() ([]Syscall, error) {
	// Sets by table position: the table is sorted by name, so walking
	// the set gives the result sorted, with no maps and no sort.
	var allow, deny syscallSet
	for _, n := range s.Allow {
		if err := expand(n, &allow); err != nil {
			return nil, err
		}
	}
	for _, n := range s.Deny {
		if err := expand(n, &deny); err != nil {
			return nil, err
		}
	}
	for _, n := range MandatorySyscalls {
		i, _ := syscallIndex(n)
		deny[i] = false
		allow[i] = true
	}
	n := 0
	for i := range allow {
		if allow[i] && !deny[i] {
			n++
		}
	}
	out := make([]Syscall, 0, n)
	for i := range allow {
		if allow[i] && !deny[i] {
			out = append(out, syscallTable[i])
		}
	}
	return out, nil
}

// ErrnoValue returns the errno of s.Errno; a parsed policy always has a
// valid one.
func (s Syscalls) ErrnoValue() unix.Errno {
	e, _ := LookupErrno(s.Errno)
	return e
}

// LookupErrno returns the errno called name ("EPERM"). It searches the
// table by number rather than building a map: a policy names one errno,
// and `run` looks it up once per process.
func LookupErrno(name string) (unix.Errno, bool) {
	// Aliases of errnos that x/sys/unix names otherwise.
	switch name {
	case "":
		return 0, false
	case "EWOULDBLOCK":
		return unix.EWOULDBLOCK, true
	case "EDEADLOCK":
		return unix.EDEADLOCK, true
	case "ENOTSUP":
		return unix.ENOTSUP, true
	}
	for e := unix.Errno(1); e < 512; e++ { // from 512 on, errnos are kernel-internal (linux/errno.h)
		if unix.ErrnoName(e) == name {
			return e, true
		}
	}
	return 0, false
}
