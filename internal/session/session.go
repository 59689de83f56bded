// Package session runs one connection's lifecycle: it starts the sandboxed
// program on the connection, waits for it, ends its process tree, does the
// delayed flush-then-close and writes one log line.
//
// `sockjail run` serves the single connection it was started with through a
// Session, and `sockjail serve` serves each accepted connection through one,
// so both give a connection exactly the same treatment.
//
// A Session does not listen, limit or filter connections (package serve
// does), and it does not know how the program is confined (package sandbox
// does).
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sockjail/sockjail/internal/conn"
	"github.com/sockjail/sockjail/internal/exitcode"
	"github.com/sockjail/sockjail/internal/fdio"
	"github.com/sockjail/sockjail/internal/proxyproto"
	"github.com/sockjail/sockjail/internal/relay"
	"github.com/sockjail/sockjail/internal/rlogin"
	"github.com/sockjail/sockjail/policy"
	"github.com/sockjail/sockjail/sandbox"
)

// ProxyHeaderTimeout bounds the wait for a PROXY protocol header, so that a
// client that never completes one cannot hold a session open.
const ProxyHeaderTimeout = 5 * time.Second

// KillReasons are the values of the log line's killed= field, the reasons
// a program's session is ended early ("oom": the kernel's OOM killer acted
// in the session's cgroup, and sockjail ended the rest).
// "crash": a panic in sockjail's own code for the session, which ends
// that session only.
var KillReasons = []string{"max-duration", "idle-timeout", "hangup", "stopped", "killed", "oom", "crash"}

// Result is how a session ended.
type Result struct {
	// ExitCode is what `sockjail run` exits with: the program's status
	// (128+N for signal N), or one of package exitcode's codes when the
	// program never ran.
	ExitCode    int
	CloseReason string
	Err         error
}

// Info describes a live session, for an operator's listing.
type Info struct {
	Peer    netip.AddrPort
	Pid     int
	Started time.Time
	Node    int // the node number (SetNode), or 0
}

// EnvNode is the program's variable holding its session's node number
// under `sockjail serve` (Session.SetNode).
const EnvNode = "SOCKJAIL_NODE"

// Session is one connection being served. Its methods other than Run may be
// called from other goroutines (signal handlers, a server stopping).
type Session struct {
	conn    *conn.Conn
	cfg     *Config
	started time.Time

	node       int    // the node number given by serve, or 0
	proxyRead  bool   // the PROXY header was already consumed
	gated      bool   // the proof of work already ran (Gate)
	pow        string // how it ended, for the log line; "" if it didn't run
	proxyLocal bool   // and its command was LOCAL: the proxy's own connection
	// relayEnded is set once the relay returned, with relayErr saying how.
	relayEnded bool
	relayErr   error
	// onClosed runs when the close has ended (OnClosed).
	onClosed func()
	// counted is set while the session counts as live in the metrics:
	// from SessionServed until its end is counted, by logEnd or, after a
	// crash, by contain.
	counted atomic.Bool

	mu      sync.Mutex
	proc    *sandbox.Process
	killed  bool   // Kill was called
	killWhy string // why the tree was killed, for the log line
	closing bool
	abort   context.CancelFunc // ends a running close
	aborted bool
}

// New prepares serving c. The Session owns c from now on.
func New(c *conn.Conn, cfg *Config) *Session {
	return &Session{conn: c, cfg: cfg, started: time.Now()}
}

// ReadProxyHeader consumes the PROXY protocol header that the policy's
// [serve] proxy_protocol asks for, and takes the client's address from it.
// `serve` calls it before applying its access rules; Run calls it itself
// when it was not called.
func (s *Session) ReadProxyHeader() error {
	mode := s.cfg.Policy.Serve.ProxyProtocol
	if s.proxyRead || !mode.Expected() {
		return nil
	}
	s.proxyRead = true
	h, err := proxyproto.Read(s.conn.InFD(), ProxyHeaderTimeout, string(mode))
	if err != nil {
		return fmt.Errorf("reading PROXY protocol header: %w", err)
	}
	s.proxyLocal = h.Command == proxyproto.CmdLocal
	if h.Source.IsValid() {
		s.conn.SetPeer(h.Source)
	}
	if h.Dest.IsValid() {
		s.conn.SetLocal(h.Dest)
	}
	return nil
}

