// Package serve is `sockjail serve`: it accepts TCP connections on its own
// listeners or on sockets passed by systemd (Accept=no), applies the
// policy's [serve] access rules and limits, and serves each admitted
// connection through internal/session, exactly as `sockjail run` serves its
// one connection. It handles the service's lifecycle: sd_notify readiness
// and status, graceful stop on SIGTERM, policy reload on SIGHUP and a
// listing of live sessions on SIGUSR1.
//
// The package does not start or confine programs and does not close
// connections itself: internal/session does, for admitted and refused
// connections alike. It does not load policy files or prepare sandboxes
// either; the caller passes a function for that ([Config.Load]).
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sockjail/sockjail/internal/conn"
	"github.com/sockjail/sockjail/internal/metrics"
	"github.com/sockjail/sockjail/internal/proxyproto"
	"github.com/sockjail/sockjail/internal/session"
	"github.com/sockjail/sockjail/policy"
	"golang.org/x/sys/unix"
)

// DefaultStopTimeout is how long live sessions may go on after SIGTERM when
// the policy's [serve] stop_timeout is 0.
const DefaultStopTimeout = 30 * time.Second

// Bounds of the polite close given to refused connections: a refused client
// gets FIN after its input is drained, but may not hold sockjail's
// resources for the policy's full linger times.
const (
	refuseFlushTimeout = 2 * time.Second
	refuseLingerIdle   = 500 * time.Millisecond
	refuseLingerMax    = 2 * time.Second
	// maxRefusing bounds the refused connections being closed at once.
	// Beyond it (a flood), refusals are closed without waiting for the
	// peer: input drained, FIN, close.
	maxRefusing = 256
)

// statusInterval is how often the STATUS= line is refreshed under systemd.
const statusInterval = time.Second

// Config configures a Server.
type Config struct {
	// Listeners are the sockets to accept on; the Server closes them when
	// it stops.
	Listeners []*Listener
	// Log receives the server's own lines (start, reload, stop, session
	// listings). Sessions log through their session.Config's Log.
	Log *slog.Logger
	// Initial is the configuration to start with.
	Initial *session.Config
	// Load reads the policy again and prepares a new sandbox, on each
	// SIGHUP. An error is logged, and the current configuration stays in
	// force.
	Load func() (*session.Config, error)
	// Metrics, when not nil, is given to every session and counts the
	// server's own events (health checks, reloads).
	Metrics *metrics.Metrics
}

// RefusalReasons are the reasons serve refuses a connection for, as the log
// line's reason= field and the metrics' reason label show them.
var RefusalReasons = []string{ReasonMaxConnections, ReasonMaxPerSource, ReasonRate, ReasonDenied, ReasonProxyHeader, ReasonStopping,
	ReasonPoWBusy, session.ReasonPoWFailed, session.ReasonPoWTimeout, session.ReasonRloginHandshake}

// The server's states, as /readyz reports them.
const (
	stateServing  int32 = iota
	stateDraining       // SIGTERM came: /readyz says 503, connections are still served
	stateStopping       // the listeners are closed
)

// generation is what one loaded policy decides for new connections.
type generation struct {
	cfg         *session.Config
	refuseCfg   *session.Config // cfg with the shortened close of a refusal
	fastCfg     *session.Config // cfg with no waiting at all, for floods
	rules       *Rules
	limits      LimitSettings
	busy        string
	proxy       bool
	pow         bool   // a proof of work comes first ([serve] pow)
	gates       *gates // the clients asked for it at once
	health      policy.HealthCheck
	stopTimeout time.Duration
	drainDelay  time.Duration

	// refs counts the connections using this generation, retired is set
	// when a reload replaced it; the last connection of a retired
	// generation frees its sandbox. Both are guarded by Server.mu.
	refs    int
	retired bool
}

