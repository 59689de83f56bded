package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// Results is everything one run measured; it is written as JSON.
type Results struct {
	Schema  int       `json:"schema"`
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	Git     struct {
		Commit string `json:"commit"`
		Dirty  bool   `json:"dirty"`
	} `json:"git"`
	Machine struct {
		Kernel       string `json:"kernel"`
		CPUs         int    `json:"cpus"`
		Go           string `json:"go"`
		LoadAvgStart string `json:"loadavg_start"`
		LoadAvgEnd   string `json:"loadavg_end"`
	} `json:"machine"`
	Config     config              `json:"config"`
	Targets    []*TargetResult     `json:"targets"`
	Close      []*CloseResult      `json:"close_latency"`
	Throughput []*ThroughputResult `json:"throughput"`
	PeakRSS    []*RSSResult        `json:"peak_rss"`
	Paired     []*PairedResult     `json:"paired"`
	// ServePeakKiB is sockjail serve's VmHWM after the latency phase.
	ServePeakKiB int64       `json:"serve_peak_kib,omitempty"`
	ServeIdle    *IdleResult `json:"serve_idle,omitempty"`
}

// TargetResult is the per-connection latency and rate of one target.
type TargetResult struct {
	Name    string   `json:"name"`
	What    string   `json:"what"`
	Argv    []string `json:"argv,omitempty"`
	Skipped string   `json:"skipped,omitempty"`
	// C1 is connect-to-EOF at concurrency 1, in ms.
	C1 Summary `json:"c1_ms"`
	// C1RoundP50 holds each round's median: the run's noise.
	C1RoundP50 []float64 `json:"c1_round_p50_ms"`
	C1Spread   float64   `json:"c1_round_spread"`
	// C1RoundRatio holds each round's median divided by bare's median of
	// the same round: a ratio less exposed to drift between rounds.
	C1RoundRatio []float64 `json:"c1_round_ratio_p50"`
	C1CPS        float64   `json:"c1_conn_per_s"`
	// CC is connect-to-EOF at the high concurrency, in ms.
	CC         Summary   `json:"cc_ms"`
	CCCPS      float64   `json:"cc_conn_per_s"`
	CCRoundCPS []float64 `json:"cc_round_conn_per_s"`
	Errors     int       `json:"errors"`
	FirstError string    `json:"first_error,omitempty"`
	// CPUms is the CPU time per connection of the launcher and every
	// process below it (the program included), over the latency runs.
	// It measures work rather than waiting, so other jobs on the machine
	// disturb it far less than the latencies.
	CPUms    float64 `json:"cpu_ms_per_conn"`
	RatioCPU float64 `json:"ratio_cpu"`
	// Usage is the page faults and context switches per connection, from
	// the launcher's wait4 rusage over its whole life in the latency phase
	// (warm-up included): on hosts where faults and traps are dear they
	// explain the ratios. Absent when the launcher could not be reaped.
	Usage *UsagePerConn `json:"usage_per_conn,omitempty"`
	// Ratios to the bare program of the same run. For latency, >1 is
	// slower; for connections per second, <1 is slower.
	RatioP50   float64 `json:"ratio_p50"`
	RatioP99   float64 `json:"ratio_p99"`
	RatioC1CPS float64 `json:"ratio_c1_cps"`
	RatioCCCPS float64 `json:"ratio_cc_cps"`

	c1, cc           []float64
	c1Wall, ccWall   time.Duration
	c1Good, ccGood   int
	c1Rounds, ccRate []float64
	cpu              time.Duration
	cpuConns         int
	usage            syscall.Rusage
	usageConns       int
}

// PairedResult is what a variant of sockjail run adds to Against's
// connect-to-EOF, from connections made in pairs (the paired phase).
type PairedResult struct {
	Name    string `json:"name"`
	Against string `json:"against"`
	// Diff summarizes the per-pair differences (variant minus Against),
	// in ms; its P50 is the figure to read.
	Diff       Summary `json:"diff_ms"`
	P25        float64 `json:"diff_p25_ms"`
	P75        float64 `json:"diff_p75_ms"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`

	diffs []float64
}

