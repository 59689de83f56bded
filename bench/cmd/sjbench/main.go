// Command sjbench is sockjail's side-by-side benchmark (issue 7). One run,
// with this one client, measures the same workloads against the bare program
// under systemd-socket-activate, sockjail run, sockjail serve, bubblewrap
// and firejail, and prints a table of the results with every ratio taken
// against the bare program of the same run. It writes the same as JSON to
// bench/results/ for comparisons between commits.
//
// Run it as `make bench` (BENCH_N=... for more connections), or
//
//	go run ./bench/cmd/sjbench [-n 300] [-targets bare,sockjail-run]
//
// It needs root: sockjail's private /tmp needs a mount namespace, and the
// served programs are installed under /usr/lib, where sockjail's default
// policy lets a program execute. bench/README.md describes each measurement
// and why it is taken that way.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/sockjail/sockjail/internal/testenv"
)

// config holds the sizes of one run; it is recorded in the JSON.
type config struct {
	N           int   `json:"n"`            // connections per target at concurrency 1
	Rounds      int   `json:"rounds"`       // the N are split over this many rounds
	Conc        int   `json:"concurrency"`  // the high concurrency
	NConc       int   `json:"n_concurrent"` // connections per target at Conc
	Warmup      int   `json:"warmup"`       // unmeasured connections per target first
	CloseN      int   `json:"close_n"`      // close-latency connections per target
	ReplyBytes  int64 `json:"reply_bytes"`  // the large reply's size
	ReplyReps   int   `json:"reply_reps"`   // large replies per target
	RSSConns    int   `json:"rss_conns"`    // connections measured for peak RSS
	IdleConns   int   `json:"idle_conns"`   // open idle connections for serve's memory
	ServePolicy string
}

// bench is one benchmark run.
type bench struct {
	cfg         config
	root        string // the module root
	work        string // scratch: logs, rss files, the serve policy
	bin         string // where the served programs are installed
	sockjail    string // the sockjail binary, "" when unavailable
	sockjailErr error
	subErr      map[string]error // sockjail subcommand → why it cannot run
	targets     []*target
	skipped     map[string]string // target name → why it is not measured
	res         *Results
}

func main() {
	os.Exit(mainErr())
}