// ProxyLocal reports whether ReadProxyHeader read a PROXY v2 header with
// the LOCAL command: a connection the load balancer opened itself, such as
// HAProxy's check-send-proxy health check.
func (s *Session) ProxyLocal() bool { return s.proxyLocal }

// Dismiss closes the connection without starting the program and without a
// log line: for a load balancer's health check, which serve counts instead.
// The close sends FIN after draining what the peer sent, without waiting
// for it: a checker has nothing more to say.
func (s *Session) Dismiss() conn.CloseResult {
	cr := s.conn.Close(context.Background(), conn.CloseOptions{})
	if s.onClosed != nil {
		s.onClosed()
	}
	return cr
}

// Info describes the session.
func (s *Session) Info() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	pid := 0
	if s.proc != nil {
		pid = s.proc.Pid()
	}
	return Info{Peer: s.conn.Peer(), Pid: pid, Started: s.started, Node: s.node}
}

// SetNode gives the session a node number, 1 up, which the program gets
// as SOCKJAIL_NODE and the log line as node=. `serve` numbers its live
// connections this way, lowest free first, for programs that keep per-line
// state (a BBS's drop files). It must be called before Run.
func (s *Session) SetNode(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.node = n
}

// Signal forwards sig to the program, if it is running.
func (s *Session) Signal(sig syscall.Signal) {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p != nil {
		p.Signal(sig)
	}
}

// Kill ends the program's whole process tree now. The close still runs.
func (s *Session) Kill() {
	s.kill("killed")
}

func (s *Session) kill(why string) {
	s.mu.Lock()
	p := s.proc
	if !s.killed {
		s.killed = true
		s.killWhy = why
	}
	s.mu.Unlock()
	if p != nil {
		p.KillTree()
	}
}

// Closing reports whether the session is in its flush-then-close phase.
func (s *Session) Closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// AbortClose ends a running flush-then-close at once (a second SIGTERM).
// Before the close phase it marks the close to be skipped.
func (s *Session) AbortClose() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.aborted = true
	if s.abort != nil {
		s.abort()
	}
}

