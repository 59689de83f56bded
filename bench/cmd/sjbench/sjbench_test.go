package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sockjail/sockjail/internal/testenv"
)

// newTestBench builds the served programs into a temporary directory, with
// sizes small enough for the test suite.
func newTestBench(t *testing.T) *bench {
	t.Helper()
	testenv.LookTool(t, "gcc")
	testenv.LookTool(t, "systemd-socket-activate")
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/libc.a"); err != nil {
		testenv.SkipOrFail(t, "libc6-dev (static libc) is not installed")
	}
	cfg := config{N: 12, Rounds: 2, Conc: 4, NConc: 24, Warmup: 3, CloseN: 10,
		ReplyBytes: 8 << 20, ReplyReps: 2, RSSConns: 4, IdleConns: 4}
	b, err := newBench(cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(b.work); b.cleanup() })
	return b
}

// TestBareRun runs every phase against the bare program, the baseline every
// other figure is divided by, and checks that the figures are there and
// plausible. It asserts no speed.
func TestBareRun(t *testing.T) {
	b := newTestBench(t)
	b.selectTargets([]string{"bare"})
	if why := b.skipped["bare"]; why != "" {
		t.Fatalf("bare skipped: %s", why)
	}
	if err := b.runPhases([]string{"latency", "close", "throughput", "rss"}); err != nil {
		t.Fatal(err)
	}
	b.res.finish(b)
	path := filepath.Join(t.TempDir(), "r.json")
	if err := b.res.write(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r Results
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("results are not JSON: %v", err)
	}

	bare := r.Targets[0]
	if bare.Name != "bare" || bare.Errors != 0 || bare.C1.N != 12 || bare.CC.N != 24 {
		t.Errorf("bare latency: %+v", bare)
	}
	if !(bare.C1.Min > 0 && bare.C1.P50 <= bare.C1.P99) || bare.C1CPS <= 0 || bare.CCCPS <= 0 {
		t.Errorf("bare latency figures implausible: %+v", bare)
	}
	if bare.RatioP50 != 1 || bare.RatioC1CPS != 1 || len(bare.C1RoundP50) != 2 {
		t.Errorf("bare ratios %v %v, rounds %v: want 1, 1 and two rounds", bare.RatioP50, bare.RatioC1CPS, bare.C1RoundP50)
	}
	// The launcher's wait4 rusage over warm-up and measured connections:
	// every exec of the static hello faults in some pages, far fewer than
	// a thousand; a process that runs and exits switches at least once.
	if u := bare.Usage; u == nil || u.Conns != 3+12+24 || u.MinorFaults < 1 || u.MinorFaults > 1000 || u.VolSwitches+u.InvSwitches <= 0 {
		t.Errorf("bare usage per connection: %+v", u)
	}
	if len(r.Close) != 1 || r.Close[0].ExitToEOF.N != 10 || r.Close[0].ExitToEOF.Min < 0 || r.Close[0].Errors != 0 {
		t.Errorf("close latency: %+v", r.Close)
	}
	if len(r.Throughput) != 1 || len(r.Throughput[0].Stream) != 2 || r.Throughput[0].RatioMed != 1 || r.Throughput[0].Errors != 0 {
		t.Errorf("throughput: %+v", r.Throughput)
	}
	// Comparing a run with itself changes nothing.
	var out strings.Builder
	if err := compare(&out, path, path); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "bare") || !strings.Contains(out.String(), "+0%") {
		t.Errorf("compare of a run with itself:\n%s", out.String())
	}

	// The static hello's own peak RSS: more than nothing, far below a
	// megabyte or ten.
	if len(r.PeakRSS) != 1 || r.PeakRSS[0].N != 4 || r.PeakRSS[0].MedianKiB < 64 || r.PeakRSS[0].MedianKiB > 10<<10 {
		t.Errorf("peak RSS: %+v", r.PeakRSS)
	}
}

// TestChecksCatchWrongReplies makes sure a launcher that answers wrongly is
// counted as failing, not measured: the checks of every phase reject a
// reply that is not the one the program writes.
func TestChecksCatchWrongReplies(t *testing.T) {
	b := newTestBench(t)
	b.selectTargets([]string{"bare"})
	in, err := b.start(b.targets[0], []string{filepath.Join(b.bin, "hello")}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer in.stop()
	r := load(in.port, 5, 2, expectReply("Goodbye\n"))
	if r.Errors != 5 || len(r.Latencies) != 0 || r.FirstErr == nil {
		t.Errorf("load with the wrong expected reply: %d errors, %d good, first %v; want 5, 0, an error", r.Errors, len(r.Latencies), r.FirstErr)
	}
	s, err := fetch(in.port, make([]byte, 100), patternConsumer())
	if err == nil {
		t.Errorf("pattern check accepted %q", s.head)
	}
	if _, err := exitStamp(s); err == nil {
		t.Errorf("exitStamp accepted %q", s.head)
	}
}

func TestUsagePerConn(t *testing.T) {
	tests := []struct {
		name  string
		ru    syscall.Rusage
		conns int
		want  *UsagePerConn
	}{
		{"none served", syscall.Rusage{Minflt: 10}, 0, nil},
		{"one", syscall.Rusage{Minflt: 300, Majflt: 2, Nvcsw: 7, Nivcsw: 1}, 1,
			&UsagePerConn{Conns: 1, MinorFaults: 300, MajorFaults: 2, VolSwitches: 7, InvSwitches: 1}},
		{"split", syscall.Rusage{Minflt: 1000, Majflt: 1, Nvcsw: 50, Nivcsw: 3}, 4,
			&UsagePerConn{Conns: 4, MinorFaults: 250, MajorFaults: 0.25, VolSwitches: 12.5, InvSwitches: 0.75}},
	}
	for _, tt := range tests {
		got := usagePerConn(tt.ru, tt.conns)
		if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
			t.Errorf("%s: usagePerConn = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestExitStamp(t *testing.T) {
	tests := []struct {
		reply string
		want  int64
		ok    bool
	}{
		{"exit 123456789\n", 123456789, true},
		{"exit 12\n", 12, true},
		{"exit \n", 0, false},
		{"exit 12", 0, false},
		{"Hello World\n", 0, false},
		{"exit x\n", 0, false},
	}
	for _, tt := range tests {
		got, err := exitStamp(sample{head: []byte(tt.reply), bytes: int64(len(tt.reply))})
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("exitStamp(%q) = %d, %v; want %d, ok=%v", tt.reply, got, err, tt.want, tt.ok)
		}
	}
	// A reply longer than the stamp is not a stamp.
	if _, err := exitStamp(sample{head: []byte("exit 1\n"), bytes: 20}); err == nil {
		t.Error("exitStamp accepted a reply with trailing bytes")
	}
}

func TestPatternConsumer(t *testing.T) {
	c := patternConsumer()
	for _, tt := range []struct {
		off  int64
		data string
		ok   bool
	}{
		{0, "abcdef", true},
		{25, "zabc", true},
		{26 * 1000, "abc", true},
		{1, "abc", false},
		{0, "abd", false},
	} {
		if err := c(tt.off, []byte(tt.data)); (err == nil) != tt.ok {
			t.Errorf("pattern at %d %q: %v, want ok=%v", tt.off, tt.data, err, tt.ok)
		}
	}
}
