package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/sockjail/sockjail/internal/admin"
	"github.com/sockjail/sockjail/internal/exitcode"
	"github.com/sockjail/sockjail/internal/metrics"
	"github.com/sockjail/sockjail/internal/serve"
	"github.com/sockjail/sockjail/internal/session"
	"github.com/sockjail/sockjail/policy"
)

func init() {
	register(command{
		name:    "serve",
		summary: "accept TCP connections itself (or from systemd Accept=no) and serve each with PROGRAM",
		run:     serveCommand,
	})
}

const serveDescription = `Accepts TCP connections and serves each one with PROGRAM, confined by the
policy, exactly as 'sockjail run' serves the one connection it is given:
the same environment (REMOTE_ADDR, TCPREMOTEIP, ...), sandbox,
flush-then-close and log line, without starting a systemd service per
connection.

Sockets: with --listen, sockjail listens itself (plain TCP, never MPTCP).
Without it, it takes the listening sockets systemd passes (a socket unit
with Accept=no, or 'systemd-socket-activate -l ADDR' without --accept).

The policy's [serve] table sets max_connections (default 64),
max_per_source (default 8), rate_per_source, allow_from and deny_from
(CIDRs, deny wins), busy_message, proxy_protocol (off, v1, v2, any: the
client address then comes from the load balancer's PROXY header),
health_check (proxy-local, tcp, any: load balancer checks answered
without starting the program), drain_delay (default 0) and stop_timeout
(default 30s). Refused connections get an optional busy_message line and
a polite close, never a reset, and a log line with the reason; the
program is not started for them.

Admin listener (off by default): --admin-listen ADDR or [serve]
admin_listen serves plain HTTP with GET /healthz, /readyz (503 while
draining, stopping or at max_connections) and /metrics (Prometheus text
format). See docs/fleet.md.

Signals:
  SIGTERM, SIGINT  /readyz turns 503; connections are still served for
                   drain_delay; then stop accepting, let live sessions
                   finish within stop_timeout, then end them (their close
                   still runs); exit 0. A second one skips the rest of the
                   drain, or ends everything at once.
  SIGHUP           reload the policy for new connections; an invalid
                   policy is logged and the current one stays.
  SIGUSR1          log the live sessions (peer, node, pid, age).
Under systemd (NOTIFY_SOCKET set, Type=notify) sockjail sends READY=1 once
listening, STATUS= with live counts, RELOADING=1 and READY=1 around a
reload, and STOPPING=1.

Exit status: 0 after a stop, or
  64 usage error    66 no listening socket    69 refused (strict policy)
  71 system error (cannot listen)   78 bad policy
  126 PROGRAM not executable    127 PROGRAM not found`

func serveCommand(args []string) int {
	var sf serviceFlags
	var listen stringList
	var adminListen string
	c := newCLI("serve", []string{"sockjail serve [--listen ADDR]... [--admin-listen ADDR] [--policy FILE] [--log-format text|json] -- PROGRAM [ARGS...]"}, serveDescription)
	sf.register(c)
	c.flags.Var(&listen, "listen", "listen on `ADDR` (127.0.0.1:31337, [::]:31337, :31337); repeatable; default: the sockets systemd passes")
	c.flags.StringVar(&adminListen, "admin-listen", "", "serve /healthz, /readyz and /metrics over HTTP on `ADDR` (127.0.0.1:9100); overrides [serve] admin_listen")
	if code, ok := sf.parse(c, args); !ok {
		return code
	}
	if adminListen != "" {
		if err := policy.CheckListenAddr(adminListen); err != nil {
			return c.usageError(fmt.Sprintf("--admin-listen: %v", err))
		}
	}
	log := sf.logger(os.Stderr)

	// Check the policy and prepare the sandbox before listening, so that
	// a typo or a protection this machine lacks stops the service at once
	// rather than refusing every client.
	p, err := sf.loadPolicy()
	if err != nil {
		return fail(exitcode.Config, err, "'sockjail check FILE' lists every error")
	}
	initial, err := newSessionConfig(p, sf.argv, log)
	if err != nil {
		return fail(session.StartErrorCode(err), err, startHints(err)...)
	}
	// A reload does the same again; the server keeps the current
	// configuration when it fails.
	load := func() (*session.Config, error) {
		p, err := sf.loadPolicy()
		if err != nil {
			return nil, err
		}
		return newSessionConfig(p, sf.argv, log)
	}

	// Catch the signals before listening, so that a SIGTERM right after
	// READY=1 is a graceful stop, not a kill.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)

	var ls []*serve.Listener
	if len(listen) > 0 {
		for _, a := range listen {
			l, err := serve.Listen(a)
			if err != nil {
				return fail(exitcode.OSError, fmt.Errorf("--listen %q: %w", a, err))
			}
			ls = append(ls, l)
		}
	} else {
		var err error
		ls, err = serve.SystemdListeners()
		if err != nil {
			if errors.Is(err, serve.ErrConnected) {
				return fail(exitcode.NoConnection, err, "'sockjail run' serves accepted connections (Accept=yes); 'sockjail serve' wants listening sockets (Accept=no)")
			}
			if errors.Is(err, serve.ErrNoListenFDs) {
				return fail(exitcode.NoConnection, err, "give --listen ADDR, or start it from a systemd socket unit with Accept=no")
			}
			return fail(exitcode.NoConnection, err)
		}
	}

	// The admin listener is opened with the others, so that a port in use
	// stops the service at once. It is opened once: a reload does not
	// move it.
	if adminListen == "" {
		adminListen = p.Serve.AdminListen
	}
	var adminLn net.Listener
	if adminListen != "" {
		adminLn, err = admin.Listen(adminListen)
		if err != nil {
			return fail(exitcode.OSError, err)
		}
	}

	m := metrics.New(serve.RefusalReasons, session.KillReasons)
	srv, err := serve.New(serve.Config{Listeners: ls, Log: log, Initial: initial, Load: load, Metrics: m})
	if err != nil {
		return fail(exitcode.Internal, err)
	}
	adminDone := make(chan struct{})
	if adminLn != nil {
		as := admin.New(admin.Config{Metrics: m, Ready: srv.Ready, Healthy: srv.Healthy, Log: log})
		log.Info("admin listening", "admin_listen", adminLn.Addr().String())
		go func() {
			as.Serve(adminLn)
			close(adminDone)
		}()
	} else {
		close(adminDone)
	}
	srv.Serve(context.Background(), sigs)
	// Scrapes and checks are answered until the last session has ended.
	if adminLn != nil {
		adminLn.Close()
	}
	<-adminDone
	return exitcode.OK
}
