package session

import (
	"log/slog"
	"net/netip"

	"github.com/sockjail/sockjail/internal/gate"
)

// Refusal reasons of the proof of work, as the log line's reason= and the
// metrics show them.
const (
	ReasonPoWFailed  = "pow-failed"  // a wrong answer, or none before the client left
	ReasonPoWTimeout = "pow-timeout" // no answer within pow_timeout
)

// powExempt is the log line's pow= value for a client that skipped the
// proof of work.
const powExempt = "exempt"

// Gate runs the policy's proof of work ([serve] pow) on the connection,
// unless the policy asks for none, the client's address is in pow_exempt,
// or it already ran. It returns "" when the client may go on, and
// otherwise the reason to refuse it for, with the error that says why.
// serve calls it before the client takes a slot; Run calls it itself when
// serve did not.
func (s *Session) Gate() (reason string, err error) {
	sv := &s.cfg.Policy.Serve
	if s.gated || sv.PoW == 0 {
		return "", nil
	}
	s.gated = true
	if exempt(sv.PoWExempt, s.conn.Peer().Addr()) {
		s.pow = powExempt
		return "", nil
	}
	c, err := gate.NewChallenge(sv.PoW)
	if err != nil {
		return ReasonPoWFailed, err
	}
	res, err := gate.Run(s.conn.InFD(), s.conn.OutFD(), c, sv.PoWTimeout.Duration())
	s.pow = string(res)
	s.cfg.Metrics.PoW(string(res))
	switch res {
	case gate.Solved:
		return "", nil
	case gate.TimedOut:
		return ReasonPoWTimeout, err
	}
	return ReasonPoWFailed, err
}

// exempt reports whether addr is in one of the prefixes. An unknown
// address (a launcher that gave none) is never exempt.
func exempt(prefixes []netip.Prefix, addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// powAttrs is what the log line says of the proof of work, if it ran.
func (s *Session) powAttrs() []slog.Attr {
	if s.pow == "" {
		return nil
	}
	return []slog.Attr{slog.String("pow", s.pow)}
}
