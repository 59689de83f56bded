package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// startAll starts prog under every live target and returns the instances
// by target name; a target that fails to start is skipped from then on.
func (b *bench) startAll(prog []string, warm func(*instance) error) map[string]*instance {
	return b.startTargets(b.live(0), prog, warm)
}

// startTargets is startAll for the given targets only.
func (b *bench) startTargets(ts []*target, prog []string, warm func(*instance) error) map[string]*instance {
	ins := map[string]*instance{}
	for _, t := range ts {
		in, err := b.start(t, prog, nil, b.cfg.ServePolicy)
		if err != nil {
			b.skip(t, err.Error())
			continue
		}
		if err := warm(in); err != nil {
			in.stop()
			b.skip(t, fmt.Sprintf("%v\n  launcher log:\n%s", err, tail(in.log, 10)))
			continue
		}
		ins[t.Name] = in
		b.res.target(t).Argv = in.argv
	}
	return ins
}

func stopAll(ins map[string]*instance) {
	for _, in := range ins {
		in.stop()
	}
}

// warmLoad runs b.cfg.Warmup unmeasured connections and fails when more
// than a tenth of them fail: a target that does not work is reported as
// such rather than measured.
func (b *bench) warmLoad(check func(sample) error) func(*instance) error {
	return func(in *instance) error {
		r := load(in.port, b.cfg.Warmup, 1, check)
		in.count(r)
		if r.Errors > b.cfg.Warmup/10 {
			return fmt.Errorf("%d of %d warm-up connections failed, first: %v", r.Errors, b.cfg.Warmup, r.FirstErr)
		}
		return nil
	}
}

// latency measures connect-to-EOF of the static hello at concurrency 1 and
// connections per second at concurrency 1 and b.cfg.Conc. The connections
// are split over rounds with the target order rotated each round, so that
// drift of the machine's speed during the run spreads over every target
// instead of favouring the ones measured first; the per-round medians show
// that drift.
func (b *bench) latency() {
	logf("latency: static hello, %d connections per target at c=1 and %d at c=%d, %d rounds", b.cfg.N, b.cfg.NConc, b.cfg.Conc, b.cfg.Rounds)
	hello := []string{filepath.Join(b.bin, "hello")}
	check := expectReply("Hello World\n")
	ins := b.startAll(hello, b.warmLoad(check))
	defer b.stopForUsage(ins)
	per1 := (b.cfg.N + b.cfg.Rounds - 1) / b.cfg.Rounds
	perC := (b.cfg.NConc + b.cfg.Rounds - 1) / b.cfg.Rounds
	for r := 0; r < b.cfg.Rounds; r++ {
		for _, t := range b.live(r) {
			in := ins[t.Name]
			if in == nil {
				continue
			}
			tr := b.res.target(t)
			pid := in.cmd.Process.Pid
			cpu0, err0 := procTreeCPU(pid)
			r1 := load(in.port, per1, 1, check)
			rc := load(in.port, perC, b.cfg.Conc, check)
			in.count(r1)
			in.count(rc)
			// The last connections' processes may still be closing;
			// their CPU is counted once they are reaped.
			time.Sleep(100 * time.Millisecond)
			cpu1, err1 := procTreeCPU(pid)
			if err0 == nil && err1 == nil {
				tr.cpu += cpu1 - cpu0
				tr.cpuConns += len(r1.Latencies) + len(rc.Latencies) + r1.Errors + rc.Errors
			}
			tr.addLatency(r1, rc)
			logf("  round %d %-15s c=1 p50 %6.2f ms  c=%d %7.1f conn/s  errors %d", r+1, t.Name, median(r1.Latencies), b.cfg.Conc, rc.cps(), r1.Errors+rc.Errors)
		}
	}
	if in := ins["sockjail-serve"]; in != nil {
		// The serving process's high-water mark after every latency
		// connection: its peak RSS under load, the counterpart of run's.
		if kib, err := procStatusKiB(in.cmd.Process.Pid, "VmHWM"); err == nil {
			b.res.ServePeakKiB = kib
		}
	}
}

