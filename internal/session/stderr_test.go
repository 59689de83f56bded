package session

import (
	"testing"
	"time"
)

// TestStderrBounds drives the limiter with lines at given times and
// checks which are logged.
func TestStderrBounds(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type line struct {
		ms, n int
		want  bool
	}
	for _, tc := range []struct {
		name      string
		rate, max int
		lines     []line
	}{
		{"unbounded", 0, 0, []line{{0, 100, true}, {0, 100, true}, {0, 1 << 20, true}}},
		{"burst of rate, then refill", 2, 0, []line{
			{0, 1, true}, {0, 1, true}, {0, 1, false}, // the burst is 2
			{499, 1, false},                                    // 0.998 of a token
			{500, 1, true},                                     // one token back after 500 ms
			{5000, 1, true}, {5000, 1, true}, {5000, 1, false}, // refills to 2, no more
		}},
		{"bytes per session", 0, 10, []line{{0, 4, true}, {0, 4, true}, {0, 4, false}, {0, 2, true}, {0, 1, false}}},
		{"dropped lines cost no tokens", 1, 3, []line{{0, 5, false}, {0, 3, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &stderrLog{rate: float64(tc.rate), max: int64(tc.max), tokens: float64(tc.rate)}
			for i, ln := range tc.lines {
				if got := l.allow(at(ln.ms), ln.n); got != ln.want {
					t.Errorf("line %d (%d bytes at %d ms): allow = %v, want %v", i, ln.n, ln.ms, got, ln.want)
				}
			}
		})
	}
}
