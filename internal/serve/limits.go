package serve

import (
	"container/heap"
	"net/netip"
	"slices"
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
	// MaxPerSource bounds the connections served at once per source (0 or
	// less: no bound).
	MaxPerSource int
	// RatePerSource bounds new connections per second per source with a token bucket whose burst is max(1, RatePerSource); 0 means no
	// bound.
	RatePerSource float64
	// Sources groups client addresses into the sources that MaxPerSource
	// and RatePerSource count, and names those they skip.
	Sources Sources
}

// Limits counts a server's connections and enforces its LimitSettings. It
// is safe for concurrent use. A source is what LimitSettings.Sources makes
// of a client address: by default an IPv4 address or an IPv6 /64 (the
// policy's source_prefix_v4 and source_prefix_v6).
//
// A connection counts against MaxConnections and its source from [Acquire]
// until its client's connection is closed ([Slot.Gone], or found closed by
// its [HangupProbe] when a limit is reached), not until its sandbox is torn
// down: a client is never refused for connections it has already closed.
// The sandboxes still being torn down are bounded separately: at most
// MaxConnections of them, and past that [Limits.WaitTeardown] holds new
// sessions back until one is gone. So at most 2 × MaxConnections sessions
// exist at once.
//
// Memory stays bounded by the live connections plus, with a rate limit, the
// sources seen within the last burst/rate seconds: idle sources are swept.
type Limits struct {
	mu       sync.Mutex
	set      LimitSettings
	live     map[*Slot]struct{} // connections whose client is still there
	draining int                // slots gone but not yet released
	drained  *sync.Cond         // signalled when draining falls or the settings change
	sources  map[netip.Prefix]*source
	sweepAt  int
	nodes    nodes
}

type source struct {
	active int
	tokens float64
	last   time.Time // when tokens was last updated
}

// HangupProbe tells whether a client's connection has been closed in both
// directions, or reset, without reading from it. A half-close (the client
// sent FIN and still reads) is not closed: that client is still served.
type HangupProbe interface {
	Closed() bool
	Close() error
}

// Slot is one connection's place in the limits, from [Limits.Acquire] to
// [Slot.Release].
type Slot struct {
	l     *Limits
	probe HangupProbe  // nil: only Gone ends the count
	key   netip.Prefix // the source whose slot is held
	src   *source      // the source slot held, or nil
	node  int          // the node number held while live, or 0
	state slotState
}

type slotState uint8

const (
	slotLive     slotState = iota // counts against MaxConnections and its source
	slotGone                      // the client's connection is closed; the session is ending
	slotReleased                  // the session is over
)

// minSweep is the source count below which Limits does not bother sweeping.
const minSweep = 1024

// NewLimits returns Limits enforcing s.
func NewLimits(s LimitSettings) *Limits {
	l := &Limits{set: s, live: make(map[*Slot]struct{}), sources: make(map[netip.Prefix]*source), sweepAt: minSweep}
	l.drained = sync.NewCond(&l.mu)
	return l
}

// Set changes the settings (a policy reload). Live connections keep their
// slots; the new bounds apply to the next connections.
func (l *Limits) Set(s LimitSettings) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.set = s
	l.drained.Broadcast()
}

// Acquire takes a global slot for a new connection, whose hang-up probe
// may be nil. It returns false when MaxConnections connections are already
// served and none of them turns out to be closed. Limits owns probe from
// here on and closes it when the connection stops counting (also on a
// refusal). Every true must be matched by one Slot.Release.
func (l *Limits) Acquire(probe HangupProbe) (*Slot, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if max := l.set.MaxConnections; max > 0 && len(l.live) >= max {
		l.reapLocked(func(*Slot) bool { return true })
		if len(l.live) >= max {
			if probe != nil {
				probe.Close()
			}
			return nil, false
		}
	}
	s := &Slot{l: l, probe: probe, node: l.nodes.take()}
	l.live[s] = struct{}{}
	return s, true
}

// reapLocked ends the count of every live slot that match selects and
// whose probe finds its connection closed: their sessions have not yet
// reached the end of their close, but the client is gone.
func (l *Limits) reapLocked(match func(*Slot) bool) {
	for s := range l.live {
		if s.probe != nil && match(s) && s.probe.Closed() {
			s.goneLocked()
		}
	}
}

