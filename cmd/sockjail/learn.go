package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sockjail/sockjail/internal/conn"
	"github.com/sockjail/sockjail/internal/exitcode"
	"github.com/sockjail/sockjail/internal/learn"
	"github.com/sockjail/sockjail/internal/serve"
	"github.com/sockjail/sockjail/internal/session"
)

func init() {
	register(command{
		name:    "learn",
		summary: "watch PROGRAM serve real sessions and write the narrowest policy that lets it work",
		run:     learnCommand,
	})
}

const learnDescription = `Serves real sessions with PROGRAM as 'sockjail run' (the connection on
fd 0) or, with --listen, as 'sockjail serve' would: the same namespaces,
private /tmp, credentials and limits. But nothing is denied: every
syscall is traced instead (a seccomp filter that hands each call to
sockjail, which records it and lets it proceed), and the files, devices,
TCP ports, unix sockets and syscalls the program used become the
narrowest policy that lets it do that again, written to --out. Each entry
has a comment saying what was seen; warnings (a syscall the default
denies, a write under /etc or /usr, a port below 1024) are marked in the
file and printed on stderr.

A learning session is a tracing session, NOT a sandbox: run it only with
clients and data you trust, never as a service left running. It ends by
itself: after the one connection on fd 0, or under --listen after
--sessions sessions (default 1) have ended, after --duration, or on
SIGINT or SIGTERM. --policy names the base policy: its other settings
(program, limits, connection, serve) are kept in the learned one.

--out is written only at the end, all at once (a temporary file in the
same directory, renamed): on any error nothing is left behind. Check the
result with 'sockjail check FILE', then serve with 'sockjail run --policy
FILE'. See docs/learn.md.

Exit status: 0 when the policy was written, or
  64 usage error    66 no connection on fd 0, or no session observed
  69 refused (strict base policy)   71 system error (cannot listen)
  73 cannot write --out   78 bad base policy
  126 PROGRAM not executable    127 PROGRAM not found`

// learnFlags are learn's own flags; the shared ones are serviceFlags.
type learnFlags struct {
	out      string
	listen   stringList
	sessions int
	duration time.Duration
}

func learnCommand(args []string) int {
	var sf serviceFlags
	var lf learnFlags
	c := newCLI("learn", []string{
		"sockjail learn --out FILE [--policy BASE] [--log-format text|json] -- PROGRAM [ARGS...]",
		"sockjail learn --out FILE --listen ADDR [--sessions N] [--duration D] [--policy BASE] -- PROGRAM [ARGS...]",
	}, learnDescription)
	sf.register(c)
	c.flags.StringVar(&lf.out, "out", "", "write the learned policy to `FILE` (required)")
	c.flags.Var(&lf.listen, "listen", "accept connections on `ADDR` (127.0.0.1:31337) like 'sockjail serve', learning from each; repeatable")
	c.flags.IntVar(&lf.sessions, "sessions", 1, "with --listen: stop accepting after `N` sessions, and end when they have")
	c.flags.DurationVar(&lf.duration, "duration", 0, "with --listen: stop accepting after `D` (1m, 30s), and end when the sessions have")
	if code, ok := sf.parse(c, args); !ok {
		return code
	}
	switch {
	case lf.out == "":
		return c.usageError("--out FILE is required", "sockjail learn --out app.toml -- PROGRAM")
	case lf.sessions < 1:
		return c.usageError(fmt.Sprintf("--sessions must be at least 1, not %d", lf.sessions))
	case lf.duration < 0:
		return c.usageError(fmt.Sprintf("--duration must not be negative, not %v", lf.duration))
	case len(lf.listen) == 0 && (lf.sessions != 1 || lf.duration != 0):
		return c.usageError("--sessions and --duration need --listen: without it, learn serves the one connection on fd 0",
			"sockjail learn --listen 127.0.0.1:31337 --sessions 3 --out app.toml -- PROGRAM")
	}
	log := sf.logger(os.Stderr)

	base, err := sf.loadPolicy()
	if err != nil {
		return fail(exitcode.Config, err, "'sockjail check FILE' lists every error")
	}
	obs := learn.NewObserver()
	cfg, err := newTracedSessionConfig(base, sf.argv, log, obs.Trace)
	if err != nil {
		return fail(session.StartErrorCode(err), err, startHints(err)...)
	}
	defer cfg.Sandbox.Close()
	// Create the output's temporary file now, so that an --out that can't
	// be written is said before any session is served.
	out, err := newAtomicFile(lf.out)
	if err != nil {
		return fail(exitcode.CantCreate, err, "--out must name a file in a directory sockjail can write")
	}
	defer out.abort()

	var code int
	if len(lf.listen) == 0 {
		client, err := conn.FromStdio()
		if err != nil {
			return fail(exitcode.NoConnection, err, "run it where 'sockjail run' runs (systemd-socket-activate --accept, socat, a unit), or give --listen ADDR")
		}
		code = serveConnection(client, cfg)
	} else if code = learnListen(lf, cfg, obs); code != exitcode.OK {
		return code
	}

	seen := obs.Observations()
	if seen.Sessions == 0 {
		return fail(exitcode.NoConnection, errors.New("no session was observed: nothing written to "+lf.out),
			"connect to the listening address while learn runs, or raise --duration")
	}
	text, warnings, err := learn.WritePolicy(base, seen, learnHeader(sf, lf, seen.Sessions))
	if err != nil {
		return fail(exitcode.Internal, fmt.Errorf("writing the policy: %w", err))
	}
	if err := out.commit(text); err != nil {
		return fail(exitcode.CantCreate, err)
	}
	if seen.Dropped > 0 {
		warnings = append(warnings, fmt.Sprintf("%d paths or unix sockets were not recorded: a session used more than %d; the policy denies them", seen.Dropped, learn.MaxPaths))
	}
	for _, w := range warnings {
		fmt.Fprintf(os.Stderr, "sockjail: warning: %s\n", w)
	}
	hint(fmt.Sprintf("'sockjail check %s' checks it; 'sockjail run --policy %s -- ...' enforces it", lf.out, lf.out))
	if len(lf.listen) == 0 && code != exitcode.OK {
		// The program's own status, as run reports it: the policy was
		// still written from what it did.
		return code
	}
	return exitcode.OK
}