// UsagePerConn is the rusage of a launcher divided by the connections it
// served. It includes the launcher's own start and exit, spread over those
// connections (a few hundred faults over hundreds of connections: under
// one per connection), and the program's own. Involuntary switches grow
// with the machine's load; faults and voluntary switches hardly do.
type UsagePerConn struct {
	Conns       int     `json:"conns"`
	MinorFaults float64 `json:"minflt"`
	MajorFaults float64 `json:"majflt"`
	VolSwitches float64 `json:"nvcsw"`
	InvSwitches float64 `json:"nivcsw"`
}

// usagePerConn divides ru by conns; nil when there is nothing to divide.
func usagePerConn(ru syscall.Rusage, conns int) *UsagePerConn {
	if conns <= 0 {
		return nil
	}
	n := float64(conns)
	return &UsagePerConn{
		Conns:       conns,
		MinorFaults: float64(ru.Minflt) / n,
		MajorFaults: float64(ru.Majflt) / n,
		VolSwitches: float64(ru.Nvcsw) / n,
		InvSwitches: float64(ru.Nivcsw) / n,
	}
}

// CloseResult is the close latency of one target, in ms.
type CloseResult struct {
	Name string `json:"name"`
	// ExitToEOF runs from exitstamp's clock reading before its _exit to
	// the client's EOF.
	ExitToEOF Summary `json:"exit_to_eof_ms"`
	// DataToEOF runs from the arrival of the stamp at the client to EOF;
	// it needs no shared clock and agrees with ExitToEOF to within the
	// loopback delivery time.
	DataToEOF  Summary `json:"data_to_eof_ms"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`

	exitToEOF, dataToEOF []float64
}

// ThroughputResult is the large reply's rate for one target, in MiB/s.
type ThroughputResult struct {
	Name       string    `json:"name"`
	Stream     []float64 `json:"stream_mib_s"` // first byte to EOF, each repetition
	Total      []float64 `json:"total_mib_s"`  // connect to EOF, each repetition
	StreamMed  float64   `json:"stream_mib_s_median"`
	StreamBest float64   `json:"stream_mib_s_best"`
	TotalMed   float64   `json:"total_mib_s_median"`
	RatioMed   float64   `json:"ratio_stream_median"`
	RatioBest  float64   `json:"ratio_stream_best"`
	// RatioPaired is the median over repetitions of this target's rate
	// divided by bare's in the same repetition (they ran next to each
	// other), the figure least exposed to drift.
	RatioPaired float64 `json:"ratio_stream_paired_median"`
	// ServeCPUms is, for sockjail serve, its own CPU time per reply (10 ms
	// resolution over all replies): near 0 when data does not pass
	// through it.
	ServeCPUms *float64 `json:"serve_cpu_ms_per_reply,omitempty"`
	Errors     int      `json:"errors"`
	FirstError string   `json:"first_error,omitempty"`

	stream, total []float64
	rep           []int // the repetition of each value in stream
}

// repIndex returns the index in stream of repetition r, or -1.
func (tp *ThroughputResult) repIndex(r int) int {
	for i, x := range tp.rep {
		if x == r {
			return i
		}
	}
	return -1
}

// RSSResult is the peak RSS of one launcher per connection, in KiB.
type RSSResult struct {
	Name       string  `json:"name"`
	N          int     `json:"n"`
	MedianKiB  float64 `json:"median_kib"`
	MaxKiB     float64 `json:"max_kib"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`

	kib []float64
}

func newResults(b *bench) *Results {
	r := &Results{Schema: 1, Started: time.Now()}
	r.Git.Commit, r.Git.Dirty = gitInfo(b.root)
	r.Machine.Kernel = kernel()
	r.Machine.CPUs = runtime.NumCPU()
	r.Machine.Go = runtime.Version()
	r.Machine.LoadAvgStart = loadavg()
	return r
}

// named is a per-target result, found by the target's name.
type named interface{ name() string }

func (x *TargetResult) name() string     { return x.Name }
func (x *CloseResult) name() string      { return x.Name }
func (x *ThroughputResult) name() string { return x.Name }
func (x *RSSResult) name() string        { return x.Name }
func (x *PairedResult) name() string     { return x.Name }

// entry returns the result in list named like t, appending the one made by
// fresh when there is none yet.
func entry[R named](list *[]R, t *target, fresh func() R) R {
	for _, x := range *list {
		if x.name() == t.Name {
			return x
		}
	}
	x := fresh()
	*list = append(*list, x)
	return x
}

func (r *Results) target(t *target) *TargetResult {
	return entry(&r.Targets, t, func() *TargetResult { return &TargetResult{Name: t.Name, What: t.What} })
}

