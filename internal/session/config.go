package session

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/sockjail/sockjail/internal/conn"
	"github.com/sockjail/sockjail/internal/metrics"
	"github.com/sockjail/sockjail/internal/relay"
	"github.com/sockjail/sockjail/internal/telnet"
	"github.com/sockjail/sockjail/policy"
	"github.com/sockjail/sockjail/sandbox"
)

// This file is where a policy's settings become the settings of the parts
// a session drives (the close, the relay): the one place that maps them.

// Config is what every session of one service shares.
type Config struct {
	Policy  *policy.Policy
	Sandbox *sandbox.Sandbox // prepared from Policy for Argv
	Argv    []string         // the program and its arguments, for the log line
	Log     *slog.Logger     // one line per connection is written here
	// Close bounds the flush-then-close: the policy's [connection]
	// timings (NewConfig), which serve shortens for a connection it
	// refuses.
	Close conn.CloseOptions
	// Metrics counts sessions, refusals, durations, bytes, sandbox
	// starts and kills; nil counts nothing (`sockjail run`).
	Metrics *metrics.Metrics
}

// NewConfig returns the configuration of the sessions that serve argv
// under p in sb. sb may be nil for a session that is only refused.
func NewConfig(p *policy.Policy, sb *sandbox.Sandbox, argv []string, log *slog.Logger) *Config {
	return &Config{Policy: p, Sandbox: sb, Argv: argv, Log: log, Close: CloseOptions(p.Connection)}
}

// CloseOptions returns the close timings of a policy's [connection] table.
func CloseOptions(c policy.Connection) conn.CloseOptions {
	return conn.CloseOptions{
		FlushTimeout: time.Duration(c.FlushTimeout),
		CloseDelay:   time.Duration(c.CloseDelay),
		LingerIdle:   time.Duration(c.LingerIdle),
		LingerMax:    time.Duration(c.LingerMax),
	}
}

// relayConfig returns the relay configuration for p: its [terminal] table
// and [connection] idle_timeout. The session uses the relay only when the
// result's [relay.Config.Needed] is true; an idle_timeout alone does not
// need it (the session watches TCP_INFO instead).
func relayConfig(p *policy.Policy) (relay.Config, error) {
	t := p.Terminal
	mode, err := telnet.ParseMode(string(t.Telnet))
	if err != nil {
		return relay.Config{}, fmt.Errorf("terminal.telnet: %w", err)
	}
	c := relay.Config{
		PTY:         t.PTY,
		Telnet:      mode,
		Rlogin:      t.Protocol == policy.ProtocolRlogin,
		CRLF:        t.CRLF && !t.PTY, // a pty's ONLCR already does it
		Binary:      t.Binary,
		Term:        t.Term,
		LineRate:    t.LineRate,
		IdleTimeout: p.Connection.IdleTimeout.Duration(),
		IdleMessage: t.IdleMessage,
	}
	return c, c.Validate()
}