func mainErr() int {
	var (
		n           = flag.Int("n", envInt("BENCH_N", 300), "connections per target at concurrency 1 (env BENCH_N)")
		rounds      = flag.Int("rounds", 3, "rounds the connections are split over; target order rotates each round")
		conc        = flag.Int("c", 16, "the high concurrency")
		only        = flag.String("targets", "", "comma-separated targets to measure (default: all installed); bare is always included")
		phases      = flag.String("phases", "latency,paired,close,throughput,rss,idle", "measurements to take, in this order")
		replyMiB    = flag.Int64("reply-mib", 100, "size of the large reply in MiB")
		idle        = flag.Int("idle", 500, "open idle connections for serve's memory per connection")
		sjPath      = flag.String("sockjail", "", "the sockjail binary to measure (default: build ./cmd/sockjail)")
		progDir     = flag.String("progdir", "/usr/lib", "install the served programs in a new directory under this one (sockjail's default policy executes only from the system's directories); removed afterwards")
		outDir      = flag.String("out", "bench/results", "directory for the JSON results, relative to the module root")
		jsonOut     = flag.String("json", "", "write the JSON here instead of OUT/<date>-<commit>.json")
		variants    policyVariants
		envVariants policyVariants
		binVariants policyVariants
	)
	flag.Var(&envVariants, "run-env", "NAME=K=V[,K=V]: also measure `env K=V... sockjail run` as target run-env:NAME (repeatable; e.g. GOGC=off); compare with run-env:none, which is added with it")
	flag.Var(&binVariants, "run-bin", "NAME=PATH: also measure `PATH run` (another sockjail build, say the one before a change) as target run-bin:NAME, interleaved with sockjail-run in the same rounds (repeatable)")
	flag.Var(&variants, "run-policy", "NAME=FILE: also measure `sockjail run --policy FILE` as target run:NAME (repeatable; to find what a policy setting costs)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: sjbench [flags]\n       sjbench compare OLD.json NEW.json\n\nflags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		if flag.Arg(0) != "compare" || flag.NArg() != 3 {
			flag.Usage()
			return 64
		}
		if err := compare(os.Stdout, flag.Arg(1), flag.Arg(2)); err != nil {
			fmt.Fprintln(os.Stderr, "sjbench:", err)
			return 1
		}
		return 0
	}
	if *n < 10 || *rounds < 1 || *conc < 1 || *replyMiB < 1 || *idle < 1 {
		fmt.Fprintln(os.Stderr, "sjbench: -n must be at least 10; -rounds, -c, -reply-mib and -idle at least 1")
		return 64
	}
	cfg := config{
		N: *n, Rounds: *rounds, Conc: *conc, NConc: 2 * *n, Warmup: 20,
		CloseN: max(100, *n/3), ReplyBytes: *replyMiB << 20, ReplyReps: 15,
		RSSConns: 20, IdleConns: *idle,
	}
	b, err := newBench(cfg, *progDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sjbench:", err)
		return 1
	}
	defer b.cleanup()
	if *sjPath != "" {
		b.sockjail, _ = filepath.Abs(*sjPath)
	} else {
		logf("building sockjail")
		b.buildSockjail()
	}
	if b.sockjailErr != nil {
		logf("sockjail is not measured: %v", b.sockjailErr)
	}
	b.checkSubcommands()
	b.selectTargets(strings.Split(*only, ","))
	if len(envVariants) > 0 {
		envVariants = append(policyVariants{{"none", ""}}, envVariants...)
	}
	// The variants are measured beside the selected targets, or listed
	// as not measured with the reason.
	addVariant := func(t *target) {
		if err := b.missing(t); err != nil {
			b.skip(t, err.Error())
		}
		b.targets = append(b.targets, t)
	}
	for _, v := range envVariants {
		addVariant(runEnvVariant(v.name, strings.Split(v.file, ",")))
	}
	for _, vs := range []struct {
		list policyVariants
		make func(name, path string) *target
	}{{binVariants, runBinVariant}, {variants, runVariant}} {
		for _, v := range vs.list {
			abs, err := filepath.Abs(v.file)
			if err != nil {
				fmt.Fprintln(os.Stderr, "sjbench:", err)
				return 64
			}
			addVariant(vs.make(v.name, abs))
		}
	}
	if why := b.skipped["bare"]; why != "" {
		fmt.Fprintln(os.Stderr, "sjbench: the baseline cannot run:", why)
		return 1
	}
	if err := b.runPhases(strings.Split(*phases, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "sjbench:", err)
		return 64
	}
	b.res.finish(b)
	b.res.print(os.Stdout)

	path := *jsonOut
	if path == "" {
		name := fmt.Sprintf("%s-%s.json", b.res.Started.UTC().Format("2006-01-02T1504Z"), b.res.Git.Commit)
		path = filepath.Join(b.root, *outDir, name)
	}
	if err := b.res.write(path); err != nil {
		fmt.Fprintln(os.Stderr, "sjbench: writing results:", err)
		return 1
	}
	fmt.Printf("\nresults: %s\nlauncher logs: %s/logs\n", path, b.work)
	return 0
}

// newBench prepares a run: a scratch directory, the served programs built
// into a new directory under progParent, and the policy for sockjail serve.
func newBench(cfg config, progParent string) (*bench, error) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "sjbench-")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(work, "logs"), 0o755); err != nil {
		return nil, err
	}
	// A directory of its own, so that two runs never share or remove
	// each other's programs; world-readable, since the programs run as
	// nobody.
	bin, err := os.MkdirTemp(progParent, "sjbench-")
	if err == nil {
		err = os.Chmod(bin, 0o755)
	}
	if err != nil {
		return nil, fmt.Errorf("%w\nsjbench: hint: run as root, or pass -progdir", err)
	}
	b := &bench{cfg: cfg, root: root, work: work, bin: bin, skipped: map[string]string{}, subErr: map[string]error{}}
	b.res = newResults(b)
	logf("building the served programs into %s", b.bin)
	if err := b.buildPrograms(); err != nil {
		return nil, err
	}
	if err := b.buildForkwait(); err != nil {
		return nil, err
	}
	if err := b.writeServePolicy(); err != nil {
		return nil, err
	}
	return b, nil
}