// Run serves the connection and returns how it ended. It writes exactly one
// log line and never writes log text to the connection.
//
// A panic in any goroutine of the session ends the session only: Run kills
// the program's tree, closes the connection and panics again with a
// [*Crash] for its caller to log (serve recovers it).
func (s *Session) Run(ctx context.Context) Result {
	defer s.contain()
	hook("session")
	p := s.cfg.Policy
	attrs := s.baseAttrs()

	if err := s.conn.Configure(p.Connection.NoDelay, time.Duration(p.Connection.KeepAlive)); err != nil {
		attrs = append(attrs, slog.String("sockopt_error", err.Error()))
	}
	if err := s.ReadProxyHeader(); err != nil {
		return s.refuse(attrs, "proxy-header", err, exitcode.Refused)
	}
	if reason, err := s.Gate(); reason != "" {
		return s.refuse(append(attrs, s.powAttrs()...), reason, err, exitcode.Refused)
	}
	attrs = append(attrs, s.powAttrs()...)

	// An interactive program gets a pty or pipes through the relay instead
	// of the connection itself; everything else keeps the zero-copy path.
	rl, err := s.newRelay(ctx, &attrs)
	if rl != nil {
		defer rl.Close()
	}
	if errors.Is(err, rlogin.ErrHandshake) {
		// Not an rlogin client, or one that stalled: no program for it.
		return s.refuse(attrs, ReasonRloginHandshake, err, exitcode.Refused)
	}
	// From here on the connection is a session: every way out goes
	// through logEnd with refused false, which counts its end.
	s.cfg.Metrics.SessionServed()
	s.counted.Store(true)
	if err != nil {
		return s.finish(attrs, Result{ExitCode: exitcode.OSError, Err: err}, false)
	}

	stdio, cleanup, err := s.stdio(rl)
	if err != nil {
		return s.finish(attrs, Result{ExitCode: exitcode.OSError, Err: err}, false)
	}
	env := s.environment()
	if rl != nil {
		env = append(env, rl.Env()...)
	}
	startedAt := time.Now()
	proc, err := s.cfg.Sandbox.Start(sandbox.StartConfig{
		Stdin: stdio.in, Stdout: stdio.out, Stderr: stdio.err,
		Env: env, ControllingTTY: stdio.ctty,
	})
	if err == nil {
		s.cfg.Metrics.SandboxStarted(time.Since(startedAt))
	}
	cleanup.afterStart()
	if err != nil {
		cleanup.wait()
		code := StartErrorCode(err)
		attrs = append(attrs, slog.String("error", err.Error()))
		return s.finish(attrs, Result{ExitCode: code, Err: err}, false)
	}
	s.mu.Lock()
	s.proc = proc
	killNow := s.killed
	s.mu.Unlock()
	if killNow {
		proc.KillTree()
	}

	var relayDone chan error
	relayCtx, stopRelay := context.WithCancel(context.Background())
	defer stopRelay()
	if rl != nil {
		relayDone = make(chan error, 1)
		go func() {
			defer func() {
				if v := recover(); v != nil {
					relayDone <- Recovered(v)
				}
			}()
			hook("relay")
			relayDone <- rl.Run(relayCtx)
		}()
	}
	exit, werr := s.wait(ctx, proc, relayDone)
	// The program is gone; nothing it started may outlive the session.
	proc.KillTree()
	if rl != nil {
		// The pty or pipes end only when every process holding them is
		// gone. Let the relay write what the program left there, bounded
		// like a flush.
		proc.Wait()
		if err := s.finishRelay(relayDone, stopRelay); err != nil {
			attrs = append(attrs, slog.String("relay", err.Error()))
		}
		rl.Close()
	}
	// Everything the program wrote is in the socket. Close the connection
	// now, while the kernel takes the rest of the session down (a
	// background child still holding the socket can add nothing after the
	// FIN); the log line waits for both.
	cr := s.closeConn()
	if _, err := proc.Wait(); err != nil && werr == nil {
		werr = err
	}
	if err := proc.Close(); err != nil {
		attrs = append(attrs, slog.String("cleanup_error", err.Error()))
	}
	cleanup.wait()
	s.cfg.Metrics.OOMKills(proc.CgroupStats().OOMKills)
	if proc.OOMKilled() {
		s.mu.Lock()
		if s.killWhy == "" {
			s.killWhy = "oom"
		}
		s.mu.Unlock()
	}
	attrs = append(attrs, cleanup.attrs()...)
	attrs = append(attrs, reportAttrs(proc)...)
	res := Result{ExitCode: exit.ExitCode()}
	if werr != nil {
		res.Err = werr
		res.ExitCode = exitcode.Internal
		attrs = append(attrs, slog.String("error", werr.Error()))
	}
	attrs = append(attrs, slog.Int("pid", proc.Pid()))
	attrs = append(attrs, exitAttrs(exit)...)
	return s.logEnd(attrs, res, false, cr)
}

// wait waits for the program while enforcing max_duration and idle_timeout.
// relayDone, when not nil, reports the end of the relay: an idle timeout or a
// hang-up there ends the program too.
func (s *Session) wait(ctx context.Context, proc *sandbox.Process, relayDone <-chan error) (sandbox.Exit, error) {
	type waited struct {
		exit sandbox.Exit
		err  error
	}
	done := make(chan waited, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- waited{err: Recovered(v)}
			}
		}()
		hook("wait")
		e, err := proc.WaitProgram()
		done <- waited{e, err}
	}()

	limits := s.cfg.Policy.Connection
	var deadline <-chan time.Time
	if d := time.Duration(limits.MaxDuration); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		deadline = t.C
	}
	var idleTick <-chan time.Time
	idle := time.Duration(limits.IdleTimeout)
	if idle > 0 && relayDone == nil && s.conn.Kind() == conn.KindTCP {
		t := time.NewTicker(idlePollInterval(idle))
		defer t.Stop()
		idleTick = t.C
	}
	for {
		select {
		case w := <-done:
			rethrow(w.err)
			return w.exit, w.err
		case <-deadline:
			s.kill("max-duration")
		case <-idleTick:
			if st := s.conn.Stats(); st.Valid && min(st.SinceRecv, st.SinceSent) >= idle {
				s.kill("idle-timeout")
			}
		case err := <-relayDone:
			rethrow(err)
			relayDone = nil
			s.relayEnded, s.relayErr = true, err
			switch {
			case errors.Is(err, relay.ErrIdle):
				s.kill("idle-timeout")
			case err != nil:
				s.kill("hangup")
			}
		case <-ctx.Done():
			s.kill("stopped")
			ctx = context.Background() // kill once
		}
	}
}

