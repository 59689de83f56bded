package main

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// dialAs connects to addr and sends a PROXY v2 header naming src as the
// client, and returns the connection and the first line it gets.
func dialAs(t *testing.T, addr, src string) (*net.TCPConn, string) {
	t.Helper()
	c := dialFrom(t, "127.0.0.1", addr)
	if _, err := c.Write(proxyV2(netip.AddrPortFrom(netip.MustParseAddr(src), 40000))); err != nil {
		t.Fatal(err)
	}
	return c, readLine(t, c)
}

// TestServeSourcePrefix: through the real binary, behind PROXY v2 headers
// carrying IPv6 clients: max_per_source counts a whole /64 as one source
// (source_prefix_v6's default), another /64 is another source, and a
// limit_exempt range has no per-source bound.
func TestServeSourcePrefix(t *testing.T) {
	f := newServeFixture(t)
	pol := f.policy(t, "prefix", map[string]string{"serve": `proxy_protocol = "v2"
max_per_source = 1
busy_message = "busy"
limit_exempt = ["2001:db8:ee::/48"]`})
	s := startServe(t, []string{"--listen", "127.0.0.1:0", "--policy", pol}, f.prog("line.sh"))

	var open []*net.TCPConn
	for _, tc := range []struct {
		src    string
		served bool
	}{
		{"2001:db8:1:1::1", true},
		{"2001:db8:1:1:ffff::2", false}, // the same /64, at max_per_source
		{"2001:db8:1:2::1", true},       // the next /64
		{"2001:db8:ee:1::1", true},      // exempt
		{"2001:db8:ee:1::1", true},
		{"2001:db8:ee:2::7", true},
	} {
		c, line := dialAs(t, s.addr, tc.src)
		switch {
		case tc.served && strings.HasPrefix(line, "ready"):
			open = append(open, c)
		case !tc.served && strings.TrimSuffix(line, "\r") == "busy":
			c.Close()
			s.logs.wait(t, 10*time.Second, func(m map[string]any) bool {
				return m["reason"] == "max-per-source" && strings.HasPrefix(m["peer"].(string), "["+tc.src+"]")
			})
		default:
			t.Fatalf("client %s (served: %v) got %q", tc.src, tc.served, line)
		}
	}
	for _, c := range open {
		finish(t, c)
	}
}
