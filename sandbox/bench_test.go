package sandbox

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/policy"
)

// BenchmarkNew measures what `run` pays once per connection and `serve`
// once per policy: program resolution, the seccomp filter, the Landlock
// plan (with go-landlock's validating build) and credentials. "run" starts
// each iteration with an empty in-memory filter cache, as a fresh `sockjail
// run` process does, so the filter comes from BPFCacheDir (root) or
// libseccomp; "serve" hits the in-memory cache.
func BenchmarkNew(b *testing.B) {
	p := policy.Default()
	for _, mode := range []string{"run", "serve"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				if mode == "run" {
					memCache.Clear()
				}
				s, err := New(p, []string{"/bin/true"}, Options{})
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
		})
	}
}

// BenchmarkNewStages splits New into its stages.
func BenchmarkNewStages(b *testing.B) {
	p := policy.Default()
	// Each plan starts with an empty memory cache, as in a fresh process.
	planSeccomp := func(b *testing.B) {
		for b.Loop() {
			memCache.Clear()
			s := &Sandbox{policy: p}
			s.report.LandlockNet = true
			if err := s.planSeccomp(&gaps{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("seccomp-compile", func(b *testing.B) {
		old := bpfCacheDir
		bpfCacheDir = "" // no disk cache: always compile
		defer func() { bpfCacheDir = old }()
		planSeccomp(b)
	})
	// What `run` pays: the compiled filter from the disk cache.
	b.Run("seccomp-disk-cache", planSeccomp)
	// The guards in front of libseccomp's program, assembled on every
	// plan (a cache hit included), here with every guard on.
	b.Run("seccomp-guards", func(b *testing.B) {
		g := prefixGuards{inet: true, unix: true, families: true, fastOpen: true, listen: true, ifaceIoctls: true, attrIoctls: true, namespaces: true}
		for b.Loop() {
			g.program()
		}
	})
	b.Run("landlock", func(b *testing.B) {
		for b.Loop() {
			s := &Sandbox{policy: p, exec: []string{"/usr/bin/true"}, report: Report{Tmp: TmpNamespace}}
			if err := s.planLandlock(&gaps{}); err != nil {
				b.Fatal(err)
			}
			s.closeRuleset()
		}
	})
	b.Run("program", func(b *testing.B) {
		for b.Loop() {
			path, err := resolveProgram("true", DefaultPath)
			if err != nil {
				b.Fatal(err)
			}
			interpreters(path, DefaultPath)
		}
	})
}

// BenchmarkStart compares a confined start under the default policy (PID
// and mount namespaces, tmpfs /tmp, nobody, rlimits, Landlock, seccomp)
// with a bare syscall.ForkExec of the same program, interleaved in the
// same loop so that both see the same machine noise. It reports both
// medians and their ratio; ns/op is the sum of one bare and one sandboxed
// start.
func BenchmarkStart(b *testing.B) {
	testenv.RequireRoot(b)
	for _, prog := range []struct{ name, path string }{
		{"true", "/bin/true"},
		{"hello-static", cHelper(b, "hello")},
	} {
		b.Run(prog.name, func(b *testing.B) {
			s := mustNew(b, policy.Default(), []string{prog.path}, Options{})
			devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer devnull.Close()
			fd := int(devnull.Fd())
			env := []string{"PATH=/usr/bin:/bin"}
			var bare, boxed []time.Duration
			for b.Loop() {
				t0 := time.Now()
				pid, err := syscall.ForkExec(prog.path, []string{prog.path}, &syscall.ProcAttr{
					Env: env, Files: []uintptr{uintptr(fd), uintptr(fd), uintptr(fd)},
				})
				if err != nil {
					b.Fatal(err)
				}
				var ws syscall.WaitStatus
				syscall.Wait4(pid, &ws, 0, nil)
				t1 := time.Now()
				proc, err := s.Start(StartConfig{Stdin: fd, Stdout: fd, Stderr: fd, Env: env})
				if err != nil {
					b.Fatal(err)
				}
				exit, err := proc.Wait()
				proc.Close()
				t2 := time.Now()
				if err != nil || exit != (Exit{}) || ws.ExitStatus() != 0 {
					b.Fatalf("bare %v, sandboxed %v %v", ws, exit, err)
				}
				bare = append(bare, t1.Sub(t0))
				boxed = append(boxed, t2.Sub(t1))
			}
			mb, ms := median(bare), median(boxed)
			b.ReportMetric(float64(mb.Microseconds())/1000, "bare-ms")
			b.ReportMetric(float64(ms.Microseconds())/1000, "sandbox-ms")
			b.ReportMetric(float64(ms)/float64(mb), "ratio")
		})
	}
}

// BenchmarkStartModes measures the sandboxed start alone in each mode that
// root can run: the default, without private /tmp (no mount namespace),
// and a dynamic user (uid lock and /proc sweep).
func BenchmarkStartModes(b *testing.B) {
	testenv.RequireRoot(b)
	hello := cHelper(b, "hello")
	modes := []struct {
		name string
		edit func(p *policy.Policy)
	}{
		{"default", nil}, // as root: a dynamic uid of each start's own
		{"named-user", func(p *policy.Policy) { p.Program.User = "nobody" }},
		{"no-private-tmp", func(p *policy.Policy) { p.Filesystem.PrivateTmp = false }},
		{"dynamic-user", func(p *policy.Policy) {
			p.Program.User = policy.UserDynamic
			p.Program.DynamicUIDs = policy.IDRange{Lo: 400200, Hi: 400299}
		}},
	}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			s := mustNew(b, testPolicy(b, m.edit), []string{hello}, Options{})
			for b.Loop() {
				proc, err := s.Start(StartConfig{Stdin: -1, Stdout: -1, Stderr: -1})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := proc.Wait(); err != nil {
					b.Fatal(err)
				}
				proc.Close()
			}
		})
	}
}

// heapSink keeps BenchmarkStartHeap's allocations alive.
var heapSink [][]byte

// BenchmarkStartHeap measures a sandboxed start while sockjail's own heap
// holds 0, 64 and 256 MiB of touched memory, as a busy `serve` does. The
// children share sockjail's memory instead of copying its page tables, so
// the cost should not grow with the heap.
func BenchmarkStartHeap(b *testing.B) {
	testenv.RequireRoot(b)
	hello := cHelper(b, "hello")
	s := mustNew(b, policy.Default(), []string{hello}, Options{})
	defer func() { heapSink = nil }()
	for _, mib := range []int{0, 64, 256} {
		for len(heapSink) < mib {
			m := make([]byte, 1<<20)
			for i := range m {
				m[i] = 1
			}
			heapSink = append(heapSink, m)
		}
		b.Run(fmt.Sprintf("%dMiB", mib), func(b *testing.B) {
			for b.Loop() {
				proc, err := s.Start(StartConfig{Stdin: -1, Stdout: -1, Stderr: -1})
				if err != nil {
					b.Fatal(err)
				}
				proc.Wait()
				proc.Close()
			}
		})
	}
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

// BenchmarkProcShmCost measures what the fresh /proc and the private
// /dev/shm add to a start: each iteration starts the static hello once
// with both mounts (the default) and once without either, interleaved so
// that both see the same machine load, and reports the two medians and
// their difference, in wall time and in CPU time (sockjail's and its
// reaped children's, which a loaded machine disturbs less). Each start
// also pays the teardown of its namespace.
func BenchmarkProcShmCost(b *testing.B) {
	testenv.RequireRoot(b)
	hello := cHelper(b, "hello")
	with := mustNew(b, policy.Default(), []string{hello}, Options{})
	without := mustNew(b, testPolicy(b, func(p *policy.Policy) {
		p.Filesystem.Proc = false
		p.Filesystem.ShmSize = 0
	}), []string{hello}, Options{})
	mOn, mOff, cpuOn, cpuOff := interleaved(b, with, without, false)
	b.ReportMetric(float64(mOn.Microseconds())/1000, "with-ms")
	b.ReportMetric(float64(mOff.Microseconds())/1000, "without-ms")
	b.ReportMetric(float64((mOn-mOff).Microseconds())/1000, "cost-ms")
	b.ReportMetric(float64((cpuOn-cpuOff).Microseconds())/1000, "cost-cpu-ms")
}

// interleaved starts the static hello under with and under without in
// turn, b.N times each, so that both see the same machine load. It returns
// the median wall time of each, from Start until the session's Close, or
// until Start returns with startOnly; and the CPU time per session of each
// (sockjail's and its reaped children's, which a loaded machine disturbs
// less than wall time).
func interleaved(b *testing.B, with, without *Sandbox, startOnly bool) (mOn, mOff, cpuOn, cpuOff time.Duration) {
	start := func(s *Sandbox, cpu *time.Duration) time.Duration {
		c0 := cpuTime(b)
		t0 := time.Now()
		proc, err := s.Start(StartConfig{Stdin: -1, Stdout: -1, Stderr: -1})
		d := time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := proc.Wait(); err != nil {
			b.Fatal(err)
		}
		proc.Close()
		if !startOnly {
			d = time.Since(t0)
		}
		*cpu += cpuTime(b) - c0
		return d
	}
	var on, off []time.Duration
	for b.Loop() {
		on = append(on, start(with, &cpuOn))
		off = append(off, start(without, &cpuOff))
	}
	n := time.Duration(len(on))
	return median(on), median(off), cpuOn / n, cpuOff / n
}

func cpuTime(b *testing.B) time.Duration {
	var self, children syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &self); err != nil {
		b.Fatal(err)
	}
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children); err != nil {
		b.Fatal(err)
	}
	var d time.Duration
	for _, r := range []syscall.Rusage{self, children} {
		d += time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	return d
}

// BenchmarkCgroupCost measures what the session cgroup adds: the start
// (Start until the program runs) and the CPU time of a whole session
// (cgroup made, joined, removed) with the default bounds and without any.
// Sessions alternate, so the background refill of the spare cgroup
// competes with the start it is meant to spare, as in a busy serve.
func BenchmarkCgroupCost(b *testing.B) {
	testenv.RequireRoot(b)
	if drv, why := detectCgroups(Options{}); drv == nil {
		testenv.SkipOrFail(b, why)
	}
	hello := cHelper(b, "hello")
	with := mustNew(b, policy.Default(), []string{hello}, Options{})
	without := mustNew(b, testPolicy(b, func(p *policy.Policy) {
		p.Limits.Memory = policy.Limit{Unlimited: true}
		p.Limits.Tasks = policy.Limit{Unlimited: true}
		p.Limits.CPUQuota = policy.Limit{Unlimited: true}
	}), []string{hello}, Options{})
	mOn, mOff, cpuOn, cpuOff := interleaved(b, with, without, true)
	b.ReportMetric(float64(mOn.Microseconds())/1000, "start-with-ms")
	b.ReportMetric(float64(mOff.Microseconds())/1000, "start-without-ms")
	b.ReportMetric(float64((cpuOn-cpuOff).Microseconds())/1000, "cost-cpu-ms")
}
