package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// IdleResult is `sockjail serve`'s memory with many idle connections open.
//
// Memory is counted over sockjail's side: the serving process plus every
// process below it that is not the program (a per-connection sockjail
// process, such as the PID namespace's init forked from serve). PSS splits
// each shared page among the processes sharing it, so the sum of PSS over
// that set counts every page once however the fork shares it; page tables
// (VmPTE) are added because a fork copies them. The per-connection figure
// is the growth of that sum divided by the connections.
type IdleResult struct {
	Conns    int    `json:"conns"`    // connections open and answered "ready"
	Programs int    `json:"programs"` // idle programs running at the measurement
	Errors   int    `json:"errors"`
	FirstErr string `json:"first_error,omitempty"`
	// The serving process's own VmRSS before and after.
	ServeRSSBeforeKiB int64 `json:"serve_rss_before_kib"`
	ServeRSSAfterKiB  int64 `json:"serve_rss_after_kib"`
	// ServePerConnKiB is the serving process's VmRSS growth per
	// connection, its helpers left out.
	ServePerConnKiB float64 `json:"serve_rss_kib_per_conn"`
	HelpersBefore   int     `json:"helpers_before"`
	Helpers         int     `json:"helpers"`
	// Sums over serve and its helpers: PSS, USS (private pages) and page
	// tables, before and after.
	Before memSum `json:"before"`
	After  memSum `json:"after"`
	// PerConnKiB is ((PSS+PTE) after - (PSS+PTE) before) / Conns: the
	// headline figure.
	PerConnKiB float64 `json:"kib_per_conn"`
	// ProgramPssKiB is one idle program's own PSS, for scale.
	ProgramPssKiB float64 `json:"program_pss_kib_each"`
}

// memSum adds up the memory of a set of processes, in KiB. Processes that
// share one address space (clone with CLONE_VM) report the same memory in
// /proc, so each address space is counted once: Spaces counts them.
type memSum struct {
	Procs  int   `json:"procs"`
	Spaces int   `json:"address_spaces"`
	PssKiB int64 `json:"pss_kib"`
	UssKiB int64 `json:"uss_kib"`
	PteKiB int64 `json:"pte_kib"`

	reps []int // one process per address space counted so far
}

// kcmpVM is KCMP_VM from linux/kcmp.h.
const kcmpVM = 1

// sameVM reports whether processes a and b share one address space, by
// kcmp(2). An error (a process gone, no permission) counts as different.
func sameVM(a, b int) bool {
	r, _, errno := unix.Syscall6(unix.SYS_KCMP, uintptr(a), uintptr(b), kcmpVM, 0, 0, 0)
	return errno == 0 && r == 0
}

func (m *memSum) add(pid int) {
	m.Procs++
	for _, r := range m.reps {
		if sameVM(r, pid) {
			return
		}
	}
	m.reps = append(m.reps, pid)
	m.Spaces++
	rollup := fmt.Sprintf("/proc/%d/smaps_rollup", pid)
	pss, _ := procFieldKiB(rollup, "Pss")
	pc, _ := procFieldKiB(rollup, "Private_Clean")
	pd, _ := procFieldKiB(rollup, "Private_Dirty")
	pte, _ := procStatusKiB(pid, "VmPTE")
	m.PssKiB += pss
	m.UssKiB += pc + pd
	m.PteKiB += pte
}

// serveIdle opens b.cfg.IdleConns connections to `sockjail serve -- idle`,
// waits for every program to answer, and measures the serving process's RSS
// against the same before any connection. Kernel memory (socket buffers,
// task structures) is not counted: it is the same for every launcher.
func (b *bench) serveIdle() {
	var t *target
	for _, x := range b.live(0) {
		if x.serve {
			t = x
		}
	}
	if t == nil {
		logf("idle memory: sockjail serve is not measured")
		return
	}
	logf("idle memory: %d idle connections to sockjail serve", b.cfg.IdleConns)
	idle := filepath.Join(b.bin, "idle")
	res := &IdleResult{}
	b.res.ServeIdle = res
	in, err := b.start(t, []string{idle}, nil, b.cfg.ServePolicy)
	if err != nil {
		res.FirstErr = err.Error()
		return
	}
	defer in.stop()
	pid := in.cmd.Process.Pid
	// One connection first, so that lazily allocated state (the first
	// goroutine stacks, the first sandbox) is in the baseline, not in the
	// per-connection figure.
	if fd, err := openIdle(in.port, "ready\n"); err == nil {
		closeFD(fd)
	}
	time.Sleep(500 * time.Millisecond)
	res.ServeRSSBeforeKiB, _ = procStatusKiB(pid, "VmRSS")
	before := descendants(pid, idle)
	res.HelpersBefore = len(before.helpers)
	res.Before = sideSum(pid, before)

	var (
		mu  sync.Mutex
		fds []int
		wg  sync.WaitGroup
	)
	jobs := make(chan struct{})
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				fd, err := openIdle(in.port, "ready\n")
				mu.Lock()
				if err != nil {
					res.Errors++
					if res.FirstErr == "" {
						res.FirstErr = err.Error()
					}
				} else {
					fds = append(fds, fd)
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < b.cfg.IdleConns; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	defer func() {
		for _, fd := range fds {
			closeFD(fd)
		}
	}()
	res.Conns = len(fds)
	time.Sleep(time.Second)
	res.ServeRSSAfterKiB, _ = procStatusKiB(pid, "VmRSS")
	after := descendants(pid, idle)
	res.After = sideSum(pid, after)
	res.Programs = after.programs
	res.Helpers = len(after.helpers)
	if after.programs > 0 {
		res.ProgramPssKiB = float64(after.programPss) / float64(after.programs)
	}
	if res.Conns > 0 {
		res.ServePerConnKiB = float64(res.ServeRSSAfterKiB-res.ServeRSSBeforeKiB) / float64(res.Conns)
		grow := (res.After.PssKiB + res.After.PteKiB) - (res.Before.PssKiB + res.Before.PteKiB)
		res.PerConnKiB = float64(grow) / float64(res.Conns)
	}
	logf("  %d open, %d programs, %d helpers; sockjail side PSS+PTE %d → %d KiB", res.Conns, res.Programs, res.Helpers,
		res.Before.PssKiB+res.Before.PteKiB, res.After.PssKiB+res.After.PteKiB)
}

// tree is what runs below the serving process.
type tree struct {
	programs   int
	programPss int64
	helpers    []int
}

// sideSum adds up the memory of serve (pid) and its helpers in tr.
func sideSum(pid int, tr tree) memSum {
	var m memSum
	m.add(pid)
	for _, h := range tr.helpers {
		m.add(h)
	}
	return m
}

// descendants walks /proc for every descendant of pid, and sorts them into
// the program (its /proc/PID/exe is prog) and everything else.
func descendants(pid int, prog string) tree {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// The command name may hold spaces and parentheses; the fields
		// after the last ')' are fixed: state, then ppid.
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		children[pp] = append(children[pp], p)
	}
	var tr tree
	queue := append([]int(nil), children[pid]...)
	for len(queue) > 0 {
		p := queue[0]
		queue = append(queue[1:], children[p]...)
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p)); exe == prog {
			pss, _ := procFieldKiB(fmt.Sprintf("/proc/%d/smaps_rollup", p), "Pss")
			tr.programs++
			tr.programPss += pss
			continue
		}
		tr.helpers = append(tr.helpers, p)
	}
	return tr
}
