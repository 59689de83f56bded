// Package learn watches a program serve real sessions and writes the
// narrowest policy that lets it do what it was seen doing.
//
// It has two halves that meet in [Observations]: the observer, which runs a
// session and records each access the policy controls (files, devices, TCP
// ports, unix sockets, syscalls), and the writer, which turns what was
// recorded into a policy file that explains itself.
//
// A learning session is a tracing session, not a sandbox: what the program
// does is recorded and allowed, not denied.
package learn

import "maps"

// Access is a set of ways a path was used.
type Access uint16

// The ways a path can be used. They map to the policy's lists: Read and
// List to read_only, Write, Create and Remove to read_write, Exec to exec,
// and Device to devices.
const (
	Read   Access = 1 << iota // opened for reading (or stat'd through open)
	Write                     // opened for writing, truncated
	Create                    // created: a file, a directory, a node, a link
	Remove                    // unlinked, renamed away, rmdir'd
	Exec                      // executed: the program, a #! interpreter, the ELF loader, a mapped library
	List                      // a directory whose entries were read
	Device                    // a character or block device opened
)

// Observations is what one or more learning sessions saw. The zero value
// is empty and ready to use; Merge adds another's.
type Observations struct {
	// Sessions is how many sessions were observed.
	Sessions int
	// Paths maps each absolute, clean path to how it was used. A path
	// that didn't exist when used (a failed open) is not recorded.
	Paths map[string]Access
	// ConnectTCP and BindTCP map each TCP port to how many times it was
	// connected to or bound.
	ConnectTCP map[uint16]int
	BindTCP    map[uint16]int
	// Unix maps each unix socket path (or "@name" for an abstract one) to
	// how many times it was connected to or bound.
	Unix map[string]int
	// Syscalls maps each syscall's name, as libseccomp spells it, to how
	// many times it was made.
	Syscalls map[string]int
	// Dropped counts the paths and unix sockets not recorded because a
	// session used more distinct ones than the observer keeps
	// (MaxPaths): the policy won't cover them.
	Dropped int
}

// AddPath records that path was used as a.
func (o *Observations) AddPath(path string, a Access) {
	if o.Paths == nil {
		o.Paths = map[string]Access{}
	}
	o.Paths[path] |= a
}

// AddSyscall records one call of the syscall name.
func (o *Observations) AddSyscall(name string) { o.Syscalls = count(o.Syscalls, name, 1) }

// AddConnectTCP and AddBindTCP record one connect to or bind of a TCP port.
func (o *Observations) AddConnectTCP(port uint16) { o.ConnectTCP = count(o.ConnectTCP, port, 1) }
func (o *Observations) AddBindTCP(port uint16)    { o.BindTCP = count(o.BindTCP, port, 1) }

// AddUnix records one connect to or bind of a unix socket.
func (o *Observations) AddUnix(name string) { o.Unix = count(o.Unix, name, 1) }

// Merge adds what other saw to o.
func (o *Observations) Merge(other *Observations) {
	o.Sessions += other.Sessions
	o.Dropped += other.Dropped
	for p, a := range other.Paths {
		o.AddPath(p, a)
	}
	for k, n := range other.ConnectTCP {
		o.ConnectTCP = count(o.ConnectTCP, k, n)
	}
	for k, n := range other.BindTCP {
		o.BindTCP = count(o.BindTCP, k, n)
	}
	for k, n := range other.Unix {
		o.Unix = count(o.Unix, k, n)
	}
	for k, n := range other.Syscalls {
		o.Syscalls = count(o.Syscalls, k, n)
	}
}

// Clone returns a deep copy of o.
func (o *Observations) Clone() *Observations {
	return &Observations{
		Sessions:   o.Sessions,
		Dropped:    o.Dropped,
		Paths:      maps.Clone(o.Paths),
		ConnectTCP: maps.Clone(o.ConnectTCP),
		BindTCP:    maps.Clone(o.BindTCP),
		Unix:       maps.Clone(o.Unix),
		Syscalls:   maps.Clone(o.Syscalls),
	}
}

func count[K comparable](m map[K]int, k K, n int) map[K]int {
	if m == nil {
		m = map[K]int{}
	}
	m[k] += n
	return m
}