func newGeneration(cfg *session.Config) *generation {
	s := cfg.Policy.Serve
	g := &generation{
		cfg:   cfg,
		rules: NewRules(s.AllowFrom, s.DenyFrom),
		limits: LimitSettings{
			MaxConnections: s.MaxConnections,
			MaxPerSource:   s.MaxPerSource,
			RatePerSource:  s.RatePerSource,
			Sources: Sources{
				V4Bits: s.SourcePrefixV4,
				V6Bits: s.SourcePrefixV6,
				Exempt: s.LimitExempt,
			},
		},
		busy:        s.BusyMessage,
		proxy:       s.ProxyProtocol.Expected(),
		pow:         s.PoW > 0,
		health:      s.HealthCheck,
		stopTimeout: time.Duration(s.StopTimeout),
		drainDelay:  time.Duration(s.DrainDelay),
	}
	if g.stopTimeout <= 0 {
		g.stopTimeout = DefaultStopTimeout
	}
	g.gates = newGates(g.limits)
	refuse := *cfg
	refuse.Close = conn.CloseOptions{
		FlushTimeout: min(cfg.Close.FlushTimeout, refuseFlushTimeout),
		LingerIdle:   min(cfg.Close.LingerIdle, refuseLingerIdle),
		LingerMax:    min(cfg.Close.LingerMax, refuseLingerMax),
	}
	g.refuseCfg = &refuse
	fast := *cfg
	fast.Close = conn.CloseOptions{}
	g.fastCfg = &fast
	return g
}

// Server accepts and serves connections. Create it with New, run it with
// Serve.
type Server struct {
	listeners []*Listener
	log       *slog.Logger
	load      func() (*session.Config, error)

	gen      atomic.Pointer[generation]
	limits   *Limits
	notify   *notifier
	refusing chan struct{} // semaphore of refusals being closed

	// killCtx is given to every session's Run; cancelling it kills the
	// programs (stop_timeout exceeded). Their close still runs.
	killCtx context.Context
	kill    context.CancelFunc

	conns   sync.WaitGroup // every connection's goroutine
	accepts sync.WaitGroup // the accept loops

	mu   sync.Mutex
	live map[*session.Session]struct{}

	metrics *metrics.Metrics
	state   atomic.Int32
	// acceptErr is the last accept error, cleared by the next accept
	// that succeeds: while it is set, /healthz says why.
	acceptErr atomic.Pointer[string]

	served, refused atomic.Int64
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if len(cfg.Listeners) == 0 {
		return nil, errors.New("serve: no listeners")
	}
	if cfg.Initial == nil || cfg.Load == nil {
		return nil, errors.New("serve: Config.Initial and Config.Load are required")
	}
	s := &Server{
		listeners: cfg.Listeners,
		log:       cfg.Log,
		load:      cfg.Load,
		notify:    newNotifier(),
		refusing:  make(chan struct{}, maxRefusing),
		live:      make(map[*session.Session]struct{}),
		metrics:   cfg.Metrics,
	}
	cfg.Initial.Metrics = cfg.Metrics
	g := newGeneration(cfg.Initial)
	s.gen.Store(g)
	s.limits = NewLimits(g.limits)
	s.killCtx, s.kill = context.WithCancel(context.Background())
	s.metrics.SetMaxSessions(g.limits.MaxConnections)
	s.metrics.SetReady(func() bool { ok, _ := s.Ready(); return ok })
	s.metrics.SetNodesInUse(func() (int, int) {
		in := s.limits.NodesInUse()
		if len(in) == 0 {
			return 0, 0
		}
		return len(in), in[len(in)-1]
	})
	return s, nil
}

// Ready reports whether new sessions are accepted, and why not: "draining"
// after SIGTERM (during drain_delay), "stopping" once the listeners are
// closed, or "at max_connections" while that many connections are served.
// The admin listener's /readyz answers it.
func (s *Server) Ready() (bool, string) {
	switch s.state.Load() {
	case stateDraining:
		return false, "draining"
	case stateStopping:
		return false, "stopping"
	}
	if s.limits.Full() {
		return false, fmt.Sprintf("at max_connections (%d)", s.gen.Load().limits.MaxConnections)
	}
	return true, ""
}

