package serve

import (
	"net/netip"
	"strconv"
	"testing"
	"time"
)

func TestLimitsGlobal(t *testing.T) {
	l := NewLimits(LimitSettings{MaxConnections: 2})
	if !l.Acquire() || !l.Acquire() {
		t.Fatal("first two connections refused")
	}
	if l.Acquire() {
		t.Fatal("third connection accepted with max_connections = 2")
	}
	l.Release()
	if !l.Acquire() {
		t.Fatal("connection refused after a slot was freed")
	}
	// A reload that raises the bound takes effect at once.
	l.Set(LimitSettings{MaxConnections: 3})
	if !l.Acquire() {
		t.Fatal("refused after raising max_connections to 3")
	}
	if total, _ := l.Counts(); total != 3 {
		t.Fatalf("total = %d, want 3", total)
	}
}

func TestLimitsPerSource(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	mapped := netip.MustParseAddr("::ffff:192.0.2.1")
	now := time.Unix(1000, 0)
	l := NewLimits(LimitSettings{MaxPerSource: 2})
	for i, want := range []string{"", "", ReasonMaxPerSource} {
		if got := l.AcquireSource(a, now); got != want {
			t.Fatalf("connection %d from a: %q, want %q", i, got, want)
		}
	}
	// The same client seen through a dual-stack listener is the same source.
	if got := l.AcquireSource(mapped, now); got != ReasonMaxPerSource {
		t.Fatalf("mapped a: %q, want %q", got, ReasonMaxPerSource)
	}
	if got := l.AcquireSource(b, now); got != "" {
		t.Fatalf("b refused: %q", got)
	}
	l.ReleaseSource(mapped)
	if got := l.AcquireSource(a, now); got != "" {
		t.Fatalf("a refused after a slot was freed: %q", got)
	}
	l.ReleaseSource(a)
	l.ReleaseSource(a)
	l.ReleaseSource(b)
	if _, n := l.Counts(); n != 0 {
		t.Fatalf("%d sources tracked after every connection ended, want 0", n)
	}
}

func TestLimitsRate(t *testing.T) {
	a, b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	t0 := time.Unix(1000, 0)
	l := NewLimits(LimitSettings{RatePerSource: 2})
	// The burst is 2: two at once, then refused.
	for i, want := range []string{"", "", ReasonRate, ReasonRate} {
		if got := l.AcquireSource(a, t0); got != want {
			t.Fatalf("connection %d: %q, want %q", i, got, want)
		}
	}
	if got := l.AcquireSource(b, t0); got != "" {
		t.Fatalf("another source refused: %q", got)
	}
	// Half a second later one token is back.
	t1 := t0.Add(500 * time.Millisecond)
	for i, want := range []string{"", ReasonRate} {
		if got := l.AcquireSource(a, t1); got != want {
			t.Fatalf("after 0.5s, connection %d: %q, want %q", i, got, want)
		}
	}
	// A rate below 1 per second still allows one connection.
	l.Set(LimitSettings{RatePerSource: 0.5})
	c := netip.MustParseAddr("192.0.2.3")
	if got := l.AcquireSource(c, t0); got != "" {
		t.Fatalf("rate 0.5: first connection refused: %q", got)
	}
	if got := l.AcquireSource(c, t0.Add(time.Second)); got != ReasonRate {
		t.Fatalf("rate 0.5: second connection after 1s: %q, want %q", got, ReasonRate)
	}
	if got := l.AcquireSource(c, t0.Add(2*time.Second)); got != "" {
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
		if got := l.AcquireSource(a, t0); got != "" {
			t.Fatal(got)
		}
		l.ReleaseSource(a)
	}
	if _, n := l.Counts(); n != 5000 {
		t.Fatalf("%d sources within the refill time, want 5000", n)
	}
	// One second later every bucket is full again; the next sweep drops them.
	late := t0.Add(time.Second)
	for i := range 4000 {
		a := netip.MustParseAddr("10.1." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256))
		l.AcquireSource(a, late)
		l.ReleaseSource(a)
	}
	if _, n := l.Counts(); n > 4000 {
		t.Fatalf("%d sources tracked, want at most 4000 after a sweep", n)
	}
}