// ReasonRloginHandshake is the refusal of a client that didn't complete an
// rlogin handshake ([terminal] protocol = "rlogin") within
// rlogin.HandshakeTimeout, or sent something else.
const ReasonRloginHandshake = "rlogin-handshake"

// newRelay starts the relay that [terminal] asks for, negotiating telnet
// options or reading the rlogin handshake before the program starts, so
// that TERM and the window size are right from its first byte. It returns
// nil when the program gets the connection directly, and the relay with
// an error wrapping rlogin.ErrHandshake when an rlogin client's handshake
// failed.
func (s *Session) newRelay(ctx context.Context, attrs *[]slog.Attr) (*relay.Relay, error) {
	rcfg, err := relayConfig(s.cfg.Policy)
	if err != nil || !rcfg.Needed() {
		return nil, err
	}
	rl, err := relay.New(rcfg, s.conn.InFD(), s.conn.OutFD())
	if err != nil {
		return nil, err
	}
	if err := rl.Negotiate(ctx); errors.Is(err, rlogin.ErrHandshake) {
		return rl, err
	} else if err != nil {
		*attrs = append(*attrs, slog.String("negotiate_error", err.Error()))
	}
	return rl, nil
}

// finishRelay waits for the relay to deliver the program's last output
// after the program's tree is gone, for at most flush_timeout.
func (s *Session) finishRelay(done <-chan error, stop context.CancelFunc) error {
	if s.relayEnded {
		return s.relayErr
	}
	t := time.NewTimer(s.cfg.Close.FlushTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		rethrow(err)
		return err
	case <-t.C:
		stop()
		err := <-done
		rethrow(err)
		return fmt.Errorf("relay: output not delivered within flush_timeout: %w", err)
	}
}

// idlePollInterval is how often TCP_INFO is read to enforce idle_timeout:
// often enough to end the session within a quarter of the timeout, and at
// most once a second.
func idlePollInterval(idle time.Duration) time.Duration {
	return min(max(idle/4, 10*time.Millisecond), time.Second)
}

// finish runs the flush-then-close and writes the session's log line.
// refused marks a connection whose program was never started.
func (s *Session) finish(attrs []slog.Attr, res Result, refused bool) Result {
	return s.logEnd(attrs, res, refused, s.closeConn())
}

// closeConn runs the flush-then-close. A second SIGTERM (AbortClose) ends
// it at once.
func (s *Session) closeConn() conn.CloseResult {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.mu.Lock()
	s.closing = true
	s.abort = cancel
	if s.aborted {
		cancel()
	}
	s.mu.Unlock()
	cr := s.conn.Close(ctx, s.cfg.Close)
	if s.onClosed != nil {
		s.onClosed()
	}
	return cr
}

// OnClosed sets f to run once the connection is closed (its flush-then-
// close has ended), before the session waits for the sandbox's teardown
// and logs. Call it before Run. serve uses it to stop counting the
// connection against its client's limits.
func (s *Session) OnClosed(f func()) { s.onClosed = f }

// logEnd writes the session's one log line, with how the close went.
func (s *Session) logEnd(attrs []slog.Attr, res Result, refused bool, cr conn.CloseResult) Result {
	s.mu.Lock()
	why := s.killWhy
	s.mu.Unlock()
	res.CloseReason = cr.Reason
	if why != "" {
		attrs = append(attrs, slog.String("killed", why))
	}
	if !refused {
		if why != "" {
			s.cfg.Metrics.ProgramKilled(why)
		}
		var rx, tx int64
		if cr.Stats.Valid {
			rx, tx = cr.Stats.BytesReceived, cr.Stats.BytesSent
		}
		if s.counted.Swap(false) {
			s.cfg.Metrics.SessionEnded(time.Since(s.started), rx, tx)
		}
	}
	// Byte counts come from TCP_INFO, which only TCP connections have.
	if st := cr.Stats; st.Valid {
		attrs = append(attrs,
			slog.Int64("rx_bytes", st.BytesReceived),
			slog.Int64("tx_bytes", st.BytesSent))
	}
	attrs = append(attrs,
		slog.String("close", cr.Reason),
		slog.Duration("duration", time.Since(s.started).Round(time.Microsecond)),
	)
	if cr.Err != nil {
		attrs = append(attrs, slog.String("close_error", cr.Err.Error()))
	}
	attrs = append(attrs, slog.Int("exit", res.ExitCode))
	level := slog.LevelInfo
	msg := "connection"
	if refused || res.Err != nil {
		level = slog.LevelWarn
	}
	if refused {
		msg = "connection refused"
	}
	s.cfg.Log.LogAttrs(context.Background(), level, msg, attrs...)
	return res
}