// Healthy reports whether the process is able to serve, and why not: it is
// not while accepting fails (out of descriptors or memory) until an accept
// succeeds again. Draining and stopping are healthy: a supervisor must not
// restart a process that is stopping as asked. The admin listener's
// /healthz answers it.
func (s *Server) Healthy() (bool, string) {
	if e := s.acceptErr.Load(); e != nil {
		return false, "accept failing: " + *e
	}
	return true, ""
}

// Serve accepts connections until a SIGTERM or SIGINT arrives on sigs (or
// ctx is cancelled), then stops gracefully: it stops accepting, lets live
// sessions finish for stop_timeout, kills the programs still running, waits
// for every close, and returns. A second SIGTERM or SIGINT kills the
// programs and cuts the closes short. SIGHUP reloads the configuration for
// new connections; SIGUSR1 logs the live sessions.
func (s *Server) Serve(ctx context.Context, sigs <-chan os.Signal) {
	g := s.gen.Load()
	addrs := make([]string, len(s.listeners))
	for i, l := range s.listeners {
		addrs[i] = l.Addr().String()
		s.accepts.Add(1)
		go s.acceptLoop(l)
	}
	s.log.Info("serving", "listen", addrs, "program", g.cfg.Argv, "policy", g.cfg.Policy.Source,
		"max_connections", g.limits.MaxConnections, "max_per_source", g.limits.MaxPerSource,
		"proxy_protocol", string(g.cfg.Policy.Serve.ProxyProtocol))
	s.sendNotify("READY=1\n" + s.status())

	var statusTick <-chan time.Time
	if s.notify.enabled {
		t := time.NewTicker(statusInterval)
		defer t.Stop()
		statusTick = t.C
	}
	lastStatus := ""
	for {
		select {
		case sig := <-sigs:
			switch sig {
			case syscall.SIGTERM, syscall.SIGINT:
				s.stop(sig, sigs)
				return
			case syscall.SIGHUP:
				s.Reload()
			case syscall.SIGUSR1:
				s.LogSessions()
			}
		case <-ctx.Done():
			s.stop(nil, sigs)
			return
		case <-statusTick:
			if st := s.status(); st != lastStatus {
				lastStatus = st
				s.sendNotify(st)
			}
		}
	}
}

// stop is the graceful stop, started by sig (nil: the context): the drain,
// then closing the listeners and waiting for the live sessions.
func (s *Server) stop(sig os.Signal, sigs <-chan os.Signal) {
	g := s.gen.Load()
	why := "context"
	if sig != nil {
		why = sig.String()
	}
	s.sendNotify("STOPPING=1\n" + s.status())
	s.drain(g.drainDelay, why, sigs)
	s.state.Store(stateStopping)
	for _, l := range s.listeners {
		l.Close()
	}
	s.accepts.Wait()
	live := s.liveCount()
	s.log.Info("stopping", "signal", why, "live", live, "stop_timeout", g.stopTimeout)

	done := make(chan struct{})
	go func() {
		s.conns.Wait()
		close(done)
	}()
	timer := time.NewTimer(g.stopTimeout)
	defer timer.Stop()
	for {
		select {
		case <-done:
			s.log.Info("stopped", "served", s.served.Load(), "refused", s.refused.Load())
			return
		case <-timer.C:
			if n := s.liveCount(); n > 0 {
				s.log.Warn("stop_timeout reached, ending live sessions", "live", n)
			}
			s.kill()
		case sig := <-sigs:
			switch sig {
			case syscall.SIGTERM, syscall.SIGINT:
				// A second request: end everything now.
				s.log.Warn("second stop signal, ending sessions and their closes now", "signal", sig.String())
				s.kill()
				s.each(func(ss *session.Session) { ss.AbortClose() })
			case syscall.SIGUSR1:
				s.LogSessions()
			}
		}
	}
}

