package relay

import (
	"fmt"

	"github.com/sockjail/sockjail/internal/telnet"
	"github.com/sockjail/sockjail/policy"
)

// FromPolicy returns the relay configuration for p: its [terminal] table
// and [connection] idle_timeout. Use the relay only when the result's
// [Config.Needed] is true; an idle_timeout alone does not need it (the
// session watches TCP_INFO instead).
func FromPolicy(p *policy.Policy) (Config, error) {
	t := p.Terminal
	mode, err := telnet.ParseMode(string(t.Telnet))
	if err != nil {
		return Config{}, fmt.Errorf("terminal.telnet: %w", err)
	}
	c := Config{
		PTY:         t.PTY,
		Telnet:      mode,
		CRLF:        t.CRLF && !t.PTY, // a pty's ONLCR already does it
		Term:        t.Term,
		LineRate:    t.LineRate,
		IdleTimeout: p.Connection.IdleTimeout.Duration(),
		IdleMessage: t.IdleMessage,
	}
	return c, c.Validate()
}