// refuse closes the connection politely without starting the program and
// logs the reason; code is what `sockjail run` exits with.
func (s *Session) refuse(attrs []slog.Attr, reason string, err error, code int) Result {
	s.cfg.Metrics.Refused(reason)
	attrs = append(attrs, slog.String("reason", reason))
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	return s.finish(attrs, Result{ExitCode: code, Err: err}, true)
}

// Refuse closes c politely without starting the program: it writes message
// (if any) to the client, drains its input, sends FIN and writes one log line
// with the reason. serve uses it for connections its limits or access rules
// turn away; run uses it when the program cannot be prepared. The exit code
// is exitcode.Refused, or 126/127 when err says the program cannot run.
func Refuse(c *conn.Conn, cfg *Config, reason string, message string, err error) Result {
	s := New(c, cfg)
	attrs := s.baseAttrs()
	if message != "" {
		if !strings.HasSuffix(message, "\n") {
			message += "\r\n"
		}
		if werr := fdio.WriteAll(c.OutFD(), []byte(message)); werr != nil {
			attrs = append(attrs, slog.String("message_error", werr.Error()))
		}
	}
	code := exitcode.Refused
	if pe := (*sandbox.ProgramError)(nil); errors.As(err, &pe) {
		code = StartErrorCode(err)
	}
	return s.refuse(attrs, reason, err, code)
}

func (s *Session) baseAttrs() []slog.Attr {
	attrs := make([]slog.Attr, 0, 24)
	attrs = append(attrs, slog.String("peer", peerString(s.conn.Peer(), s.conn)))
	if local := s.conn.Local(); local.IsValid() {
		attrs = append(attrs, slog.String("local", local.String()))
	}
	if len(s.cfg.Argv) > 0 {
		attrs = append(attrs, slog.String("program", s.cfg.Argv[0]))
	}
	if s.node > 0 {
		attrs = append(attrs, slog.Int("node", s.node))
	}
	return attrs
}

func reportAttrs(proc *sandbox.Process) []slog.Attr {
	r := proc.Report()
	attrs := []slog.Attr{
		slog.Int("uid", r.UID),
		slog.Int("gid", r.GID),
		slog.Int("landlock_abi", r.LandlockABI),
		slog.Int("seccomp_rules", r.SeccompRules),
		slog.String("tmp", string(r.Tmp)),
		slog.Bool("pidns", r.PIDNS),
		slog.Bool("ipcns", r.IPCNS),
		slog.Bool("proc", r.Proc),
	}
	if r.Traced {
		// learn: nothing was denied, every syscall was traced.
		attrs = append(attrs, slog.Bool("traced", true))
	}
	attrs = append(attrs, boundAttrs(r)...)
	if r.Cgroup == sandbox.CgroupV1 || r.Cgroup == sandbox.CgroupV2 {
		st := proc.CgroupStats()
		attrs = append(attrs, slog.String("memory_peak", policy.Size(st.MemoryPeak).String()),
			slog.Uint64("oom_kills", st.OOMKills))
		if st.CPUUsage > 0 {
			attrs = append(attrs, slog.Duration("cpu_usage", st.CPUUsage.Round(time.Millisecond)))
		}
	}
	if len(r.Skipped) > 0 {
		attrs = append(attrs, slog.String("skipped", strings.Join(r.Skipped, ",")))
	}
	return attrs
}

// boundAttrs says what bounds the session's totals: cgroup=v1|v2|unit|none
// and the bounds in force.
func boundAttrs(r sandbox.Report) []slog.Attr {
	attrs := []slog.Attr{slog.String("cgroup", r.Cgroup)}
	if r.MemoryMax != 0 {
		attrs = append(attrs, slog.String("memory_max", policy.Size(r.MemoryMax).String()))
	}
	if r.TasksMax != 0 {
		attrs = append(attrs, slog.Uint64("tasks_max", r.TasksMax))
	}
	if r.CPUQuota != 0 {
		attrs = append(attrs, slog.String("cpu_quota", strconv.FormatUint(r.CPUQuota, 10)+"%"))
	}
	return attrs
}

