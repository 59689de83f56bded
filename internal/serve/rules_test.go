package serve

import (
	"net/netip"
	"testing"
)

func TestRules(t *testing.T) {
	for _, tc := range []struct {
		name        string
		allow, deny []string
		addr        string // "" = unknown peer
		ok          bool
		why         string
	}{
		{name: "no rules", addr: "192.0.2.1", ok: true},
		{name: "no rules unknown peer", addr: "", ok: true},
		{name: "allow match", allow: []string{"192.0.2.0/24"}, addr: "192.0.2.77", ok: true},
		{name: "allow miss", allow: []string{"192.0.2.0/24"}, addr: "198.51.100.1", why: "not in allow_from"},
		{name: "deny match", deny: []string{"10.0.0.0/8"}, addr: "10.1.2.3", why: "deny_from 10.0.0.0/8"},
		{name: "deny miss", deny: []string{"10.0.0.0/8"}, addr: "11.0.0.1", ok: true},
		{name: "deny wins", allow: []string{"10.0.0.0/8"}, deny: []string{"10.9.0.0/16"}, addr: "10.9.1.1", why: "deny_from 10.9.0.0/16"},
		{name: "allow beside deny", allow: []string{"10.0.0.0/8"}, deny: []string{"10.9.0.0/16"}, addr: "10.8.1.1", ok: true},
		{name: "single address", allow: []string{"127.0.0.1/32"}, addr: "127.0.0.1", ok: true},
		{name: "single address miss", allow: []string{"127.0.0.1/32"}, addr: "127.0.0.2", why: "not in allow_from"},
		{name: "mapped client, v4 rule", deny: []string{"127.0.0.0/8"}, addr: "::ffff:127.0.0.5", why: "deny_from 127.0.0.0/8"},
		{name: "v6", allow: []string{"2001:db8::/32"}, addr: "2001:db8:1::5", ok: true},
		{name: "v6 miss", allow: []string{"2001:db8::/32"}, addr: "2001:db9::5", why: "not in allow_from"},
		{name: "v4 rule v6 client", allow: []string{"0.0.0.0/0"}, addr: "::1", why: "not in allow_from"},
		{name: "unknown peer with rules", deny: []string{"10.0.0.0/8"}, addr: "", why: "peer address unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRules(prefixes(tc.allow), prefixes(tc.deny))
			var a netip.Addr
			if tc.addr != "" {
				a = netip.MustParseAddr(tc.addr)
			}
			ok, why := r.Allowed(a)
			if ok != tc.ok || why != tc.why {
				t.Fatalf("Allowed(%v) = %v, %q; want %v, %q", a, ok, why, tc.ok, tc.why)
			}
		})
	}
}

func prefixes(list []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range list {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}
