package serve

import (
	"net/netip"
	"testing"
	"time"
)

func TestSourcesKey(t *testing.T) {
	def := Sources{V4Bits: 32, V6Bits: 64}
	exempt := Sources{V4Bits: 24, V6Bits: 48, Exempt: []netip.Prefix{
		netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8:ff::/48"),
	}}
	for _, tc := range []struct {
		name   string
		s      Sources
		addr   string
		key    string // "" with exempt
		exempt bool
	}{
		{"v4 whole address", def, "192.0.2.7", "192.0.2.7/32", false},
		{"v4-mapped v6 is v4", def, "::ffff:192.0.2.7", "192.0.2.7/32", false},
		{"v6 /64", def, "2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64", false},
		{"v6 /64 other host same key", def, "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64", false},
		{"v6 next /64", def, "2001:db8:1:3::1", "2001:db8:1:3::/64", false},
		{"v6 zone dropped", def, "fe80::1%eth0", "fe80::/64", false},
		{"loopback v6", def, "::1", "::/64", false},
		{"v4 /24", exempt, "192.0.2.200", "192.0.2.0/24", false},
		{"v6 /48", exempt, "2001:db8:1:2::1", "2001:db8:1::/48", false},
		{"v4 exempt", exempt, "198.51.100.9", "", true},
		{"v4-mapped exempt", exempt, "::ffff:198.51.100.9", "", true},
		{"v6 exempt", exempt, "2001:db8:ff:1::1", "", true},
		{"zero bits are whole addresses", Sources{}, "2001:db8::1", "2001:db8::1/128", false},
		{"too many bits are whole addresses", Sources{V4Bits: 40}, "192.0.2.1", "192.0.2.1/32", false},
		{"v4 bits do not apply to v6", Sources{V4Bits: 8}, "2001:db8::1", "2001:db8::1/128", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, exempt := tc.s.Key(netip.MustParseAddr(tc.addr))
			if exempt != tc.exempt {
				t.Fatalf("exempt %v, want %v", exempt, tc.exempt)
			}
			if tc.key == "" {
				if key.IsValid() {
					t.Fatalf("exempt address has key %v", key)
				}
				return
			}
			if want := netip.MustParsePrefix(tc.key); key != want {
				t.Fatalf("key %v, want %v", key, want)
			}
		})
	}
}

// TestLimitsSourcePrefix: max_per_source and the rate limit count every
// address of an IPv6 /64 as one source, and don't apply to exempt ranges.
func TestLimitsSourcePrefix(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewLimits(LimitSettings{MaxPerSource: 2, Sources: Sources{V4Bits: 32, V6Bits: 64,
		Exempt: []netip.Prefix{netip.MustParsePrefix("2001:db8:ee::/48")}}})
	for i, tc := range []struct {
		addr, want string
	}{
		{"2001:db8:1:1::1", ""},
		{"2001:db8:1:1::2", ""},
		{"2001:db8:1:1:ffff::3", ReasonMaxPerSource}, // a third address of the same /64
		{"2001:db8:1:2::1", ""},                      // the next /64 is another source
		{"192.0.2.1", ""},
		{"192.0.2.1", ""},
		{"192.0.2.2", ""}, // IPv4 counts whole addresses
		{"192.0.2.1", ReasonMaxPerSource},
		{"2001:db8:ee:1::1", ""},
		{"2001:db8:ee:1::1", ""},
		{"2001:db8:ee:1::1", ""}, // exempt: no per-source bound
	} {
		if _, got := acquireFrom(t, l, netip.MustParseAddr(tc.addr), now, nil); got != tc.want {
			t.Fatalf("connection %d from %s: %q, want %q", i, tc.addr, got, tc.want)
		}
	}
	if _, _, sources := l.Counts(); sources != 4 {
		t.Fatalf("%d sources tracked, want 4 (two /64s, two IPv4 addresses; none for the exempt range)", sources)
	}

	// The rate limit's bucket is the /64's too, and an exempt range has none.
	l = NewLimits(LimitSettings{RatePerSource: 1, Sources: Sources{V6Bits: 64,
		Exempt: []netip.Prefix{netip.MustParsePrefix("2001:db8:ee::/48")}}})
	if _, got := acquireFrom(t, l, netip.MustParseAddr("2001:db8:1:1::1"), now, nil); got != "" {
		t.Fatalf("first connection of the /64: %q", got)
	}
	if _, got := acquireFrom(t, l, netip.MustParseAddr("2001:db8:1:1::99"), now, nil); got != ReasonRate {
		t.Fatalf("second address of the /64 in the same second: %q, want %q", got, ReasonRate)
	}
	for i := 0; i < 10; i++ {
		if _, got := acquireFrom(t, l, netip.MustParseAddr("2001:db8:ee::5"), now, nil); got != "" {
			t.Fatalf("exempt connection %d refused: %q", i, got)
		}
	}
}