// AcquireSource takes a per-source slot for the connection, from addr at
// time now. It returns "" on success, or the reason for refusing:
// ReasonMaxPerSource or ReasonRate. A refused connection takes no source
// slot and no rate token; Release still gives back the global one. An
// exempt address takes no source slot and is never refused here.
func (s *Slot) AcquireSource(addr netip.Addr, now time.Time) string {
	l := s.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.state != slotLive || s.src != nil {
		panic("serve: AcquireSource on a slot that is not live or already has a source")
	}
	key, exempt := l.set.Sources.Key(addr)
	if exempt {
		return ""
	}
	src := l.sources[key]
	if max := l.set.MaxPerSource; max > 0 && src != nil && src.active >= max {
		l.reapLocked(func(o *Slot) bool { return o.src != nil && o.key == key })
		src = l.sources[key] // reaping may have forgotten it
	}
	if src == nil {
		src = &source{tokens: l.burst(), last: now}
	}
	if l.set.MaxPerSource > 0 && src.active >= l.set.MaxPerSource {
		return ReasonMaxPerSource
	}
	if l.set.RatePerSource > 0 {
		l.refill(src, now)
		if src.tokens < 1 {
			l.keep(key, src, now)
			return ReasonRate
		}
		src.tokens--
	}
	src.active++
	s.src, s.key = src, key
	l.keep(key, src, now)
	return ""
}

// Gone ends the connection's count against MaxConnections and its source:
// the client's connection is closed. The session still counts as being
// torn down until Release. Calling it again does nothing.
func (s *Slot) Gone() {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	s.goneLocked()
}

func (s *Slot) goneLocked() {
	if s.state != slotLive {
		return
	}
	l := s.l
	delete(l.live, s)
	l.nodes.giveBack(s.node)
	s.node = 0
	if src := s.src; src != nil {
		src.active--
		if src.active <= 0 && l.set.RatePerSource <= 0 && l.sources[s.key] == src {
			delete(l.sources, s.key)
		}
		s.src = nil
	}
	if s.probe != nil {
		s.probe.Close()
		s.probe = nil
	}
	s.state = slotGone
	l.draining++
}

// Release ends the slot: the session is over and its sandbox gone.
// Calling it again does nothing.
func (s *Slot) Release() {
	l := s.l
	l.mu.Lock()
	defer l.mu.Unlock()
	s.goneLocked()
	if s.state == slotGone {
		s.state = slotReleased
		l.draining--
		l.drained.Broadcast()
	}
}

// WaitTeardown waits until fewer than MaxConnections sessions whose
// clients are gone are still being torn down (no wait without a
// MaxConnections bound).
func (l *Limits) WaitTeardown() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.set.MaxConnections > 0 && l.draining >= l.set.MaxConnections {
		l.drained.Wait()
	}
}

// Full reports whether MaxConnections connections are counted, so that the
// next one would be refused unless one of them has hung up meanwhile.
func (l *Limits) Full() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.set.MaxConnections > 0 && len(l.live) >= l.set.MaxConnections
}

// Counts returns the connections served (global slots held), the sessions
// being torn down after their client's connection closed, and the number
// of sources tracked.
func (l *Limits) Counts() (live, draining, sources int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.live), l.draining, len(l.sources)
}

// Node returns the slot's node number: from 1 up, the lowest that no live
// connection held when the slot was acquired, as a BBS numbers its lines.
// A live connection keeps its node until its client's connection is closed
// (Gone); after that Node returns 0 and the number goes to the next
// connection, even while the old session's sandbox is still being torn
// down. With MaxConnections = N, nodes stay within 1..N, except that
// connections kept over a reload that lowered N keep theirs.
func (s *Slot) Node() int {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	return s.node
}

// NodesInUse returns the node numbers held by live connections, in
// ascending order.
func (l *Limits) NodesInUse() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	in := make([]int, 0, len(l.live))
	for s := range l.live {
		in = append(in, s.node)
	}
	slices.Sort(in)
	return in
}

// nodes hands out node numbers, lowest free first: the free numbers below
// next are kept in a min-heap, so that taking and giving back one costs
// O(log n), and the memory is bounded by the most connections ever live at
// once.
type nodes struct {
	next  int     // the numbers from next+1 up were never handed out
	freed intHeap // free numbers up to next
}

func (n *nodes) take() int {
	if n.freed.Len() > 0 {
		return heap.Pop(&n.freed).(int)
	}
	n.next++
	return n.next
}

func (n *nodes) giveBack(node int) {
	if node > 0 {
		heap.Push(&n.freed, node)
	}
}

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
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
func (l *Limits) keep(key netip.Prefix, src *source, now time.Time) {
	l.sources[key] = src
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