// learnListen accepts and serves connections like serve until --sessions
// sessions have started or --duration has passed (then lets the live ones
// finish), or SIGINT or SIGTERM.
func learnListen(lf learnFlags, cfg *session.Config, obs *learn.Observer) int {
	// SIGHUP and SIGUSR1 are caught too, as serve catches them (a reload
	// is refused and logged, SIGUSR1 lists the sessions): by default they
	// would end learn without writing the file.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	var ls []*serve.Listener
	for _, a := range lf.listen {
		l, err := serve.Listen(a)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return fail(exitcode.OSError, fmt.Errorf("--listen %q: %w", a, err))
		}
		ls = append(ls, l)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	obs.OnTrace(func(n int) {
		if n >= lf.sessions {
			stop()
		}
	})
	if lf.duration > 0 {
		t := time.AfterFunc(lf.duration, stop)
		defer t.Stop()
	}
	srv, err := serve.New(serve.Config{Listeners: ls, Log: cfg.Log, Initial: cfg,
		Load: func() (*session.Config, error) { return nil, errors.New("learn does not reload its policy") }})
	if err != nil {
		return fail(exitcode.Internal, err)
	}
	srv.Serve(ctx, sigs)
	return exitcode.OK
}

// learnHeader says how the policy was learned, without a date: learning
// twice from the same sessions gives the same file.
func learnHeader(sf serviceFlags, lf learnFlags, sessions int) string {
	var b strings.Builder
	b.WriteString("Learned from ")
	b.WriteString(strconv.Itoa(sessions))
	if sessions == 1 {
		b.WriteString(" session of:")
	} else {
		b.WriteString(" sessions of:")
	}
	b.WriteString("\n  sockjail learn")
	if sf.policyPath != "" {
		b.WriteString(" --policy " + quoteArg(sf.policyPath))
	}
	b.WriteString(" --")
	for _, a := range sf.argv {
		b.WriteString(" " + quoteArg(a))
	}
	return b.String()
}

// quoteArg quotes a command-line argument for a reader (sh-style) when it
// holds anything but plain characters.
func quoteArg(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,@%+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// atomicFile is an output file written all at once: a temporary file in
// the same directory, renamed over the name on commit and removed on
// abort, so that a reader never sees a partial file and an error leaves
// nothing behind.
type atomicFile struct {
	name string
	tmp  *os.File
}

func newAtomicFile(name string) (*atomicFile, error) {
	if fi, err := os.Stat(name); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("--out %s: is a directory", name)
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("--out %s: %w", name, err)
	}
	return &atomicFile{name: name, tmp: tmp}, nil
}

// commit writes b, syncs it and renames it into place.
func (f *atomicFile) commit(b []byte) error {
	_, err := f.tmp.Write(b)
	if err == nil {
		err = f.tmp.Chmod(0o644)
	}
	if err == nil {
		err = f.tmp.Sync()
	}
	if cerr := f.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.tmp.Name(), f.name)
	}
	if err != nil {
		os.Remove(f.tmp.Name())
		return fmt.Errorf("--out %s: %w", f.name, err)
	}
	f.tmp = nil
	return nil
}

// abort removes the temporary file unless commit renamed it.
func (f *atomicFile) abort() {
	if f.tmp != nil {
		f.tmp.Close()
		os.Remove(f.tmp.Name())
		f.tmp = nil
	}
}
