package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"syscall"

	"github.com/sockjail/sockjail/internal/conn"
	"github.com/sockjail/sockjail/internal/exitcode"
	"github.com/sockjail/sockjail/internal/session"
	"github.com/sockjail/sockjail/internal/sigcatch"
	"github.com/sockjail/sockjail/policy"
)

func init() {
	register(command{
		name:    "run",
		summary: "serve the connection on fd 0 (systemd Accept=yes, inetd, socat) with PROGRAM",
		run:     runCommand,
	})
}

const runDescription = `Runs PROGRAM confined by the policy, with the connection sockjail was
started with as its stdin and stdout: fd 0 as systemd (Accept=yes,
StandardInput=socket), inetd or socat hand it, or the connected socket on
fd 3 with LISTEN_FDS=1 as 'systemd-socket-activate --accept' passes it.
When PROGRAM ends, sockjail ends every process it started, flushes what the
client has not yet acknowledged, and closes the connection without a reset.
One log line per connection goes to stderr.

sockjail exits with PROGRAM's status (128+N when signal N killed it), or:
  64 usage error    66 no connection on fd 0    69 refused (strict policy)
  70 internal error 71 system error   78 bad policy
  126 PROGRAM not executable    127 PROGRAM not found`

func runCommand(args []string) int {
	// Parse the flags; everything after "--" is the program.
	var sf serviceFlags
	c := newCLI("run", []string{"sockjail run [--policy FILE] [--log-format text|json] -- PROGRAM [ARGS...]"}, runDescription)
	sf.register(c)
	if code, ok := sf.parse(c, args); !ok {
		return code
	}
	log := sf.logger(os.Stderr)

	// Read the policy before touching the connection, so that a typo is
	// reported even when no client is there.
	p, err := sf.loadPolicy()
	if err != nil {
		return fail(exitcode.Config, err, "'sockjail check FILE' lists every error")
	}

	// Take the connection from fd 0 (or fd 3 with LISTEN_FDS).
	client, err := conn.FromStdio()
	if err != nil {
		if errors.Is(err, conn.ErrListening) {
			return fail(exitcode.NoConnection, err, "'sockjail serve' serves listening sockets (Accept=no); 'sockjail run' wants one accepted connection (Accept=yes, systemd-socket-activate --accept)")
		}
		return fail(exitcode.NoConnection, err, "run sockjail from systemd (Accept=yes), inetd or socat, with the connection on fd 0")
	}

	// Prepare the sandbox. If it cannot be, the client gets a polite close
	// and nothing else.
	cfg, err := newSessionConfig(p, sf.argv, log)
	if err != nil {
		return refuseRun(client, p, sf.argv, log, err)
	}

	return serveConnection(client, cfg)
}

// serveConnection serves client with cfg as `run` does: one session, with
// SIGTERM, SIGINT and SIGHUP forwarded to the program. It returns the exit
// code.
func serveConnection(client *conn.Conn, cfg *session.Config) int {
	// Serve the connection, forwarding SIGTERM, SIGINT and SIGHUP to the
	// program. A second SIGTERM that arrives while the connection is being
	// closed ends the close at once; the first one does not, because socat
	// sends one as soon as it has half-closed its side.
	//
	// sigcatch, not os/signal: Notify keeps two OS threads blocked for the
	// life of the process, which cost every connection page faults and
	// context switches (docs/design.md, issue 18). Until Catch returns a
	// signal has its default effect, as it had during sockjail's start.
	// Close removes what New prepared ahead (the session's cgroup) if
	// the program never starts.
	defer cfg.Sandbox.Close()
	s := session.New(client, cfg)
	sigs, err := sigcatch.Catch(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	if err != nil {
		// Without it a SIGTERM would kill sockjail before the close:
		// refuse rather than serve without the close's guarantee.
		return session.Refuse(client, cfg, "sandbox", "", err).ExitCode
	}
	go func() {
		terms := 0
		for {
			sig, err := sigs.Next()
			if err != nil {
				return
			}
			if sig == syscall.SIGTERM {
				terms++
				if terms > 1 && s.Closing() {
					s.AbortClose()
					continue
				}
			}
			s.Signal(sig)
		}
	}()
	return s.Run(context.Background()).ExitCode
}

// refuseRun closes the connection politely when the program could not be
// prepared, logs why in the connection's log line, and returns the exit code.
func refuseRun(c *conn.Conn, p *policy.Policy, argv []string, log *slog.Logger, err error) int {
	code := session.StartErrorCode(err)
	reason := "sandbox"
	if code == exitcode.NotFound || code == exitcode.NotExecutable {
		reason = "program"
	}
	return session.Refuse(c, session.NewConfig(p, nil, argv, log), reason, "", err).ExitCode
}
