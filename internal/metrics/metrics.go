// Package metrics counts what `sockjail serve` does, for the admin
// listener's /metrics: sessions served and refused, sessions live, their
// durations, the sandbox's start time, bytes, programs killed and health
// checks answered. internal/serve and internal/session update one Metrics;
// internal/admin writes it out in the Prometheus text exposition format
// (version 0.0.4) with [Metrics.WriteText].
//
// Every label value comes from a small set that sockjail names itself (a
// refusal reason, a kill reason, a check kind), never from a caller: no peer
// address, port or program output ends up in a label. A value outside the
// known set is still counted, as one of at most [maxExtraValues] further
// values per label and as "other" beyond them, so a caller cannot grow the
// output or the memory behind it.
//
// A nil *Metrics is valid and counts nothing: `sockjail run`, which serves
// one connection and has no admin listener, passes nil.
//
// Not covered: the exposition is hand-written (docs/design.md says why: the
// Prometheus client libraries made every `sockjail run` start measurably
// slower); the tests check it with Prometheus's own parser. There is no
// push, no OpenMetrics format, no protobuf format and no exemplar.
package metrics

import (
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Results of a session, the values of sockjail_sessions_total's result label.
const (
	ResultServed  = "served"
	ResultRefused = "refused"
)

// Kinds of health check, the values of sockjail_health_checks_total's kind
// label and of the policy's [serve] health_check.
const (
	CheckProxyLocal = "proxy-local"
	CheckTCP        = "tcp"
)

// maxExtraValues bounds the label values a counter accepts beyond the ones
// it was created with; later values are counted as "other".
const maxExtraValues = 16

// Buckets of the histograms, in seconds. Session durations run from a
// hello-world's milliseconds to interactive sessions of an hour; sandbox
// starts from a fraction of a millisecond on an idle host to a busy host's
// hundreds of milliseconds.
var (
	sessionDurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}
	sandboxStartBuckets    = []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5}
)

// Metrics is one server's counters. Its methods are safe for concurrent use
// and cost a few atomic operations each.
type Metrics struct {
	started time.Time

	served          atomic.Uint64
	refused         *labeledCounter // by reason
	healthChecks    *labeledCounter // by kind
	pow             *labeledCounter // proof of work, by result
	killed          *labeledCounter // by why
	reloads         *labeledCounter // by result
	active          atomic.Int64
	maxSessions     atomic.Int64
	oomKills        atomic.Uint64
	rxBytes         atomic.Uint64
	txBytes         atomic.Uint64
	sessionDuration *histogram
	sandboxStart    *histogram

	ready atomic.Pointer[func() bool]
	nodes atomic.Pointer[func() (inUse, highest int)]
}

// New returns Metrics with every known label value at zero, so that a
// counter exists (and rate() works) before its first event. refusals and
// kills name the reasons the caller knows of.
func New(refusals, kills []string) *Metrics {
	return &Metrics{
		started:         time.Now(),
		refused:         newLabeledCounter(refusals),
		healthChecks:    newLabeledCounter([]string{CheckProxyLocal, CheckTCP}),
		pow:             newLabeledCounter(PoWResults),
		killed:          newLabeledCounter(kills),
		reloads:         newLabeledCounter([]string{"ok", "failed"}),
		sessionDuration: newHistogram(sessionDurationBuckets),
		sandboxStart:    newHistogram(sandboxStartBuckets),
	}
}

// SessionServed counts a connection whose program is started, and one more
// live session until SessionEnded.
func (m *Metrics) SessionServed() {
	if m == nil {
		return
	}
	m.served.Add(1)
	m.active.Add(1)
}

// SessionEnded counts the end of a session counted by SessionServed, after
// d, with rx bytes received from the client and tx bytes sent to it (0 when
// unknown).
func (m *Metrics) SessionEnded(d time.Duration, rx, tx int64) {
	if m == nil {
		return
	}
	m.active.Add(-1)
	m.sessionDuration.observe(d.Seconds())
	m.Bytes(rx, tx)
}

// Bytes counts bytes received from and sent to clients.
func (m *Metrics) Bytes(rx, tx int64) {
	if m == nil {
		return
	}
	if rx > 0 {
		m.rxBytes.Add(uint64(rx))
	}
	if tx > 0 {
		m.txBytes.Add(uint64(tx))
	}
}

