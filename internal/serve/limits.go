package serve

import (
	"net/netip"
	"sync"
	"time"
)

// Reasons for refusing a connection, as they appear in the log line's
// reason= field.
const (
	ReasonMaxConnections = "max-connections"
	ReasonMaxPerSource   = "max-per-source"
	ReasonRate           = "rate-per-source"
	ReasonDenied         = "access-rule"
	ReasonProxyHeader    = "proxy-header"
	ReasonStopping       = "stopping"
)

// LimitSettings are the [serve] limits of a policy.
type LimitSettings struct {
	// MaxConnections bounds the connections served at once (0 or less:
	// no bound). Connections still waiting for their PROXY header count.
	MaxConnections int
	// MaxPerSource bounds the connections served at once per client
	// address (0 or less: no bound).
	MaxPerSource int
	// RatePerSource bounds new connections per second per client address
	// with a token bucket whose burst is max(1, RatePerSource); 0 means no
	// bound.
	RatePerSource float64
}

// Limits counts a server's live connections and enforces its LimitSettings.
// It is safe for concurrent use. Sources are whole addresses: an IPv6 client
// that holds a /64 can use many of them, as with systemd's
// MaxConnectionsPerSource=.
//
// Memory stays bounded by the live connections plus, with a rate limit, the
// sources seen within the last burst/rate seconds: idle sources are swept.
type Limits struct {
	mu      sync.Mutex
	set     LimitSettings
	total   int
	sources map[netip.Addr]*source
	sweepAt int
}

type source struct {
	active int
	tokens float64
	last   time.Time // when tokens was last updated
}

// minSweep is the source count below which Limits does not bother sweeping.
const minSweep = 1024

// NewLimits returns Limits enforcing s.
func NewLimits(s LimitSettings) *Limits {
	return &Limits{set: s, sources: make(map[netip.Addr]*source), sweepAt: minSweep}
}

// Set changes the settings (a policy reload). Live connections keep their
// slots; the new bounds apply to the next connections.
func (l *Limits) Set(s LimitSettings) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.set = s
}

// Acquire takes a global slot for a new connection. It returns false when
// MaxConnections connections are already served. Every true must be
// matched by one Release.
func (l *Limits) Acquire() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.set.MaxConnections > 0 && l.total >= l.set.MaxConnections {
		return false
	}
	l.total++
	return true
}

// Release gives back a global slot taken by Acquire.
func (l *Limits) Release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
}

// AcquireSource takes a per-source slot for a connection from addr at time
// now, which must already hold a global slot. It returns "" on success, or
// the reason for refusing: ReasonMaxPerSource or ReasonRate. A refused
// connection takes no slot and no rate token. Every success must be
// matched by one ReleaseSource(addr).
func (l *Limits) AcquireSource(addr netip.Addr, now time.Time) string {
	addr = addr.Unmap()
	l.mu.Lock()
	defer l.mu.Unlock()
	src := l.sources[addr]
	if src == nil {
		src = &source{tokens: l.burst(), last: now}
	}
	if l.set.MaxPerSource > 0 && src.active >= l.set.MaxPerSource {
		return ReasonMaxPerSource
	}
	if l.set.RatePerSource > 0 {
		l.refill(src, now)
		if src.tokens < 1 {
			l.keep(addr, src, now)
			return ReasonRate
		}
		src.tokens--
	}
	src.active++
	l.keep(addr, src, now)
	return ""
}

// ReleaseSource gives back a slot taken by AcquireSource.
func (l *Limits) ReleaseSource(addr netip.Addr) {
	addr = addr.Unmap()
	l.mu.Lock()
	defer l.mu.Unlock()
	src := l.sources[addr]
	if src == nil {
		return
	}
	src.active--
	if src.active <= 0 && l.set.RatePerSource <= 0 {
		delete(l.sources, addr)
	}
}

// Counts returns the connections served (global slots held) and the number
// of sources tracked.
func (l *Limits) Counts() (total, sources int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, len(l.sources)
}

func (l *Limits) burst() float64 {
	return max(1, l.set.RatePerSource)
}

func (l *Limits) refill(src *source, now time.Time) {
	if dt := now.Sub(src.last); dt > 0 {
		src.tokens = min(l.burst(), src.tokens+dt.Seconds()*l.set.RatePerSource)
		src.last = now
	}
}

// keep stores src and, when the map has grown, sweeps the sources that
// hold no connection and whose bucket is full again: forgetting them
// changes nothing.
func (l *Limits) keep(addr netip.Addr, src *source, now time.Time) {
	l.sources[addr] = src
	if len(l.sources) < l.sweepAt {
		return
	}
	for a, s := range l.sources {
		if s.active > 0 {
			continue
		}
		if l.set.RatePerSource > 0 {
			l.refill(s, now)
			if s.tokens < l.burst() {
				continue
			}
		}
		delete(l.sources, a)
	}
	l.sweepAt = max(minSweep, 2*len(l.sources))
}
