package main

// This file holds what `run` and `serve` share: their flags, the policy and
// sandbox they set up, and the logger.

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/sockjail/sockjail/internal/exitcode"
	"github.com/sockjail/sockjail/internal/session"
	"github.com/sockjail/sockjail/internal/users"
	"github.com/sockjail/sockjail/policy"
	"github.com/sockjail/sockjail/sandbox"
)

// serviceFlags are the flags `run` and `serve` share.
type serviceFlags struct {
	policyPath string
	logFormat  string
	argv       []string // the program and its arguments, after "--"
}

// register adds the shared flags to c.
func (sf *serviceFlags) register(c *cli) {
	c.withProgram()
	c.flags.StringVar(&sf.policyPath, "policy", "", "policy `FILE` (default: the embedded default policy, see 'sockjail policy show')")
	c.flags.StringVar(&sf.logFormat, "log-format", "text", "log line format on stderr: text (key=value) or json")
}

// parse parses args into c and sf. It returns an exit code and false when
// the command should stop.
func (sf *serviceFlags) parse(c *cli, args []string) (int, bool) {
	_, program, code, ok := c.parse(args)
	if !ok {
		return code, false
	}
	switch sf.logFormat {
	case "text", "json":
	default:
		return c.usageError(fmt.Sprintf("--log-format must be text or json, not %q", sf.logFormat)), false
	}
	sf.argv = program
	return exitcode.OK, true
}

// logger returns the structured logger on stderr that the flags ask for.
func (sf *serviceFlags) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if sf.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// loadPolicy reads the policy the flags name, or the embedded default, and
// checks what it names on this host.
func (sf *serviceFlags) loadPolicy() (*policy.Policy, error) {
	if sf.policyPath == "" {
		return policy.Default(), nil
	}
	p, err := policy.Load(sf.policyPath)
	if err == nil {
		err = p.CheckHost(users.Host{})
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// newSessionConfig prepares the sandbox for p and the program and returns
// the configuration every session of the service shares.
func newSessionConfig(p *policy.Policy, argv []string, log *slog.Logger) (*session.Config, error) {
	return newTracedSessionConfig(p, argv, log, nil)
}

// newTracedSessionConfig is newSessionConfig for `learn`: with trace set,
// every session is a tracing session whose listener goes to trace
// (sandbox.Options.Trace).
func newTracedSessionConfig(p *policy.Policy, argv []string, log *slog.Logger, trace func(sandbox.Trace)) (*session.Config, error) {
	opts, err := sandbox.OptionsFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	opts.Trace = trace
	sb, err := sandbox.New(p, argv, opts)
	if err != nil {
		return nil, err
	}
	return session.NewConfig(p, sb, argv, log), nil
}

// startHints are the hints for an error preparing the sandbox.
func startHints(err error) []string {
	var refused *sandbox.RefusedError
	if errors.As(err, &refused) {
		return []string{"'sockjail probe --policy FILE' shows what this machine lacks; enforce = \"best-effort\" in the policy runs the program with less protection"}
	}
	return nil
}