func (r *Results) close(t *target) *CloseResult {
	return entry(&r.Close, t, func() *CloseResult { return &CloseResult{Name: t.Name} })
}

func (r *Results) throughput(t *target) *ThroughputResult {
	return entry(&r.Throughput, t, func() *ThroughputResult { return &ThroughputResult{Name: t.Name} })
}

func (r *Results) paired(t, against *target) *PairedResult {
	return entry(&r.Paired, t, func() *PairedResult { return &PairedResult{Name: t.Name, Against: against.Name} })
}

func (r *Results) rss(t *target) *RSSResult {
	return entry(&r.PeakRSS, t, func() *RSSResult { return &RSSResult{Name: t.Name} })
}

// addLatency adds one round's runs at concurrency 1 and high.
func (tr *TargetResult) addLatency(r1, rc loadResult) {
	tr.c1 = append(tr.c1, r1.Latencies...)
	tr.cc = append(tr.cc, rc.Latencies...)
	tr.c1Wall += r1.Wall
	tr.ccWall += rc.Wall
	tr.c1Good += len(r1.Latencies)
	tr.ccGood += len(rc.Latencies)
	tr.c1Rounds = append(tr.c1Rounds, median(r1.Latencies))
	tr.ccRate = append(tr.ccRate, rc.cps())
	tr.Errors += r1.Errors + rc.Errors
	for _, err := range []error{r1.FirstErr, rc.FirstErr} {
		if err != nil && tr.FirstError == "" {
			tr.FirstError = err.Error()
		}
	}
}

// finish computes the summaries and the ratios to bare.
func (r *Results) finish(b *bench) {
	r.Config = b.cfg
	r.Seconds = time.Since(r.Started).Seconds()
	r.Machine.LoadAvgEnd = loadavg()
	for _, t := range b.targets {
		tr := r.target(t)
		tr.Skipped = b.skipped[t.Name]
		tr.C1 = summarize(tr.c1)
		tr.CC = summarize(tr.cc)
		tr.C1RoundP50 = tr.c1Rounds
		tr.C1Spread = spread(tr.c1Rounds)
		tr.CCRoundCPS = tr.ccRate
		if tr.c1Wall > 0 {
			tr.C1CPS = float64(tr.c1Good) / tr.c1Wall.Seconds()
		}
		if tr.ccWall > 0 {
			tr.CCCPS = float64(tr.ccGood) / tr.ccWall.Seconds()
		}
		if tr.cpuConns > 0 {
			tr.CPUms = float64(tr.cpu.Microseconds()) / 1000 / float64(tr.cpuConns)
		}
		tr.Usage = usagePerConn(tr.usage, tr.usageConns)
	}
	bare := r.Targets[0] // allTargets puts bare first
	for _, tr := range r.Targets {
		tr.RatioP50 = ratio(tr.C1.P50, bare.C1.P50)
		tr.RatioP99 = ratio(tr.C1.P99, bare.C1.P99)
		tr.RatioC1CPS = ratio(tr.C1CPS, bare.C1CPS)
		tr.RatioCCCPS = ratio(tr.CCCPS, bare.CCCPS)
		tr.RatioCPU = ratio(tr.CPUms, bare.CPUms)
		tr.C1RoundRatio = nil
		for i, p := range tr.C1RoundP50 {
			if i < len(bare.C1RoundP50) {
				tr.C1RoundRatio = append(tr.C1RoundRatio, ratio(p, bare.C1RoundP50[i]))
			}
		}
	}
	for _, p := range r.Paired {
		p.Diff = summarize(p.diffs)
		if len(p.diffs) > 0 {
			sorted := append([]float64(nil), p.diffs...)
			sort.Float64s(sorted)
			p.P25, p.P75 = percentile(sorted, 25), percentile(sorted, 75)
		}
	}
	for _, c := range r.Close {
		c.ExitToEOF = summarize(c.exitToEOF)
		c.DataToEOF = summarize(c.dataToEOF)
	}
	var bareTP *ThroughputResult
	for _, tp := range r.Throughput {
		tp.Stream, tp.Total = tp.stream, tp.total
		tp.StreamMed, tp.TotalMed = median(tp.stream), median(tp.total)
		tp.StreamBest = summarize(tp.stream).Max
		if tp.Name == "bare" {
			bareTP = tp
		}
	}
	for _, tp := range r.Throughput {
		if bareTP == nil {
			break
		}
		tp.RatioMed = ratio(tp.StreamMed, bareTP.StreamMed)
		tp.RatioBest = ratio(tp.StreamBest, bareTP.StreamBest)
		var paired []float64
		for i := range tp.rep {
			if j := bareTP.repIndex(tp.rep[i]); j >= 0 {
				paired = append(paired, ratio(tp.stream[i], bareTP.stream[j]))
			}
		}
		tp.RatioPaired = median(paired)
	}
	for _, rr := range r.PeakRSS {
		rr.N = len(rr.kib)
		rr.MedianKiB = median(rr.kib)
		rr.MaxKiB = summarize(rr.kib).Max
	}
}

