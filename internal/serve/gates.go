package serve

import (
	"net/netip"
	"sync"
)

// ReasonPoWBusy is the refusal of a client when too many are already being
// asked for a proof of work.
const ReasonPoWBusy = "pow-busy"

// gatesPerSession is how many clients may be thinking about a proof of
// work at once for each session slot (max_connections): a thinking client
// holds a descriptor and a goroutine of serve (a few KiB), and no slot, so
// that a flood of silent clients from many addresses doesn't keep out the
// clients who answer. Each silent one is gone after pow_timeout.
const gatesPerSession = 16

// minGates is the fewest clients that may be thinking at once.
const minGates = 256

// gates bounds the clients being asked for a proof of work: at most max at
// once in all, and at most perSource from one source (0: no bound per
// source; sources as the per-source limits make them, exempt ones
// unbounded). Past either, a client is refused before it is asked.
type gates struct {
	mu        sync.Mutex
	total     int
	bySource  map[netip.Prefix]int
	max       int
	perSource int
	sources   Sources
}

func newGates(l LimitSettings) *gates {
	return &gates{
		bySource:  make(map[netip.Prefix]int),
		max:       max(minGates, gatesPerSession*l.MaxConnections),
		perSource: l.MaxPerSource,
		sources:   l.Sources,
	}
}

// enter takes a place for a client whose address isn't known yet (before
// its PROXY header); leave gives it back.
func (g *gates) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.total >= g.max {
		return false
	}
	g.total++
	return true
}

func (g *gates) leave() {
	g.mu.Lock()
	g.total--
	g.mu.Unlock()
}

// enterSource takes a place for a client of addr, within its place in
// all; leaveSource gives it back.
func (g *gates) enterSource(addr netip.Addr) bool {
	key, exempt := g.sources.Key(addr)
	if exempt || g.perSource <= 0 {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.bySource[key] >= g.perSource {
		return false
	}
	g.bySource[key]++
	return true
}

func (g *gates) leaveSource(addr netip.Addr) {
	key, exempt := g.sources.Key(addr)
	if exempt || g.perSource <= 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.bySource[key]--; g.bySource[key] <= 0 {
		delete(g.bySource, key)
	}
}
