package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// What the tests that look for processes read from /proc. A process may
// end between listing and reading: then its files read empty, and the
// helpers report it as gone.

// allPIDs returns the pid of every process.
func allPIDs() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// procStat returns a process's state letter ('Z' for a zombie) and parent
// pid; ok is false when it is gone.
func procStat(pid int) (state byte, ppid int, ok bool) {
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

// procCmdline returns a process's arguments (none when it is gone).
func procCmdline(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// procComm returns a process's command name ("" when it is gone).
func procComm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// descendants returns the pids of every process below pid.
func descendants(pid int) []int {
	parent := map[int]int{}
	for _, p := range allPIDs() {
		if _, pp, ok := procStat(p); ok {
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

// waitNoDescendants waits until pid has no descendants left, and names
// those left when it gives up.
func waitNoDescendants(t *testing.T, pid int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for len(descendants(pid)) > 0 {
		if time.Now().After(deadline) {
			var cmds []string
			for _, p := range descendants(pid) {
				cmds = append(cmds, fmt.Sprintf("%d %q", p, strings.Join(procCmdline(p), " ")))
			}
			t.Fatalf("processes left below pid %d: %v", pid, cmds)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