// write writes r as indented JSON to path, creating its directory.
func (r *Results) write(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// print writes the human-readable report.
func (r *Results) print(w io.Writer) {
	dirty := ""
	if r.Git.Dirty {
		dirty = " (uncommitted changes)"
	}
	fmt.Fprintf(w, "\nsockjail benchmark, commit %s%s, kernel %s, %d CPUs, %s, %.0f s\n", r.Git.Commit, dirty, r.Machine.Kernel, r.Machine.CPUs, r.Started.UTC().Format(time.RFC3339), r.Seconds)
	fmt.Fprintf(w, "load average at start %s, at end %s\n", r.Machine.LoadAvgStart, r.Machine.LoadAvgEnd)

	c := r.Config
	if r.hasLatency() {
		r.printLatency(w)
	}
	if len(r.Paired) > 0 {
		fmt.Fprintf(w, "\nPaired with sockjail-run, static C hello, connect to EOF: one connection of each in turn, %d pairs per variant; what the variant adds per connection\n", c.N)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "variant\tmedian diff ms\tp25 ms\tp75 ms\tpairs\terrors\t\n")
		for _, x := range r.Paired {
			fmt.Fprintf(tw, "%s\t%+.3f\t%+.3f\t%+.3f\t%d\t%d\t\n", x.Name, x.Diff.P50, x.P25, x.P75, x.Diff.N, x.Errors)
		}
		tw.Flush()
		printErrors(w, r.Paired, func(x *PairedResult) (string, string) { return x.Name, x.FirstError })
	}
	if len(r.Close) > 0 {
		fmt.Fprintf(w, "\nClose latency, program exit to client EOF (exitstamp.c), %d connections per target\n", c.CloseN)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "target\tp50 ms\tp99 ms\tmax ms\tdata→EOF p50 ms\tdata→EOF p99 ms\terrors\t\n")
		for _, x := range r.Close {
			fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t\n", x.Name, x.ExitToEOF.P50, x.ExitToEOF.P99, x.ExitToEOF.Max, x.DataToEOF.P50, x.DataToEOF.P99, x.Errors)
		}
		tw.Flush()
		printErrors(w, r.Close, func(x *CloseResult) (string, string) { return x.Name, x.FirstError })
	}

	if len(r.Throughput) > 0 {
		fmt.Fprintf(w, "\nLarge reply, %d MiB, %d repetitions per target; rates from first byte to EOF (total: from connect); paired: median of per-repetition ratios\n", c.ReplyBytes>>20, c.ReplyReps)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "target\tmedian MiB/s\tx bare\tbest MiB/s\tx bare\tpaired x bare\ttotal MiB/s\tspread\terrors\t\n")
		for _, x := range r.Throughput {
			fmt.Fprintf(tw, "%s\t%.0f\t%.3f\t%.0f\t%.3f\t%.3f\t%.0f\t%.0f%%\t%d\t\n", x.Name, x.StreamMed, x.RatioMed, x.StreamBest, x.RatioBest, x.RatioPaired, x.TotalMed, 100*spread(x.Stream), x.Errors)
		}
		tw.Flush()
		for _, x := range r.Throughput {
			if x.Name == "sockjail-serve" {
				if x.ServeCPUms != nil {
					fmt.Fprintf(w, "  sockjail serve's own CPU per reply: %.2f ms, at 10 ms resolution over all replies (copying %d MiB through it would cost tens of ms)\n", *x.ServeCPUms, c.ReplyBytes>>20)
				}
			}
		}
		printErrors(w, r.Throughput, func(x *ThroughputResult) (string, string) { return x.Name, x.FirstError })
	}

	if len(r.PeakRSS) > 0 {
		fmt.Fprintf(w, "\nPeak RSS per connection under systemd-socket-activate (wait4 ru_maxrss of the launcher and its waited-for children), static hello\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "target\tmedian KiB\tmax KiB\tn\terrors\t\n")
		for _, x := range r.PeakRSS {
			fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%d\t%d\t\n", x.Name, x.MedianKiB, x.MaxKiB, x.N, x.Errors)
		}
		tw.Flush()
		printErrors(w, r.PeakRSS, func(x *RSSResult) (string, string) { return x.Name, x.FirstError })
	}
	if r.ServePeakKiB > 0 {
		fmt.Fprintf(w, "sockjail serve peak RSS (VmHWM) after the latency phase: %d KiB\n", r.ServePeakKiB)
	}

	if x := r.ServeIdle; x != nil {
		fmt.Fprintf(w, "\nsockjail serve with %d idle connections open (%d wanted, %d programs running, %d errors)\n", x.Conns, c.IdleConns, x.Programs, x.Errors)
		fmt.Fprintf(w, "  sockjail side (serve + %d helper processes, %d before; %d address spaces): PSS %d → %d KiB, USS %d → %d KiB, page tables %d → %d KiB\n",
			x.Helpers, x.HelpersBefore, x.After.Spaces, x.Before.PssKiB, x.After.PssKiB, x.Before.UssKiB, x.After.UssKiB, x.Before.PteKiB, x.After.PteKiB)
		fmt.Fprintf(w, "  per connection: %.1f KiB (PSS + page tables); the serve process alone: VmRSS %d → %d KiB, %.1f KiB; one idle program: %.0f KiB PSS\n",
			x.PerConnKiB, x.ServeRSSBeforeKiB, x.ServeRSSAfterKiB, x.ServePerConnKiB, x.ProgramPssKiB)
		if x.FirstErr != "" {
			fmt.Fprintf(w, "  first error: %s\n", x.FirstErr)
		}
	}
}

