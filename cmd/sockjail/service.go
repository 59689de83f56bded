package main

// This file holds what `run` and `serve` share: their flags, the policy and
// sandbox they set up, and the logger.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/sockjail/sockjail/internal/exitcode"
	"github.com/sockjail/sockjail/internal/session"
	"github.com/sockjail/sockjail/policy"
	"github.com/sockjail/sockjail/sandbox"
)

// serviceFlags are the flags `run` and `serve` share.
type serviceFlags struct {
	policyPath string
	logFormat  string
	argv       []string // the program and its arguments, after "--"
}

// register adds the shared flags to fs.
func (sf *serviceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&sf.policyPath, "policy", "", "policy `FILE` (default: the embedded default policy, see 'sockjail policy show')")
	fs.StringVar(&sf.logFormat, "log-format", "text", "log line format on stderr: text (key=value) or json")
}

// parse parses args into fs and sf, requiring "--" before the program.
// It returns an exit code and false when the command should stop.
func (sf *serviceFlags) parse(fs *flag.FlagSet, args []string) (int, bool) {
	dash := -1
	for i, a := range args {
		if a == "--" {
			dash = i
			break
		}
	}
	flagArgs := args
	if dash >= 0 {
		flagArgs = args[:dash]
	}
	if err := fs.Parse(flagArgs); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitcode.OK, false
		}
		return exitcode.Usage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "sockjail %s: unexpected argument %q before \"--\"\nsockjail %s: hint: put the program after \"--\": sockjail %s [FLAGS] -- PROGRAM [ARGS...]\n", fs.Name(), fs.Arg(0), fs.Name(), fs.Name())
		return exitcode.Usage, false
	}
	if dash < 0 || dash == len(args)-1 {
		fmt.Fprintf(os.Stderr, "sockjail %s: no program given\nsockjail %s: hint: sockjail %s [FLAGS] -- PROGRAM [ARGS...]\n", fs.Name(), fs.Name(), fs.Name())
		return exitcode.Usage, false
	}
	switch sf.logFormat {
	case "text", "json":
	default:
		fmt.Fprintf(os.Stderr, "sockjail %s: --log-format must be text or json, not %q\n", fs.Name(), sf.logFormat)
		return exitcode.Usage, false
	}
	sf.argv = args[dash+1:]
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

// loadPolicy reads the policy the flags name, or the embedded default.
func (sf *serviceFlags) loadPolicy() (*policy.Policy, error) {
	if sf.policyPath == "" {
		return policy.Default(), nil
	}
	return policy.Load(sf.policyPath)
}

// newSessionConfig prepares the sandbox for p and the program and returns
// the configuration every session of the service shares.
func newSessionConfig(p *policy.Policy, argv []string, log *slog.Logger) (*session.Config, error) {
	opts, err := sandbox.OptionsFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	sb, err := sandbox.New(p, argv, opts)
	if err != nil {
		return nil, err
	}
	return &session.Config{Policy: p, Sandbox: sb, Argv: argv, Log: log}, nil
}

// usageFunc prints a subcommand's help: its synopsis, description and flags.
func usageFunc(fs *flag.FlagSet, synopsis, description string) func() {
	return func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage:\n  %s\n\n%s\n\nFlags:\n", synopsis, strings.TrimSpace(description))
		fs.PrintDefaults()
	}
}
