package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// IdleResult is `sockjail serve`'s memory with many idle connections open.
type IdleResult struct {
	Conns    int    `json:"conns"`    // connections open and answered "ready"
	Programs int    `json:"programs"` // idle programs running at the measurement
	Errors   int    `json:"errors"`
	FirstErr string `json:"first_error,omitempty"`
	// The serving process's VmRSS before the connections and with them
	// open, and the difference per connection.
	ServeRSSBeforeKiB int64   `json:"serve_rss_before_kib"`
	ServeRSSAfterKiB  int64   `json:"serve_rss_after_kib"`
	PerConnKiB        float64 `json:"serve_kib_per_conn"`
	// Helpers are the serving process's other descendants that are not
	// the program (a per-connection sockjail process, say). Their PSS
	// counts shared pages once overall.
	Helpers            int     `json:"helpers"`
	HelpersPssKiB      int64   `json:"helpers_pss_kib"`
	PerConnTotalKiB    float64 `json:"total_kib_per_conn"` // (serve delta + helpers) / conns
	ProgramPssKiB      float64 `json:"program_pss_kib_each"`
	HelpersBeforeCount int     `json:"helpers_before"`
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
	res.HelpersBeforeCount = len(before.helpers)

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
	res.Programs = after.programs
	res.Helpers = len(after.helpers)
	res.HelpersPssKiB = after.helperPss - before.helperPss
	if after.programs > 0 {
		res.ProgramPssKiB = float64(after.programPss) / float64(after.programs)
	}
	if res.Conns > 0 {
		res.PerConnKiB = float64(res.ServeRSSAfterKiB-res.ServeRSSBeforeKiB) / float64(res.Conns)
		res.PerConnTotalKiB = float64(res.ServeRSSAfterKiB-res.ServeRSSBeforeKiB+res.HelpersPssKiB) / float64(res.Conns)
	}
	logf("  %d open, %d programs, serve RSS %d → %d KiB", res.Conns, res.Programs, res.ServeRSSBeforeKiB, res.ServeRSSAfterKiB)
}

// tree is what runs below the serving process.
type tree struct {
	programs   int
	programPss int64
	helpers    []int
	helperPss  int64
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
		pss, _ := procFieldKiB(fmt.Sprintf("/proc/%d/smaps_rollup", p), "Pss")
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p)); exe == prog {
			tr.programs++
			tr.programPss += pss
			continue
		}
		tr.helpers = append(tr.helpers, p)
		tr.helperPss += pss
	}
	return tr
}