func exitAttrs(e sandbox.Exit) []slog.Attr {
	if e.Signal != 0 {
		return []slog.Attr{slog.String("signal", e.Signal.String())}
	}
	return []slog.Attr{slog.Int("status", e.Code)}
}

// StartErrorCode maps an error from sandbox.New or Sandbox.Start to the exit
// code of `sockjail run`.
func StartErrorCode(err error) int {
	var pe *sandbox.ProgramError
	var re *sandbox.RefusedError
	switch {
	case errors.As(err, &pe) && pe.Kind == sandbox.NotFound:
		return exitcode.NotFound
	case errors.As(err, &pe) && pe.Kind == sandbox.NotExecutable:
		return exitcode.NotExecutable
	case errors.As(err, &re):
		return exitcode.Refused
	default:
		return exitcode.OSError
	}
}

// environment builds the program's environment: the policy's env, then the
// variables it passes through from sockjail's own environment, then the
// connection's (REMOTE_ADDR, TCPREMOTEIP, …) and SOCKJAIL_NODE, which
// nothing may override.
func (s *Session) environment() []string {
	prog := s.cfg.Policy.Program
	vars := make(map[string]string, len(prog.Env)+len(prog.PassEnv)+8)
	for k, v := range prog.Env {
		vars[k] = v
	}
	for _, k := range prog.PassEnv {
		if v, ok := os.LookupEnv(k); ok {
			vars[k] = v
		}
	}
	for _, kv := range s.conn.Env() {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	if s.node > 0 {
		vars[EnvNode] = strconv.Itoa(s.node)
	}
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

// programStdio is the three fds the program gets.
type programStdio struct {
	in, out, err int
	ctty         bool // in is a terminal to make the controlling one
}

// stdioCleanup releases the parent's copies of fds made for the program.
type stdioCleanup struct {
	closeAfterStart []*os.File
	readerDone      chan struct{}
	stderr          *stderrLog // with stderr = "log"
}

// attrs returns what the connection's log line says of the program's
// stderr: the lines dropped over the bounds, if any.
func (c *stdioCleanup) attrs() []slog.Attr {
	if c.stderr == nil {
		return nil
	}
	if n := c.stderr.dropped.Load(); n > 0 {
		return []slog.Attr{slog.Int64("stderr_dropped", n)}
	}
	return nil
}

func (c *stdioCleanup) afterStart() {
	for _, f := range c.closeAfterStart {
		f.Close()
	}
	c.closeAfterStart = nil
}

// wait waits for the stderr logger to see EOF, which it does once the
// program's tree is gone. It gives up after a second so that a descriptor
// leaked outside the tree cannot hold the session.
func (c *stdioCleanup) wait() {
	if c.readerDone == nil {
		return
	}
	select {
	case <-c.readerDone:
	case <-time.After(time.Second):
	}
}

// stdio decides the program's three fds: the connection (or the relay's pty
// or pipes) as stdin and stdout, and stderr as the policy says.
func (s *Session) stdio(rl *relay.Relay) (programStdio, *stdioCleanup, error) {
	io := programStdio{in: s.conn.InFD(), out: s.conn.OutFD(), err: -1}
	if rl != nil {
		io.in, io.out, io.err, io.ctty = rl.ProgramFiles()
	}
	cl := &stdioCleanup{}
	if io.err >= 0 { // the relay's pty carries stderr too
		return io, cl, nil
	}
	switch s.cfg.Policy.Program.Stderr {
	case policy.StderrConnection:
		io.err = io.out
	case policy.StderrInherit:
		io.err = int(os.Stderr.Fd())
	case policy.StderrNull:
		io.err = -1 // the sandbox opens /dev/null
	default: // policy.StderrLog
		r, w, err := os.Pipe()
		if err != nil {
			return io, cl, fmt.Errorf("creating the stderr pipe: %w", err)
		}
		cl.closeAfterStart = append(cl.closeAfterStart, w)
		io.err = int(w.Fd())
		cl.readerDone = make(chan struct{})
		cl.stderr = newStderrLog(s)
		go cl.stderr.run(r, cl.readerDone)
	}
	return io, cl, nil
}

func peerString(p netip.AddrPort, c *conn.Conn) string {
	if p.IsValid() {
		return p.String()
	}
	return c.Kind().String()
}
