package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sockjail/sockjail/internal/exitcode"
	"github.com/sockjail/sockjail/internal/serve"
	"github.com/sockjail/sockjail/internal/session"
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
client address then comes from the load balancer's PROXY header) and
stop_timeout (default 30s). Refused connections get an optional
busy_message line and a polite close, never a reset, and a log line with
the reason; the program is not started for them.

Signals:
  SIGTERM, SIGINT  stop accepting, let live sessions finish within
                   stop_timeout, then end them (their close still runs);
                   exit 0. A second one ends everything at once.
  SIGHUP           reload the policy for new connections; an invalid
                   policy is logged and the current one stays.
  SIGUSR1          log the live sessions (peer, pid, age).
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
	c := newCLI("serve", []string{"sockjail serve [--listen ADDR]... [--policy FILE] [--log-format text|json] -- PROGRAM [ARGS...]"}, serveDescription)
	sf.register(c)
	c.flags.Var(&listen, "listen", "listen on `ADDR` (127.0.0.1:31337, [::]:31337, :31337); repeatable; default: the sockets systemd passes")
	if code, ok := sf.parse(c, args); !ok {
		return code
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
			if errors.Is(err, serve.ErrNoListenFDs) {
				return fail(exitcode.NoConnection, err, "give --listen ADDR, or start it from a systemd socket unit with Accept=no")
			}
			return fail(exitcode.NoConnection, err)
		}
	}

	srv, err := serve.New(serve.Config{Listeners: ls, Log: log, Initial: initial, Load: load})
	if err != nil {
		return fail(exitcode.Internal, err)
	}
	srv.Serve(context.Background(), sigs)
	return exitcode.OK
}
