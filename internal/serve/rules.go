package serve

import (
	"fmt"
	"net/netip"
	"strings"
)

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

// NewRules parses the allow and deny lists. Each entry is a CIDR prefix
// ("192.0.2.0/24", "2001:db8::/32") or a single address, which means the
// address alone.
func NewRules(allow, deny []string) (*Rules, error) {
	var r Rules
	var err error
	if r.allow, err = parsePrefixes("allow_from", allow); err != nil {
		return nil, err
	}
	if r.deny, err = parsePrefixes("deny_from", deny); err != nil {
		return nil, err
	}
	return &r, nil
}

func parsePrefixes(key string, list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		var p netip.Prefix
		if strings.Contains(s, "/") {
			var err error
			if p, err = netip.ParsePrefix(s); err != nil {
				return nil, fmt.Errorf("[serve] %s: %q is not a CIDR prefix such as 192.0.2.0/24 or 2001:db8::/32", key, s)
			}
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("[serve] %s: %q is neither an address nor a CIDR prefix", key, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		// An IPv4-mapped prefix would never match: addresses are
		// unmapped before matching.
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
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