// paired measures what each variant of sockjail run (-run-policy, -run-bin,
// -run-env) adds to sockjail-run's connect-to-EOF at concurrency 1: one
// connection of each in turn, the order alternating, b.cfg.N pairs per
// variant, and the median of the per-pair differences. A shared machine's
// drift moves whole rounds of the latency phase by milliseconds, more than
// the differences a variant is there to show (the session cgroup's few
// tenths of a millisecond); within a pair it cancels out.
func (b *bench) paired() {
	var base *target
	var variants []*target
	for _, t := range b.live(0) {
		switch {
		case t.Name == "sockjail-run":
			base = t
		case t.runVariant():
			variants = append(variants, t)
		}
	}
	if base == nil || len(variants) == 0 {
		logf("paired: nothing to pair (sockjail-run and a -run-policy, -run-bin or -run-env variant)")
		return
	}
	logf("paired: static hello, %d pairs per variant, each against sockjail-run", b.cfg.N)
	check := expectReply("Hello World\n")
	ins := b.startTargets(append([]*target{base}, variants...), []string{filepath.Join(b.bin, "hello")}, b.warmLoad(check))
	defer stopAll(ins)
	against := ins[base.Name]
	if against == nil {
		return
	}
	buf := make([]byte, 64<<10)
	one := func(in *instance) (float64, error) {
		s, err := fetch(in.port, buf, nil)
		if err == nil {
			err = check(s)
		}
		return s.latency(), err
	}
	for _, v := range variants {
		in := ins[v.Name]
		if in == nil {
			continue
		}
		pr := b.res.paired(v, base)
		for i := 0; i < b.cfg.N; i++ {
			var lb, lv float64
			var eb, ev error
			if i%2 == 0 {
				lb, eb = one(against)
				lv, ev = one(in)
			} else {
				lv, ev = one(in)
				lb, eb = one(against)
			}
			if err := errors.Join(eb, ev); err != nil {
				pr.Errors++
				if pr.FirstError == "" {
					pr.FirstError = err.Error()
				}
				continue
			}
			pr.diffs = append(pr.diffs, lv-lb)
		}
		logf("  %-15s %+.3f ms per connection (median of %d pairs)", v.Name, median(pr.diffs), len(pr.diffs))
	}
}

// stopForUsage stops the latency phase's launchers and records each one's
// wait4 rusage with the number of connections it served, for the faults and
// context switches per connection.
func (b *bench) stopForUsage(ins map[string]*instance) {
	for name, in := range ins {
		ru, err := in.stopForUsage()
		if err != nil {
			logf("  %s: no rusage: %v", name, err)
			continue
		}
		tr := b.res.target(in.t)
		tr.usage, tr.usageConns = *ru, in.served
	}
}

// closeLatency measures the time from the program's exit to the client's
// EOF with exitstamp.c, which writes its CLOCK_MONOTONIC reading just before
// _exit. The bare program shows what the kernel alone costs (the socket's
// last reference goes away at exit); a launcher that keeps the connection
// for a flush-then-close adds its reaction time.
func (b *bench) closeLatency() {
	logf("close latency: %d connections per target", b.cfg.CloseN)
	prog := []string{filepath.Join(b.bin, "exitstamp")}
	check := func(s sample) error { _, err := exitStamp(s); return err }
	ins := b.startAll(prog, b.warmLoad(check))
	defer stopAll(ins)
	per := (b.cfg.CloseN + b.cfg.Rounds - 1) / b.cfg.Rounds
	buf := make([]byte, 4096)
	for r := 0; r < b.cfg.Rounds; r++ {
		for _, t := range b.live(r) {
			in := ins[t.Name]
			if in == nil {
				continue
			}
			cr := b.res.close(t)
			for i := 0; i < per; i++ {
				s, err := fetch(in.port, buf, nil)
				var stamp int64
				if err == nil {
					stamp, err = exitStamp(s)
				}
				if err == nil && (s.eof < stamp || s.eof-stamp > int64(time.Minute)) {
					err = fmt.Errorf("exit stamp %d and EOF %d are not on one clock (a time namespace?)", stamp, s.eof)
				}
				if err != nil {
					cr.Errors++
					if cr.FirstError == "" {
						cr.FirstError = err.Error()
					}
					continue
				}
				cr.exitToEOF = append(cr.exitToEOF, float64(s.eof-stamp)/1e6)
				cr.dataToEOF = append(cr.dataToEOF, float64(s.eof-s.first)/1e6)
			}
		}
	}
}

// exitStamp parses exitstamp.c's reply "exit <ns>\n".
func exitStamp(s sample) (int64, error) {
	line := string(s.head)
	rest, ok := strings.CutPrefix(line, "exit ")
	if !ok || !strings.HasSuffix(rest, "\n") || int(s.bytes) != len(line) {
		return 0, fmt.Errorf("reply %q (%d bytes), want \"exit <ns>\\n\"", line, s.bytes)
	}
	return strconv.ParseInt(strings.TrimSuffix(rest, "\n"), 10, 64)
}

