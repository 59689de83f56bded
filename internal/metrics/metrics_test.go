package metrics

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/sys/unix"
)

// parse checks the exposition with Prometheus's own text parser and returns
// its families by name.
func parse(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	var b bytes.Buffer
	if err := m.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatalf("Prometheus's parser rejects the exposition: %v\n%s", err, b.String())
	}
	return fams
}

// value returns the value of the sample of family name whose labels are
// exactly labels ("k=v,k=v" sorted by name, or "").
func value(t *testing.T, fams map[string]*dto.MetricFamily, name, labels string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
	for _, mt := range f.Metric {
		var parts []string
		for _, l := range mt.Label {
			parts = append(parts, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(parts)
		if strings.Join(parts, ",") != labels {
			continue
		}
		switch {
		case mt.Counter != nil:
			return mt.Counter.GetValue()
		case mt.Gauge != nil:
			return mt.Gauge.GetValue()
		case mt.Histogram != nil:
			return float64(mt.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no sample %s{%s}", name, labels)
	return 0
}

func TestExposition(t *testing.T) {
	m := New([]string{"max-connections", "proxy-header"}, []string{"max-duration"})
	m.SetMaxSessions(64)
	ready := true
	m.SetReady(func() bool { return ready })
	m.SetNodesInUse(func() (int, int) { return 2, 5 })
	m.SessionServed()
	m.SessionServed()
	m.SessionEnded(30*time.Millisecond, 10, 1000)
	m.Refused("max-connections")
	m.Refused("proxy-header")
	m.Refused("proxy-header")
	m.HealthCheck(CheckProxyLocal)
	m.ProgramKilled("max-duration")
	m.OOMKills(2)
	m.OOMKills(0)
	m.SandboxStarted(3 * time.Millisecond)
	m.Reloaded(false)

	cpuBefore := selfCPU(t)
	fams := parse(t, m)
	cpuAfter := selfCPU(t)
	for _, c := range []struct {
		name, labels string
		want         float64
	}{
		{"sockjail_sessions_total", "result=served", 2},
		{"sockjail_sessions_total", "reason=max-connections,result=refused", 1},
		{"sockjail_sessions_total", "reason=proxy-header,result=refused", 2},
		{"sockjail_sessions_active", "", 1},
		{"sockjail_sessions_max", "", 64},
		{"sockjail_session_duration_seconds", "", 1},
		{"sockjail_sandbox_start_seconds", "", 1},
		{"sockjail_bytes_total", "direction=rx", 10},
		{"sockjail_bytes_total", "direction=tx", 1000},
		{"sockjail_programs_killed_total", "why=max-duration", 1},
		{"sockjail_cgroup_oom_kills_total", "", 2},
		{"sockjail_health_checks_total", "kind=proxy-local", 1},
		{"sockjail_health_checks_total", "kind=tcp", 0},
		{"sockjail_policy_reloads_total", "result=failed", 1},
		{"sockjail_policy_reloads_total", "result=ok", 0},
		{"sockjail_ready", "", 1},
		{"sockjail_nodes_in_use", "", 2},
		{"sockjail_node_highest", "", 5},
		{"go_goroutines", "", -1},
		{"process_resident_memory_bytes", "", -1},
		{"process_open_fds", "", -1},
		{"process_max_fds", "", -1},
		{"process_start_time_seconds", "", -1},
	} {
		got := value(t, fams, c.name, c.labels)
		if c.want >= 0 && got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, c.labels, got, c.want)
		}
		if c.want < 0 && got <= 0 {
			t.Errorf("%s{%s} = %v, want > 0", c.name, c.labels, got)
		}
	}
	h := fams["sockjail_session_duration_seconds"].Metric[0].Histogram
	if h.GetSampleSum() != 0.03 {
		t.Errorf("duration sum %v, want 0.03", h.GetSampleSum())
	}
	for _, b := range h.Bucket {
		want := uint64(0)
		if b.GetUpperBound() >= 0.03 {
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("duration bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	// The process's CPU time is read during the scrape, so it lies between
	// this process's own readings before and after it.
	if cpu := value(t, fams, "process_cpu_seconds_total", ""); cpu < cpuBefore || cpu > cpuAfter || cpu <= 0 {
		t.Errorf("process_cpu_seconds_total %v, want within [%v, %v] and > 0", cpu, cpuBefore, cpuAfter)
	}
	start := value(t, fams, "process_start_time_seconds", "")
	if now := float64(time.Now().Unix()); start > now+1 || start < now-3600 {
		t.Errorf("process_start_time_seconds %v, now %v", start, now)
	}

	ready = false
	if v := value(t, parse(t, m), "sockjail_ready", ""); v != 0 {
		t.Errorf("sockjail_ready %v after the server turned unready", v)
	}
}

// TestLabelValuesBounded: label values that sockjail did not name in
// advance (a reason added later, or a bug passing something variable) are
// capped, so the exposition and the memory behind it stay bounded.
func TestLabelValuesBounded(t *testing.T) {
	m := New([]string{"max-connections"}, nil)
	for i := 0; i < 1000; i++ {
		m.Refused(fmt.Sprintf("reason-%d", i))
		m.ProgramKilled(fmt.Sprintf("why-%d", i))
	}
	fams := parse(t, m)
	for _, c := range []struct {
		name string
		max  int
	}{
		// served, the initial reason, 16 more, other.
		{"sockjail_sessions_total", 1 + 1 + maxExtraValues + 1},
		{"sockjail_programs_killed_total", maxExtraValues + 1},
	} {
		if n := len(fams[c.name].Metric); n > c.max {
			t.Errorf("%s has %d series, want at most %d", c.name, n, c.max)
		}
	}
	other := value(t, fams, "sockjail_sessions_total", "reason=other,result=refused")
	if other != 1000-maxExtraValues {
		t.Errorf("other = %v, want %d", other, 1000-maxExtraValues)
	}
}

// TestLabelEscaping: a value with quotes, backslashes and a newline is
// still one valid sample.
func TestLabelEscaping(t *testing.T) {
	m := New(nil, nil)
	m.ProgramKilled("a\"b\\c\nd")
	fams := parse(t, m)
	if v := value(t, fams, "sockjail_programs_killed_total", "why=a\"b\\c\nd"); v != 1 {
		t.Errorf("escaped value counted %v", v)
	}
}

// TestConcurrent updates from many goroutines while scraping: counts add
// up and the race detector stays quiet.
func TestConcurrent(t *testing.T) {
	m := New([]string{"x"}, nil)
	var wg sync.WaitGroup
	const workers, each = 8, 1000
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				m.SessionServed()
				m.Refused("x")
				m.SessionEnded(time.Millisecond, 1, 2)
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			default:
				parse(t, m)
			}
		}
	}()
	wg.Wait()
	close(done)
	s := m.Snapshot()
	if s.Served != workers*each || s.Refused["x"] != workers*each || s.Active != 0 || s.Sessions != workers*each || s.RxBytes != workers*each {
		t.Errorf("snapshot %+v", s)
	}
}

// TestNil: a nil *Metrics (sockjail run) counts nothing and does not panic.
func TestNil(t *testing.T) {
	var m *Metrics
	m.SessionServed()
	m.SessionEnded(time.Second, 1, 1)
	m.Refused("x")
	m.HealthCheck(CheckTCP)
	m.ProgramKilled("x")
	m.SandboxStarted(time.Second)
	m.Reloaded(true)
	m.SetMaxSessions(1)
	m.OOMKills(1)
	m.SetReady(func() bool { return true })
	if s := m.Snapshot(); s.Served != 0 {
		t.Fatal("nil metrics counted")
	}
}

// selfCPU returns this process's user plus system time in seconds.
func selfCPU(t *testing.T) float64 {
	t.Helper()
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return cpuSeconds(ru)
}
