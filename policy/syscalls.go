package policy

//go:generate go run ./internal/gen -o zsyscalls_amd64.go

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

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
	help    string
	members []string // syscall names and @groups
}

// LookupSyscall returns the x86-64 number of the syscall called name.
func LookupSyscall(name string) (nr int, ok bool) {
	nr, ok = syscallTable[name]
	return nr, ok
}

// SyscallNames returns every syscall name of the x86-64 table, sorted.
func SyscallNames() []string { return sortedKeys(syscallTable) }

// SyscallGroups returns the names of all syscall groups ("@basic-io", …),
// sorted.
func SyscallGroups() []string { return sortedKeys(syscallGroups) }

// GroupDescription returns a group's one-line description.
func GroupDescription(group string) (string, error) {
	g, ok := syscallGroups[group]
	if !ok {
		return "", unknownGroupError(group)
	}
	return g.help, nil
}

// GroupMembers returns the syscalls of group, with the groups it includes
// expanded, sorted and without duplicates.
func GroupMembers(group string) ([]string, error) {
	set := map[string]bool{}
	if err := expand(group, set); err != nil {
		return nil, err
	}
	return sortedKeys(set), nil
}

// GroupIncludes returns the groups group includes directly, sorted.
func GroupIncludes(group string) ([]string, error) {
	g, ok := syscallGroups[group]
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
func expand(name string, set map[string]bool) error {
	if !strings.HasPrefix(name, "@") {
		if _, ok := syscallTable[name]; !ok {
			return fmt.Errorf("unknown syscall %q on x86-64", name)
		}
		set[name] = true
		return nil
	}
	g, ok := syscallGroups[name]
	if !ok {
		return unknownGroupError(name)
	}
	for _, m := range g.members {
		if err := expand(m, set); err != nil {
			return err
		}
	}
	return nil
}

// checkSyscallName reports whether name is a known syscall or group.
func checkSyscallName(name string) error {
	if strings.HasPrefix(name, "@") {
		if _, ok := syscallGroups[name]; !ok {
			return unknownGroupError(name)
		}
		return nil
	}
	if _, ok := syscallTable[name]; !ok {
		return fmt.Errorf("unknown syscall %q: not in the x86-64 syscall table (groups start with @)", name)
	}
	return nil
}

// Resolve returns the syscalls the filter allows: everything allow names,
// minus everything deny names, plus [MandatorySyscalls], sorted by name.
// It fails only for a name that is not a syscall or group, which a parsed
// policy never holds.
func (s Syscalls) Resolve() ([]Syscall, error) {
	allow, deny := map[string]bool{}, map[string]bool{}
	for _, n := range s.Allow {
		if err := expand(n, allow); err != nil {
			return nil, err
		}
	}
	for _, n := range s.Deny {
		if err := expand(n, deny); err != nil {
			return nil, err
		}
	}
	for n := range deny {
		delete(allow, n)
	}
	for _, n := range MandatorySyscalls {
		allow[n] = true
	}
	out := make([]Syscall, 0, len(allow))
	for n := range allow {
		out = append(out, Syscall{Name: n, Nr: syscallTable[n]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ErrnoValue returns the errno of s.Errno; a parsed policy always has a
// valid one.
func (s Syscalls) ErrnoValue() unix.Errno {
	e, _ := LookupErrno(s.Errno)
	return e
}

// errnoNames maps the Linux errno names (EPERM, …) and the common aliases
// to their values.
// Built on first use: a policy that keeps the default errno needs no table.
var errnoNames = sync.OnceValue(func() map[string]unix.Errno {
	m := map[string]unix.Errno{}
	for e := unix.Errno(1); e < 512; e++ { // from 512 on, errnos are kernel-internal (linux/errno.h)
		if name := unix.ErrnoName(e); name != "" {
			m[name] = e
		}
	}
	m["EWOULDBLOCK"] = unix.EWOULDBLOCK
	m["EDEADLOCK"] = unix.EDEADLOCK
	m["ENOTSUP"] = unix.ENOTSUP
	return m
})

// LookupErrno returns the errno called name ("EPERM").
func LookupErrno(name string) (unix.Errno, bool) {
	e, ok := errnoNames()[name]
	return e, ok
}