// cleanup removes the installed programs; the scratch directory with the
// launcher logs stays for inspection.
func (b *bench) cleanup() { os.RemoveAll(b.bin) }

// selectTargets picks the targets named in only (all when only names none)
// plus bare, and marks those that cannot run as skipped.
func (b *bench) selectTargets(only []string) {
	want := map[string]bool{}
	for _, t := range only {
		if t != "" {
			want[t] = true
		}
	}
	for _, t := range allTargets() {
		if len(want) > 0 && !want[t.Name] && t.Name != "bare" {
			continue
		}
		if err := b.missing(t); err != nil {
			b.skip(t, err.Error())
		}
		b.targets = append(b.targets, t)
	}
}

// runPhases takes the named measurements in order.
func (b *bench) runPhases(phases []string) error {
	for _, ph := range phases {
		switch ph {
		case "latency":
			b.latency()
		case "paired":
			b.paired()
		case "close":
			b.closeLatency()
		case "throughput":
			b.throughput()
		case "rss":
			b.peakRSS()
		case "idle":
			b.serveIdle()
		case "":
		default:
			return fmt.Errorf("unknown phase %q", ph)
		}
	}
	return nil
}

// skip marks t as not measured, with the reason, once.
func (b *bench) skip(t *target, why string) {
	if b.skipped[t.Name] == "" {
		b.skipped[t.Name] = why
		logf("%s: not measured: %s", t.Name, why)
	}
}

// live returns the targets still being measured, rotated by r so that no
// target always runs first (or right after the same neighbour) in a round.
func (b *bench) live(r int) []*target {
	var ts []*target
	for _, t := range b.targets {
		if b.skipped[t.Name] == "" {
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return ts
	}
	r %= len(ts)
	return append(ts[r:], ts[:r]...)
}

// writeServePolicy writes the policy `sockjail serve` runs with: the
// embedded default (every omitted key keeps its default, so the confinement
// is the default one) with two kinds of limit raised. The connection limits,
// since every benchmark connection comes from one source and the idle phase
// holds hundreds open. And RLIMIT_NPROC: every program runs as nobody, and
// the kernel counts that limit over all of nobody's processes on the host,
// so the default 256 would stop the idle phase at about 256 programs (execve
// fails with EAGAIN). RLIMIT_NOFILE keeps its default: the sandbox applies
// it after its own setup, which no longer runs out of descriptors while
// serve holds hundreds of connections (it did before, at about 240).
func (b *bench) writeServePolicy() error {
	b.cfg.ServePolicy = filepath.Join(b.work, "serve.toml")
	lim := max(1024, b.cfg.IdleConns+b.cfg.Conc+16)
	text := fmt.Sprintf("# sjbench: the default policy, connection and process limits raised\nversion = 1\n\n[serve]\nmax_connections = %d\nmax_per_source = %d\n\n[limits]\nnproc = %d\n", lim, lim, 4*lim)
	return os.WriteFile(b.cfg.ServePolicy, []byte(text), 0o644)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "sjbench: "+format+"\n", args...)
}

func envInt(name string, def int) int {
	var v int
	if _, err := fmt.Sscan(os.Getenv(name), &v); err == nil && v > 0 {
		return v
	}
	return def
}

// gitInfo returns the short commit of the module and whether the tree has
// changes not committed.
func gitInfo(root string) (commit string, dirty bool) {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "nogit", false
	}
	st, _ := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output()
	return strings.TrimSpace(string(out)), len(strings.TrimSpace(string(st))) > 0
}

func loadavg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func kernel() string {
	data, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(data))
}

// policyVariant is one -run-policy flag.
type policyVariant struct{ name, file string }

type policyVariants []policyVariant

func (v *policyVariants) String() string { return fmt.Sprint(*v) }

func (v *policyVariants) Set(s string) error {
	name, file, ok := strings.Cut(s, "=")
	if !ok || name == "" || file == "" {
		return fmt.Errorf("want NAME=FILE, got %q", s)
	}
	*v = append(*v, policyVariant{name, file})
	return nil
}