// drain turns /readyz to 503 at once and goes on serving for delay, so that
// load balancers stop sending new connections before the listeners close.
// A second SIGTERM or SIGINT ends the drain early; SIGHUP and SIGUSR1 are
// handled as usual meanwhile.
func (s *Server) drain(delay time.Duration, why string, sigs <-chan os.Signal) {
	s.state.Store(stateDraining)
	if delay <= 0 {
		return
	}
	s.log.Info("draining", "signal", why, "drain_delay", delay, "live", s.liveCount())
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			return
		case sig := <-sigs:
			switch sig {
			case syscall.SIGTERM, syscall.SIGINT:
				s.log.Warn("second stop signal, ending the drain now", "signal", sig.String())
				return
			case syscall.SIGHUP:
				s.Reload()
			case syscall.SIGUSR1:
				s.LogSessions()
			}
		}
	}
}

// Reload prepares a new configuration with Config.Load and uses it for the
// connections accepted from then on. Live sessions keep theirs. When Load
// fails, the error is logged and the current configuration stays.
func (s *Server) Reload() {
	// sd_notify(3): RELOADING=1 with the monotonic time, and READY=1 when
	// done, so that `systemctl reload` waits for the reload, failed or not.
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	s.sendNotify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", ts.Nano()/1000))
	defer s.sendNotify("READY=1\n" + s.status())
	cfg, err := s.load()
	s.metrics.Reloaded(err == nil)
	if err != nil {
		s.log.Error("policy reload failed, keeping the current policy", "error", err.Error())
		return
	}
	cfg.Metrics = s.metrics
	g := newGeneration(cfg)
	s.mu.Lock()
	old := s.gen.Swap(g)
	old.retired = true
	unused := old.refs == 0
	s.mu.Unlock()
	if unused {
		closeGen(old)
	}
	s.limits.Set(g.limits)
	s.metrics.SetMaxSessions(g.limits.MaxConnections)
	s.log.Info("policy reloaded", "policy", cfg.Policy.Source,
		"max_connections", g.limits.MaxConnections, "max_per_source", g.limits.MaxPerSource,
		"proxy_protocol", string(cfg.Policy.Serve.ProxyProtocol))
}

// acquireGen returns the current generation for a new connection, which
// must give it back with releaseGen.
func (s *Server) acquireGen() *generation {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gen.Load()
	g.refs++
	return g
}

// releaseGen gives back g; the last connection of a generation replaced by
// a reload frees its sandbox.
func (s *Server) releaseGen(g *generation) {
	s.mu.Lock()
	g.refs--
	last := g.retired && g.refs == 0
	s.mu.Unlock()
	if last {
		closeGen(g)
	}
}

func closeGen(g *generation) {
	if g.cfg.Sandbox != nil {
		g.cfg.Sandbox.Close()
	}
}

// LogSessions logs one line per live session (peer, node, pid and age),
// then a summary with the node numbers in use.
func (s *Server) LogSessions() {
	now := time.Now()
	n := 0
	s.each(func(ss *session.Session) {
		in := ss.Info()
		n++
		s.log.Info("session", "peer", in.Peer.String(), "node", in.Node, "pid", in.Pid,
			"age", now.Sub(in.Started).Round(time.Millisecond))
	})
	total, draining, sources := s.limits.Counts()
	s.log.Info("sessions", "live", n, "connections", total, "closed_tearing_down", draining, "sources", sources,
		"nodes_in_use", s.limits.NodesInUse(), "served", s.served.Load(), "refused", s.refused.Load())
}

