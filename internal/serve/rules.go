package serve

import "net/netip"

// Rules are a service's access rules: the [serve] allow_from and deny_from
// CIDR lists of its policy.
//
// A deny entry wins over an allow entry, and an empty allow list allows
// everyone. IPv4-mapped IPv6 addresses (::ffff:192.0.2.1, what a dual-stack
// listener reports for an IPv4 client) are matched as the IPv4 address, so
// an IPv4 rule covers them. Rules do not resolve host names.
type Rules struct {
	allow, deny []netip.Prefix
}

// NewRules returns the rules for the given prefixes, as
// policy.Serve.AllowFrom and DenyFrom hold them (validated, host bits cleared, no
// IPv4-mapped forms).
func NewRules(allow, deny []netip.Prefix) *Rules {
	return &Rules{allow: allow, deny: deny}
}

// Allowed reports whether a client at addr may connect, and when it may
// not, which rule refused it ("deny_from 10.0.0.0/8", "not in allow_from").
// An invalid addr (no peer address known) is allowed only when no rule is
// set, so that rules fail closed.
func (r *Rules) Allowed(addr netip.Addr) (bool, string) {
	if len(r.allow) == 0 && len(r.deny) == 0 {
		return true, ""
	}
	if !addr.IsValid() {
		return false, "peer address unknown"
	}
	addr = addr.Unmap()
	for _, p := range r.deny {
		if p.Contains(addr) {
			return false, "deny_from " + p.String()
		}
	}
	if len(r.allow) == 0 {
		return true, ""
	}
	for _, p := range r.allow {
		if p.Contains(addr) {
			return true, ""
		}
	}
	return false, "not in allow_from"
}
