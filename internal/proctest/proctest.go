// Package proctest reads what tests need from /proc: processes, their
// parents, command lines, status fields and open files, and the kernel's
// table of TCP sockets. It is for tests only.
//
// A process may end between listing and reading: then its files read
// empty, and the readers report it as gone rather than failing. Nothing
// here follows a process across PID namespaces: pids are the ones this
// process's /proc shows.
package proctest

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PIDs returns the pid of every process.
func PIDs() []int {
	// Reading /proc can fail part way while processes come and go (the
	// entries read so far come back with the error): read it again.
	ents, err := os.ReadDir("/proc")
	for try := 0; err != nil && try < 10; try++ {
		ents, err = os.ReadDir("/proc")
	}
	var out []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// Stat returns a process's state letter ('Z' for a zombie) and parent pid
// from /proc/PID/stat; ok is false when it is gone.
func Stat(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// The command may hold spaces and parentheses: fields follow the
	// last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	fs := strings.Fields(s[i+1:])
	if len(fs) < 2 || len(fs[0]) != 1 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(fs[1])
	return fs[0][0], ppid, err == nil
}

// Alive reports whether pid exists and is not a zombie (a zombie runs
// nothing; its parent has yet to reap it).
func Alive(pid int) bool {
	state, _, ok := Stat(pid)
	return ok && state != 'Z'
}

// Cmdline returns a process's arguments (none when it is gone).
func Cmdline(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// Comm returns a process's command name ("" when it is gone).
func Comm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// Status returns the value of one field of /proc/PID/status ("VmRSS",
// "Uid", "NSpid"), spaces trimmed.
func Status(pid int, field string) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("/proc/%d/status has no %s field", pid, field)
}

// StatusKB returns a size field of /proc/PID/status ("VmRSS") in KiB.
func StatusKB(pid int, field string) (int, error) {
	v, err := Status(pid, field)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSuffix(v, " kB"))
}

// RealUID returns a process's real uid; ok is false when it is gone.
func RealUID(pid int) (uid int, ok bool) {
	v, err := Status(pid, "Uid")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(v)
	if len(f) == 0 {
		return 0, false
	}
	uid, err = strconv.Atoi(f[0])
	return uid, err == nil
}

// FDCount returns how many file descriptors a process holds.
func FDCount(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents), err
}

// ProcessesOf returns the live processes whose real uid is uid.
func ProcessesOf(uid int) []int {
	var pids []int
	for _, pid := range PIDs() {
		if u, ok := RealUID(pid); ok && u == uid && Alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// ProcessesWith returns the live processes one of whose arguments is
// token.
func ProcessesWith(token string) []int {
	var pids []int
	for _, pid := range PIDs() {
		if slices.Contains(Cmdline(pid), token) && Alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Descendants returns the pids of every process below pid.
func Descendants(pid int) []int {
	parent := map[int]int{}
	for _, p := range PIDs() {
		if _, pp, ok := Stat(p); ok {
			parent[p] = pp
		}
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// WaitNoDescendants waits until pid has no descendants left, and names
// those left when it gives up.
func WaitNoDescendants(t testing.TB, pid int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for len(Descendants(pid)) > 0 {
		if time.Now().After(deadline) {
			var cmds []string
			for _, p := range Descendants(pid) {
				cmds = append(cmds, fmt.Sprintf("%d %q", p, strings.Join(Cmdline(p), " ")))
			}
			t.Fatalf("processes left below pid %d: %v", pid, cmds)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TCPListenQueue looks up the IPv4 TCP socket listening on addr in
// /proc/net/tcp, without connecting to it (which would start a session).
// ok is false when nothing listens there; queued is the listener's accept
// queue (its rx_queue). IPv6 listeners (/proc/net/tcp6) are not covered.
func TCPListenQueue(addr netip.AddrPort) (queued int, ok bool, err error) {
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0, false, err
	}
	b := addr.Addr().As4()
	// /proc/net/tcp writes the address as a little-endian hex word.
	local := fmt.Sprintf("%02X%02X%02X%02X:%04X", b[3], b[2], b[1], b[0], addr.Port())
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		// sl local_address rem_address st tx_queue:rx_queue ...
		if len(f) < 5 || f[1] != local || f[3] != "0A" {
			continue
		}
		_, rx, _ := strings.Cut(f[4], ":")
		n, err := strconv.ParseInt(rx, 16, 64)
		if err != nil {
			return 0, true, fmt.Errorf("parsing /proc/net/tcp line %q: %w", line, err)
		}
		return int(n), true, nil
	}
	return 0, false, nil
}