func (s *Server) each(f func(*session.Session)) {
	s.mu.Lock()
	list := make([]*session.Session, 0, len(s.live))
	for ss := range s.live {
		list = append(list, ss)
	}
	s.mu.Unlock()
	for _, ss := range list {
		f(ss)
	}
}

func (s *Server) liveCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}

func (s *Server) status() string {
	return fmt.Sprintf("STATUS=%d live sessions, %d served, %d refused", s.liveCount(), s.served.Load(), s.refused.Load())
}

func (s *Server) sendNotify(state string) {
	if err := s.notify.send(state); err != nil {
		s.log.Warn("sd_notify failed", "error", err.Error())
	}
}

// acceptLoop accepts on l until it is closed.
func (s *Server) acceptLoop(l *Listener) {
	defer s.accepts.Done()
	var backoff time.Duration
	for {
		fd, err := l.accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or memory, or a connection aborted
			// before accept: log, back off, go on. The kernel keeps
			// new connections in the backlog meanwhile.
			if errors.Is(err, unix.ECONNABORTED) {
				continue
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			msg := err.Error()
			s.acceptErr.Store(&msg)
			s.log.Error("accept failed", "listen", l.Addr().String(), "error", err.Error(), "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		if backoff != 0 {
			s.acceptErr.Store(nil)
		}
		backoff = 0
		s.conns.Add(1)
		go s.handle(fd)
	}
}

// handle admits or refuses one accepted connection and serves it.
func (s *Server) handle(fd int) {
	defer s.conns.Done()
	c, err := conn.FromFD(fd)
	if err != nil {
		unix.Close(fd)
		s.log.Error("accepted connection unusable", "error", err.Error())
		return
	}
	// Deferred first, so it runs last: the slot and the tracking are given
	// back by their own defers on the way out of a panic.
	defer s.contain(c)
	g := s.acquireGen()
	defer s.releaseGen(g)
	sess := session.New(c, g.cfg)
	if g.pow {
		// The proof of work comes before every slot: a client that is
		// thinking holds none, only a place among the gates.
		check, reason, err := s.gate(sess, c, g)
		if check != "" {
			s.healthCheck(sess, check, nil)
			return
		}
		if reason != "" {
			s.refuse(c, g, reason, "", err)
			return
		}
	}
	// The global bound comes first: it does not need the client's address,
	// so a flood is turned away before any PROXY header is waited for.
	// Without a probe (out of descriptors), the connection counts until
	// its close has ended, as if its client were slow to close.
	probe, _ := newHangupProbe(c.InFD())
	slot, ok := s.limits.Acquire(probe)
	if !ok {
		s.refuse(c, g, ReasonMaxConnections, g.busy, nil)
		return
	}
	check, reason, message, err := s.admit(sess, g, slot)
	if check != "" {
		s.healthCheck(sess, check, slot)
		return
	}
	if reason != "" {
		// Give the slot back before the polite close, which may take a
		// moment: a refused connection does not count.
		slot.Release()
		s.refuse(c, g, reason, message, err)
		return
	}
	defer slot.Release()
	sess.SetNode(slot.Node())
	// The connection stops counting against its source and the global
	// bound when its close ends; the sandbox's teardown after that is
	// bounded by WaitTeardown.
	sess.OnClosed(slot.Gone)
	s.limits.WaitTeardown()
	if !s.track(sess) {
		s.refuse(c, g, ReasonStopping, "", nil)
		return
	}
	defer s.untrack(sess)
	s.served.Add(1)
	sess.Run(s.killCtx)
}

// healthCheck ends a load balancer's health check: answered by the
// close, counted, not logged, and holding no slot meanwhile (slot may be
// nil).
func (s *Server) healthCheck(sess *session.Session, kind string, slot *Slot) {
	if slot != nil {
		slot.Release()
	}
	s.metrics.HealthCheck(kind)
	sess.Dismiss()
}

// identify reads the PROXY header if the policy asks for one, and applies
// the access rules to the client's address. A health check that the
// policy's health_check names comes back as its kind
// (metrics.CheckProxyLocal, metrics.CheckTCP). Otherwise identify returns
// the reason for refusing the client, if any, and the error to log. It can
// be called twice: the header is read once.
func (s *Server) identify(sess *session.Session, g *generation) (check, reason string, err error) {
	if g.proxy {
		// The address that the rules and limits judge is the client's,
		// from the header.
		if err := sess.ReadProxyHeader(); err != nil {
			if g.health.TCP() && errors.Is(err, proxyproto.ErrNothingSent) {
				return metrics.CheckTCP, "", nil
			}
			return "", ReasonProxyHeader, err
		}
		if g.health.ProxyLocal() && sess.ProxyLocal() {
			return metrics.CheckProxyLocal, "", nil
		}
	}
	if ok, why := g.rules.Allowed(sess.Info().Peer.Addr()); !ok {
		return "", ReasonDenied, errors.New(why)
	}
	return "", "", nil
}

// gate identifies the client and asks it for the proof of work, within
// the generation's bounds on clients asked at once: in all, before the
// client's address is known, and per address after.
func (s *Server) gate(sess *session.Session, c *conn.Conn, g *generation) (check, reason string, err error) {
	if !g.gates.enter() {
		return "", ReasonPoWBusy, nil
	}
	defer g.gates.leave()
	if check, reason, err := s.identify(sess, g); check != "" || reason != "" {
		return check, reason, err
	}
	peer := c.Peer().Addr()
	if !g.gates.enterSource(peer) {
		return "", ReasonPoWBusy, nil
	}
	defer g.gates.leaveSource(peer)
	reason, err = sess.Gate()
	return "", reason, err
}

// admit identifies the client (unless gate did) and applies the per-source
// limits to its address. On success slot holds a per-source slot for the
// address. Otherwise admit returns the health check's kind, or the reason
// for refusing the client, the message to send and the error to log.
func (s *Server) admit(sess *session.Session, g *generation, slot *Slot) (check, reason, message string, err error) {
	if check, reason, err := s.identify(sess, g); check != "" || reason != "" {
		return check, reason, "", err
	}
	if why := slot.AcquireSource(sess.Info().Peer.Addr(), time.Now()); why != "" {
		return "", why, g.busy, nil
	}
	return "", "", "", nil
}

// track registers a live session, unless the server is stopping.
func (s *Server) track(ss *session.Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Connections accepted before a stop are served during its grace
	// period, but none starts after the sessions were told to end.
	if s.killCtx.Err() != nil {
		return false
	}
	s.live[ss] = struct{}{}
	return true
}

func (s *Server) untrack(ss *session.Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.live, ss)
}

// refuse closes c politely without starting the program, and logs why.
func (s *Server) refuse(c *conn.Conn, g *generation, reason, message string, err error) {
	s.refused.Add(1)
	cfg := g.refuseCfg
	select {
	case s.refusing <- struct{}{}:
		defer func() { <-s.refusing }()
	default:
		// Still polite: the message and FIN, after draining what
		// the client sent, just without waiting for it.
		cfg = g.fastCfg
	}
	session.Refuse(c, cfg, reason, message, err)
}

// contain recovers a panic in the goroutines of one connection (its
// session's included: session.Run hands it over as a *session.Crash), logs
// it with its stack, closes the connection if that is not done yet, and
// lets every other session and the server go on.
func (s *Server) contain(c *conn.Conn) {
	v := recover()
	if v == nil {
		return
	}
	crash := session.Recovered(v)
	attrs := []any{"error", fmt.Sprint(crash.Value), "stack", string(crash.Stack)}
	if peer := c.Peer(); peer.IsValid() {
		attrs = append(attrs, "remote", peer.String())
	}
	s.log.Error("session crashed", attrs...)
	if !crash.ConnClosed {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		c.Close(ctx, conn.CloseOptions{})
	}
}