// throughput measures a large reply (bigreply.c) per target: bytes divided
// by the time from the first byte to EOF, which leaves out the start-up
// that the latency phase already measures, and also from connect to EOF.
// Replies are interleaved across targets, one each per repetition.
func (b *bench) throughput() {
	logf("throughput: %d MiB reply, %d repetitions per target", b.cfg.ReplyBytes>>20, b.cfg.ReplyReps)
	prog := []string{filepath.Join(b.bin, "bigreply"), strconv.FormatInt(b.cfg.ReplyBytes, 10)}
	buf := make([]byte, 256<<10)
	one := func(in *instance) (sample, error) {
		s, err := fetch(in.port, buf, patternConsumer())
		if err == nil && s.bytes != b.cfg.ReplyBytes {
			err = fmt.Errorf("reply of %d bytes, want %d", s.bytes, b.cfg.ReplyBytes)
		}
		return s, err
	}
	ins := b.startAll(prog, func(in *instance) error { _, err := one(in); return err })
	defer stopAll(ins)
	// serve's own CPU time over the replies (its children's not
	// included) shows whether data passes through it: copying 100 MiB
	// through a process costs tens of milliseconds of CPU.
	var serveCPU0 time.Duration
	serve := ins["sockjail-serve"]
	if serve != nil {
		serveCPU0, _ = procCPU(serve.cmd.Process.Pid)
	}
	for r := 0; r < b.cfg.ReplyReps; r++ {
		for _, t := range b.live(r) {
			in := ins[t.Name]
			if in == nil {
				continue
			}
			tp := b.res.throughput(t)
			s, err := one(in)
			if err != nil {
				tp.Errors++
				if tp.FirstError == "" {
					tp.FirstError = err.Error()
				}
				continue
			}
			mib := float64(s.bytes) / (1 << 20)
			tp.stream = append(tp.stream, mib/(float64(s.eof-s.first)/1e9))
			tp.total = append(tp.total, mib/(float64(s.eof-s.start)/1e9))
			tp.rep = append(tp.rep, r)
		}
	}
	if serve != nil {
		if cpu, err := procCPU(serve.cmd.Process.Pid); err == nil {
			tp := b.res.throughput(serve.t)
			if n := len(tp.stream); n > 0 {
				ms := float64((cpu - serveCPU0).Microseconds()) / 1000 / float64(n)
				tp.ServeCPUms = &ms
			}
		}
	}
}

// procCPU returns the user plus system CPU time of the process pid itself,
// its reaped children's not included, from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) { return procStatCPU(pid, false) }

// procTreeCPU returns the CPU time of pid and of every descendant it and
// they have reaped: for a launcher, everything each connection cost, the
// program included.
func procTreeCPU(pid int) (time.Duration, error) { return procStatCPU(pid, true) }

func procStatCPU(pid int, children bool) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// After the ')': state, ppid, … utime is field 14 of the line, so
	// index 11 here; stime, cutime and cstime follow.
	if len(f) < 15 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	n := 2
	if children {
		n = 4
	}
	var ticks int64
	for _, x := range f[11 : 11+n] {
		v, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: bad CPU time %q", pid, x)
		}
		ticks += v
	}
	// USER_HZ is 100 on every Linux architecture sockjail supports.
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// peakRSS measures the peak resident set of each launcher per connection
// with rsswrap.c, which waits for the launcher with wait4 and records
// ru_maxrss: the largest RSS of the launcher or of any process it waited
// for. The bare row is the static hello alone, the floor.
func (b *bench) peakRSS() {
	logf("peak RSS: %d connections per systemd-socket-activate target", b.cfg.RSSConns)
	hello := []string{filepath.Join(b.bin, "hello")}
	wrap := filepath.Join(b.bin, "rsswrap")
	check := expectReply("Hello World\n")
	for _, t := range b.live(0) {
		if t.serve {
			continue
		}
		out := filepath.Join(b.work, "rss-"+t.Name+".txt")
		in, err := b.start(t, hello, []string{wrap, out}, "")
		if err != nil {
			b.res.rss(t).FirstError = err.Error()
			continue
		}
		r := load(in.port, b.cfg.RSSConns, 1, check)
		// rsswrap appends its line after the launcher exits, which can be
		// a little after the client's EOF (a lingering close).
		var kib []float64
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if kib = readNumbers(out); len(kib) >= b.cfg.RSSConns {
				break
			}
		}
		in.stop()
		rr := b.res.rss(t)
		rr.Errors = r.Errors
		if r.FirstErr != nil {
			rr.FirstError = r.FirstErr.Error()
		}
		rr.kib = kib
	}
}

func readNumbers(path string) []float64 {
	data, _ := os.ReadFile(path)
	var xs []float64
	for _, f := range strings.Fields(string(data)) {
		if v, err := strconv.ParseFloat(f, 64); err == nil {
			xs = append(xs, v)
		}
	}
	return xs
}
