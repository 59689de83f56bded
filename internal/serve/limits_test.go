package serve

import (
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestLimitsGlobal(t *testing.T) {
	l := NewLimits(LimitSettings{MaxConnections: 2})
	a, okA := l.Acquire(nil)
	_, okB := l.Acquire(nil)
	if !okA || !okB {
		t.Fatal("first two connections refused")
	}
	if _, ok := l.Acquire(nil); ok {
		t.Fatal("third connection accepted with max_connections = 2")
	}
	a.Release()
	if _, ok := l.Acquire(nil); !ok {
		t.Fatal("connection refused after a slot was freed")
	}
	// A reload that raises the bound takes effect at once.
	l.Set(LimitSettings{MaxConnections: 3})
	if _, ok := l.Acquire(nil); !ok {
		t.Fatal("refused after raising max_connections to 3")
	}
	if total, _, _ := l.Counts(); total != 3 {
		t.Fatalf("total = %d, want 3", total)
	}
}

// acquireFrom takes a global and a source slot for addr, and returns the
// slot and AcquireSource's answer.
func acquireFrom(t *testing.T, l *Limits, addr netip.Addr, now time.Time, probe HangupProbe) (*Slot, string) {
	t.Helper()
	s, ok := l.Acquire(probe)
	if !ok {
		t.Fatalf("global slot refused for %v", addr)
	}
	why := s.AcquireSource(addr, now)
	if why != "" {
		s.Release()
	}
	return s, why
}

func TestLimitsPerSource(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	mapped := netip.MustParseAddr("::ffff:192.0.2.1")
	now := time.Unix(1000, 0)
	l := NewLimits(LimitSettings{MaxPerSource: 2})
	var fromA []*Slot
	for i, want := range []string{"", "", ReasonMaxPerSource} {
		s, got := acquireFrom(t, l, a, now, nil)
		if got != want {
			t.Fatalf("connection %d from a: %q, want %q", i, got, want)
		}
		if got == "" {
			fromA = append(fromA, s)
		}
	}
	// The same client seen through a dual-stack listener is the same source.
	if _, got := acquireFrom(t, l, mapped, now, nil); got != ReasonMaxPerSource {
		t.Fatalf("mapped a: %q, want %q", got, ReasonMaxPerSource)
	}
	fromB, got := acquireFrom(t, l, b, now, nil)
	if got != "" {
		t.Fatalf("b refused: %q", got)
	}
	fromA[0].Release()
	again, got := acquireFrom(t, l, a, now, nil)
	if got != "" {
		t.Fatalf("a refused after a slot was freed: %q", got)
	}
	for _, s := range []*Slot{again, fromA[1], fromA[1], fromB} {
		s.Release()
	}
	if live, draining, n := l.Counts(); n != 0 || live != 0 || draining != 0 {
		t.Fatalf("%d sources, %d live and %d draining after every connection ended, want none", n, live, draining)
	}
}

// fakeProbe is a HangupProbe whose answer the test sets: the kernel's side
// is tested through the real server (TestServeReconnectAtLimit).
type fakeProbe struct {
	closed, released bool
}

func (p *fakeProbe) Closed() bool { return p.closed }
func (p *fakeProbe) Close() error {
	p.released = true
	return nil
}

// TestLimitsClosedConnections: a connection stops counting against its
// source and the global bound once its client's connection is closed,
// whether the session said so (Gone) or the probe finds it at the limit;
// the sessions still being torn down are bounded by MaxConnections through
// WaitTeardown.
func TestLimitsClosedConnections(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.1")
	now := time.Unix(1000, 0)
	l := NewLimits(LimitSettings{MaxConnections: 3, MaxPerSource: 2})
	p1, p2 := &fakeProbe{}, &fakeProbe{}
	s1, _ := acquireFrom(t, l, a, now, p1)
	s2, _ := acquireFrom(t, l, a, now, p2)
	if _, got := acquireFrom(t, l, a, now, &fakeProbe{}); got != ReasonMaxPerSource {
		t.Fatalf("third from a with two open: %q, want %q", got, ReasonMaxPerSource)
	}
	// The client closed its first connection; its session is still
	// closing and tearing down. The next connection from a is served.
	p1.closed = true
	s3, got := acquireFrom(t, l, a, now, &fakeProbe{})
	if got != "" {
		t.Fatalf("refused after the client closed a connection: %q", got)
	}
	if !p1.released {
		t.Error("the probe of the closed connection was not closed")
	}
	// The session of the second says its close ended.
	s2.Gone()
	s4, got := acquireFrom(t, l, a, now, nil)
	if got != "" {
		t.Fatalf("refused after a session's close ended: %q", got)
	}
	if live, draining, _ := l.Counts(); live != 2 || draining != 2 {
		t.Fatalf("live %d, draining %d; want 2 and 2", live, draining)
	}
	// A third session whose client is gone reaches the teardown bound
	// (MaxConnections = 3): WaitTeardown waits until one is released.
	s3.Gone()
	waited := make(chan struct{})
	go func() {
		l.WaitTeardown()
		close(waited)
	}()
	select {
	case <-waited:
		t.Fatal("WaitTeardown returned with 3 sessions being torn down, max_connections = 3")
	case <-time.After(50 * time.Millisecond):
	}
	s1.Release()
	<-waited
	for _, s := range []*Slot{s2, s3, s4, s4} {
		s.Release()
	}
	if live, draining, n := l.Counts(); n != 0 || live != 0 || draining != 0 {
		t.Fatalf("%d sources, %d live and %d draining after every connection ended, want none", n, live, draining)
	}
}

func TestLimitsRate(t *testing.T) {
	a, b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	t0 := time.Unix(1000, 0)
	l := NewLimits(LimitSettings{RatePerSource: 2})
	// The burst is 2: two at once, then refused.
	for i, want := range []string{"", "", ReasonRate, ReasonRate} {
		if got := acquireSource(t, l, a, t0); got != want {
			t.Fatalf("connection %d: %q, want %q", i, got, want)
		}
	}
	if got := acquireSource(t, l, b, t0); got != "" {
		t.Fatalf("another source refused: %q", got)
	}
	// Half a second later one token is back.
	t1 := t0.Add(500 * time.Millisecond)
	for i, want := range []string{"", ReasonRate} {
		if got := acquireSource(t, l, a, t1); got != want {
			t.Fatalf("after 0.5s, connection %d: %q, want %q", i, got, want)
		}
	}
	// A rate below 1 per second still allows one connection.
	l.Set(LimitSettings{RatePerSource: 0.5})
	c := netip.MustParseAddr("192.0.2.3")
	if got := acquireSource(t, l, c, t0); got != "" {
		t.Fatalf("rate 0.5: first connection refused: %q", got)
	}
	if got := acquireSource(t, l, c, t0.Add(time.Second)); got != ReasonRate {
		t.Fatalf("rate 0.5: second connection after 1s: %q, want %q", got, ReasonRate)
	}
	if got := acquireSource(t, l, c, t0.Add(2*time.Second)); got != "" {
		t.Fatalf("rate 0.5: connection after 2s refused: %q", got)
	}
}

// TestLimitsSweep: with a rate limit, sources are remembered while their
// bucket refills, and forgotten after, so a scan of many addresses does not
// grow memory without bound.
func TestLimitsSweep(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := NewLimits(LimitSettings{RatePerSource: 10})
	for i := range 5000 {
		a := netip.MustParseAddr("10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256))
		s, got := acquireFrom(t, l, a, t0, nil)
		if got != "" {
			t.Fatal(got)
		}
		s.Release()
	}
	if _, _, n := l.Counts(); n != 5000 {
		t.Fatalf("%d sources within the refill time, want 5000", n)
	}
	// One second later every bucket is full again; the next sweep drops them.
	late := t0.Add(time.Second)
	for i := range 4000 {
		a := netip.MustParseAddr("10.1." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256))
		if s, got := acquireFrom(t, l, a, late, nil); got == "" {
			s.Release()
		}
	}
	if _, _, n := l.Counts(); n > 4000 {
		t.Fatalf("%d sources tracked, want at most 4000 after a sweep", n)
	}
}

// acquireSource is acquireFrom for tests that keep every slot.
func acquireSource(t *testing.T, l *Limits, addr netip.Addr, now time.Time) string {
	t.Helper()
	_, why := acquireFrom(t, l, addr, now, nil)
	return why
}

// TestLimitsNodes: connections get node numbers from 1, the lowest free
// first; a node is free again as soon as its client is gone, before its
// session is released.
func TestLimitsNodes(t *testing.T) {
	l := NewLimits(LimitSettings{MaxConnections: 4})
	acquire := func(want int) *Slot {
		t.Helper()
		s, ok := l.Acquire(nil)
		if !ok {
			t.Fatalf("refused, want node %d", want)
		}
		if got := s.Node(); got != want {
			t.Fatalf("node %d, want %d (in use: %v)", got, want, l.NodesInUse())
		}
		return s
	}
	s1, s2, s3 := acquire(1), acquire(2), acquire(3)
	s2.Gone()
	if s2.Node() != 0 {
		t.Fatalf("a gone slot still holds node %d", s2.Node())
	}
	s4 := acquire(2) // 2 is free again while s2's teardown goes on
	s1.Release()
	s2.Release()
	if got := l.NodesInUse(); !slices.Equal(got, []int{2, 3}) {
		t.Fatalf("nodes in use %v, want [2 3]", got)
	}
	s5 := acquire(1)
	s6 := acquire(4)
	if _, ok := l.Acquire(nil); ok {
		t.Fatal("a fifth connection accepted with max_connections = 4")
	}
	for _, s := range []*Slot{s3, s4, s5, s6} {
		s.Release()
	}
	if got := l.NodesInUse(); len(got) != 0 {
		t.Fatalf("nodes in use after every release: %v", got)
	}
	// The numbering is as dense after churn: 1 again, not a high number.
	acquire(1).Release()

	// Many connections coming and going in random order: the nodes in use
	// are always distinct, and a new one always gets the lowest free.
	l = NewLimits(LimitSettings{MaxConnections: 64})
	var live []*Slot
	for i := 0; i < 5000; i++ {
		if len(live) > 0 && (len(live) == 64 || i*7919%3 == 0) {
			k := i * 104729 % len(live)
			live[k].Release()
			live = slices.Delete(live, k, k+1)
			continue
		}
		in := l.NodesInUse()
		lowest := 1
		for _, n := range in {
			if n == lowest {
				lowest++
			}
		}
		live = append(live, acquire(lowest))
	}
}