// Refused counts a connection refused for reason without starting the
// program.
func (m *Metrics) Refused(reason string) {
	if m == nil {
		return
	}
	m.refused.inc(reason)
}

// HealthCheck counts a health check of kind (CheckProxyLocal, CheckTCP)
// answered without starting the program.
func (m *Metrics) HealthCheck(kind string) {
	if m == nil {
		return
	}
	m.healthChecks.inc(kind)
}

// PoWResults are the values of sockjail_pow_total's result label: how a
// proof of work ended (internal/gate's results).
var PoWResults = []string{"solved", "failed", "timed-out", "closed"}

// PoW counts a proof of work that ended with result.
func (m *Metrics) PoW(result string) {
	if m == nil {
		return
	}
	m.pow.inc(result)
}

// ProgramKilled counts a program whose process tree sockjail ended, and
// why ("max-duration", "idle-timeout", …).
func (m *Metrics) ProgramKilled(why string) {
	if m == nil {
		return
	}
	m.killed.inc(why)
}

// OOMKills counts processes that the kernel's OOM killer ended in sessions'
// cgroups (the policy's [limits] memory).
func (m *Metrics) OOMKills(n uint64) {
	if m == nil || n == 0 {
		return
	}
	m.oomKills.Add(n)
}

// SandboxStarted records how long starting the confined program took.
func (m *Metrics) SandboxStarted(d time.Duration) {
	if m == nil {
		return
	}
	m.sandboxStart.observe(d.Seconds())
}

// Reloaded counts a policy reload, ok or failed.
func (m *Metrics) Reloaded(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.reloads.inc("ok")
	} else {
		m.reloads.inc("failed")
	}
}

// SetMaxSessions records the max_connections in force.
func (m *Metrics) SetMaxSessions(n int) {
	if m == nil {
		return
	}
	m.maxSessions.Store(int64(n))
}

// SetReady sets the function that sockjail_ready reports (1 when it
// returns true).
func (m *Metrics) SetReady(ready func() bool) {
	if m == nil {
		return
	}
	m.ready.Store(&ready)
}

// SetNodesInUse sets the function that sockjail_nodes_in_use and
// sockjail_node_highest report: how many node numbers (SOCKJAIL_NODE) live
// connections hold, and the highest of them (0: none).
func (m *Metrics) SetNodesInUse(nodes func() (inUse, highest int)) {
	if m == nil {
		return
	}
	m.nodes.Store(&nodes)
}

// Snapshot is a copy of the counters, for tests and status lines.
type Snapshot struct {
	Served       uint64
	Refused      map[string]uint64
	HealthChecks map[string]uint64
	Killed       map[string]uint64
	Active       int64
	Sessions     uint64 // sessions ended (the duration histogram's count)
	SandboxStart uint64 // starts measured
	RxBytes      uint64
	TxBytes      uint64
}

// Snapshot returns the counters now.
func (m *Metrics) Snapshot() Snapshot {
	if m == nil {
		return Snapshot{}
	}
	return Snapshot{
		Served:       m.served.Load(),
		Refused:      m.refused.snapshot(),
		HealthChecks: m.healthChecks.snapshot(),
		Killed:       m.killed.snapshot(),
		Active:       m.active.Load(),
		Sessions:     m.sessionDuration.count.Load(),
		SandboxStart: m.sandboxStart.count.Load(),
		RxBytes:      m.rxBytes.Load(),
		TxBytes:      m.txBytes.Load(),
	}
}