func printErrors[T any](w io.Writer, xs []T, f func(T) (string, string)) {
	for _, x := range xs {
		if name, e := f(x); e != "" {
			fmt.Fprintf(w, "  %s first error: %s\n", name, firstLines(e, 3))
		}
	}
}

func joinFloats(xs []float64, format string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(s, " ")
}

func (r *Results) hasLatency() bool {
	for _, t := range r.Targets {
		if t.C1.N > 0 {
			return true
		}
	}
	return false
}

// printLatency writes the per-connection table.
func (r *Results) printLatency(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "\nPer connection, static C hello, connect to EOF: %d connections at c=1 and %d at c=%d per target, %d rounds, after %d warm-up\n", c.N, c.NConc, c.Conc, c.Rounds, c.Warmup)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "target\tp50 ms\tp99 ms\tp50 x bare\tp99 x bare\tconn/s c=1\tx bare\tconn/s c=%d\tx bare\tCPU ms/conn\tx bare\tround p50s ms (spread)\tminflt/conn\tmajflt/conn\tvol cs/conn\tinvol cs/conn\terrors\t\n", c.Conc)
	for _, t := range r.Targets {
		if t.Skipped != "" {
			fmt.Fprintf(tw, "%s\t—\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\n", t.Name)
			continue
		}
		usage := "—\t—\t—\t—"
		if u := t.Usage; u != nil {
			usage = fmt.Sprintf("%.0f\t%.2f\t%.1f\t%.1f", u.MinorFaults, u.MajorFaults, u.VolSwitches, u.InvSwitches)
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2fx\t%.2fx\t%.0f\t%.2fx\t%.0f\t%.2fx\t%.2f\t%.2fx\t%s (%.0f%%)\t%s\t%d\t\n",
			t.Name, t.C1.P50, t.C1.P99, t.RatioP50, t.RatioP99, t.C1CPS, t.RatioC1CPS, t.CCCPS, t.RatioCCCPS,
			t.CPUms, t.RatioCPU, joinFloats(t.C1RoundP50, "%.2f"), 100*t.C1Spread, usage, t.Errors)
	}
	tw.Flush()
	for _, t := range r.Targets {
		if t.Skipped != "" {
			fmt.Fprintf(w, "  %s not measured: %s\n", t.Name, firstLines(t.Skipped, 3))
		} else if t.FirstError != "" {
			fmt.Fprintf(w, "  %s first error: %s\n", t.Name, t.FirstError)
		}
	}
}
