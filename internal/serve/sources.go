package serve

import "net/netip"

// Sources says what one source is for the per-source limits: the client
// addresses that share an IPv4 prefix of V4Bits or an IPv6 prefix of V6Bits
// count as one client (0: a whole address), and the addresses in Exempt
// have no per-source limit. An IPv4-mapped IPv6 address counts as the IPv4
// address it is.
//
// Not covered: a client that holds more than its prefix (an IPv6 /48, many
// IPv4 addresses) still counts as several sources; an exempt range can
// open as many connections as max_connections allows.
type Sources struct {
	V4Bits, V6Bits int
	Exempt         []netip.Prefix
}

// Key returns the source that addr counts as, and whether it is exempt
// from the per-source limits. An invalid address is its own source, the
// zero Prefix.
func (s Sources) Key(addr netip.Addr) (key netip.Prefix, exempt bool) {
	addr = addr.Unmap()
	if !addr.IsValid() {
		return netip.Prefix{}, false
	}
	for _, p := range s.Exempt {
		if p.Contains(addr) {
			return netip.Prefix{}, true
		}
	}
	bits := s.V6Bits
	if addr.Is4() {
		bits = s.V4Bits
	}
	if bits <= 0 || bits > addr.BitLen() {
		bits = addr.BitLen()
	}
	// Prefix fails only for bits out of range, excluded above; the zone
	// of a link-local address goes, so that it doesn't split a source.
	key, _ = addr.WithZone("").Prefix(bits)
	return key, false
}