// WriteText writes every metric in the Prometheus text exposition format,
// version 0.0.4 (Content-Type "text/plain; version=0.0.4; charset=utf-8"),
// the process's own metrics included.
func (m *Metrics) WriteText(w io.Writer) error {
	var b strings.Builder
	b.Grow(8 << 10)
	e := expo{&b}

	e.header("sockjail_sessions_total", "counter", "Connections accepted, by result: served (the program was started) or refused (with the reason; the program was not started). Health checks are not counted here.")
	e.sample("sockjail_sessions_total", `result="served"`, float64(m.served.Load()))
	m.refused.each(func(reason string, n uint64) {
		e.sample("sockjail_sessions_total", `result="refused",reason=`+quoteLabel(reason), float64(n))
	})

	e.header("sockjail_sessions_active", "gauge", "Sessions whose program is running or whose connection is being closed.")
	e.sample("sockjail_sessions_active", "", float64(m.active.Load()))
	e.header("sockjail_sessions_max", "gauge", "The policy's [serve] max_connections in force.")
	e.sample("sockjail_sessions_max", "", float64(m.maxSessions.Load()))

	e.histogram("sockjail_session_duration_seconds", "Duration of served sessions, from accept to the end of the close.", m.sessionDuration)
	e.histogram("sockjail_sandbox_start_seconds", "Time to start the confined program: namespaces, Landlock, seccomp, credentials and exec.", m.sandboxStart)

	e.header("sockjail_bytes_total", "counter", "Bytes of served sessions, received from the clients (rx) and sent to them and acknowledged (tx), as TCP_INFO counts them.")
	e.sample("sockjail_bytes_total", `direction="rx"`, float64(m.rxBytes.Load()))
	e.sample("sockjail_bytes_total", `direction="tx"`, float64(m.txBytes.Load()))

	e.header("sockjail_programs_killed_total", "counter", "Programs whose process tree sockjail ended before they exited, by why.")
	m.killed.each(func(why string, n uint64) {
		e.sample("sockjail_programs_killed_total", "why="+quoteLabel(why), float64(n))
	})

	e.header("sockjail_cgroup_oom_kills_total", "counter", "Processes the kernel's OOM killer ended in sessions' cgroups ([limits] memory); the session is then ended too (sockjail_programs_killed_total{why=\"oom\"}).")
	e.sample("sockjail_cgroup_oom_kills_total", "", float64(m.oomKills.Load()))

	e.header("sockjail_health_checks_total", "counter", "Load balancer health checks answered without starting the program, by kind.")
	m.healthChecks.each(func(kind string, n uint64) {
		e.sample("sockjail_health_checks_total", "kind="+quoteLabel(kind), float64(n))
	})

	e.header("sockjail_pow_total", "counter", "Proofs of work ([serve] pow) by result: solved, failed (a wrong answer), timed-out (none within pow_timeout), closed (the client left). Exempt clients are not counted.")
	m.pow.each(func(result string, n uint64) {
		e.sample("sockjail_pow_total", "result="+quoteLabel(result), float64(n))
	})

	e.header("sockjail_policy_reloads_total", "counter", "Policy reloads (SIGHUP), by result.")
	m.reloads.each(func(result string, n uint64) {
		e.sample("sockjail_policy_reloads_total", "result="+quoteLabel(result), float64(n))
	})

	e.header("sockjail_ready", "gauge", "1 while new sessions are accepted (/readyz answers 200), 0 while draining, stopping or at max_connections.")
	ready := 0.0
	if f := m.ready.Load(); f != nil && (*f)() {
		ready = 1
	}
	e.sample("sockjail_ready", "", ready)

	inUse, highest := 0, 0
	if f := m.nodes.Load(); f != nil {
		inUse, highest = (*f)()
	}
	e.header("sockjail_nodes_in_use", "gauge", "Node numbers (SOCKJAIL_NODE) held by connections whose client is still there.")
	e.sample("sockjail_nodes_in_use", "", float64(inUse))
	e.header("sockjail_node_highest", "gauge", "The highest node number in use, 0 when none is.")
	e.sample("sockjail_node_highest", "", float64(highest))

	writeProcess(e, m.started)

	e.header("go_goroutines", "gauge", "Number of goroutines that currently exist.")
	e.sample("go_goroutines", "", float64(runtime.NumGoroutine()))

	_, err := io.WriteString(w, b.String())
	return err
}

// expo writes the text format.
type expo struct{ b *strings.Builder }

func (e expo) header(name, typ, help string) {
	e.b.WriteString("# HELP ")
	e.b.WriteString(name)
	e.b.WriteByte(' ')
	e.b.WriteString(escapeHelp(help))
	e.b.WriteString("\n# TYPE ")
	e.b.WriteString(name)
	e.b.WriteByte(' ')
	e.b.WriteString(typ)
	e.b.WriteByte('\n')
}

// sample writes one line; labels is the inside of the braces, already
// quoted, or "".
func (e expo) sample(name, labels string, v float64) {
	e.b.WriteString(name)
	if labels != "" {
		e.b.WriteByte('{')
		e.b.WriteString(labels)
		e.b.WriteByte('}')
	}
	e.b.WriteByte(' ')
	e.b.WriteString(formatFloat(v))
	e.b.WriteByte('\n')
}

func (e expo) histogram(name, help string, h *histogram) {
	e.header(name, "histogram", help)
	counts, sum, count := h.read()
	var cum uint64
	for i, le := range h.bounds {
		cum += counts[i]
		e.sample(name+"_bucket", `le="`+formatFloat(le)+`"`, float64(cum))
	}
	e.sample(name+"_bucket", `le="+Inf"`, float64(count))
	e.sample(name+"_sum", "", sum)
	e.sample(name+"_count", "", float64(count))
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// quoteLabel quotes a label value as the text format wants: backslash,
// double quote and line feed escaped.
func quoteLabel(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v) + `"`
}

// escapeHelp escapes a HELP text: backslash and line feed.
func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

// labeledCounter is a counter with one label whose set of values is
// bounded: the initial values, up to maxExtraValues more, then "other".
type labeledCounter struct {
	mu       sync.Mutex
	initialN int
	order    []string // creation order, for a stable output
	counts   map[string]*atomic.Uint64
}

func newLabeledCounter(initial []string) *labeledCounter {
	c := &labeledCounter{counts: make(map[string]*atomic.Uint64, len(initial)+2)}
	for _, v := range initial {
		if c.counts[v] == nil {
			c.counts[v] = new(atomic.Uint64)
			c.order = append(c.order, v)
		}
	}
	c.initialN = len(c.order)
	return c
}

func (c *labeledCounter) inc(v string) {
	c.mu.Lock()
	n := c.slot(v)
	c.mu.Unlock()
	n.Add(1)
}

// slot returns v's counter, creating it while the bound allows, and
// "other"'s beyond it. c.mu is held.
func (c *labeledCounter) slot(v string) *atomic.Uint64 {
	if n, ok := c.counts[v]; ok {
		return n
	}
	if len(c.order) >= c.initialN+maxExtraValues {
		v = "other"
		if n, ok := c.counts[v]; ok {
			return n
		}
	}
	n := new(atomic.Uint64)
	c.counts[v] = n
	c.order = append(c.order, v)
	return n
}

// each calls f for every value in creation order.
func (c *labeledCounter) each(f func(string, uint64)) {
	c.mu.Lock()
	order := append([]string(nil), c.order...)
	counts := make([]*atomic.Uint64, len(order))
	for i, v := range order {
		counts[i] = c.counts[v]
	}
	c.mu.Unlock()
	for i, v := range order {
		f(v, counts[i].Load())
	}
}

func (c *labeledCounter) snapshot() map[string]uint64 {
	out := make(map[string]uint64)
	c.each(func(v string, n uint64) { out[v] = n })
	return out
}

// histogram counts observations into fixed buckets. Its counters are
// updated without a lock; a scrape racing an observation may see the count
// and the buckets one apart, which Prometheus tolerates.
type histogram struct {
	bounds  []float64 // upper bounds, ascending
	buckets []atomic.Uint64
	count   atomic.Uint64
	sumBits atomic.Uint64 // float64 bits of the sum
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, buckets: make([]atomic.Uint64, len(bounds))}
}

func (h *histogram) observe(v float64) {
	for i, le := range h.bounds {
		if v <= le {
			h.buckets[i].Add(1)
			break
		}
	}
	for {
		old := h.sumBits.Load()
		if h.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			break
		}
	}
	h.count.Add(1)
}

// read returns the per-bucket (not cumulative) counts, the sum and the
// count. The count is read first so that the +Inf bucket is never below a
// finite one.
func (h *histogram) read() (counts []uint64, sum float64, count uint64) {
	counts = make([]uint64, len(h.buckets))
	var total uint64
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
		total += counts[i]
	}
	count = max(h.count.Load(), total)
	return counts, math.Float64frombits(h.sumBits.Load()), count
}
