package proxyproto

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
)

// Parse parses one complete header at the start of b, accepting the versions
// that mode names, and returns it with Len set to the number of bytes it
// took. Bytes after the header are left alone. When b holds only part of a
// header, Parse returns ErrTruncated.
func Parse(b []byte, mode string) (Header, error) {
	if !validMode(mode) {
		return Header{}, fmt.Errorf("proxyproto: unknown mode %q (want v1, v2 or any)", mode)
	}
	if err := checkPrefix(b, mode); err != nil {
		return Header{}, err
	}
	switch {
	case len(b) == 0:
		return Header{}, fmt.Errorf("%w: empty stream", ErrTruncated)
	case b[0] == 'P':
		i := bytes.IndexByte(clip(b, maxV1Len), '\n')
		if i < 0 {
			if len(b) >= maxV1Len {
				return Header{}, fmt.Errorf("%w: v1 line longer than %d bytes", ErrMalformed, maxV1Len)
			}
			return Header{}, fmt.Errorf("%w: v1 line without LF", ErrTruncated)
		}
		return parseV1(b[:i+1])
	default:
		if len(b) < v2FixedLen {
			return Header{}, fmt.Errorf("%w: %d of %d fixed v2 bytes", ErrTruncated, len(b), v2FixedLen)
		}
		n, err := v2Len(b[:v2FixedLen])
		if err != nil {
			return Header{}, err
		}
		if len(b) < v2FixedLen+n {
			return Header{}, fmt.Errorf("%w: %d of %d v2 bytes", ErrTruncated, len(b), v2FixedLen+n)
		}
		return parseV2(b[:v2FixedLen+n])
	}
}

// parseV1 parses a complete v1 line, CRLF included.
func parseV1(line []byte) (Header, error) {
	h := Header{Version: 1, Command: CmdProxy, Transport: TransportStream, Len: len(line)}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return Header{}, fmt.Errorf("%w: v1 line does not end in CRLF", ErrMalformed)
	}
	body := string(line[len(v1Sig) : len(line)-2])
	// "UNKNOWN" may be followed by anything, which the receiver ignores
	// (spec section 2.1).
	if body == "UNKNOWN" || len(body) > 7 && body[:8] == "UNKNOWN " {
		h.Family = FamilyUnspec
		h.Transport = TransportUnspec
		return h, nil
	}
	// Exactly single spaces between five fields.
	f := bytes.Split([]byte(body), []byte{' '})
	if len(f) != 5 {
		return Header{}, fmt.Errorf("%w: v1 line %q has %d fields, want 5", ErrMalformed, line, len(f))
	}
	var want4 bool
	switch string(f[0]) {
	case "TCP4":
		want4, h.Family = true, FamilyInet
	case "TCP6":
		h.Family = FamilyInet6
	default:
		return Header{}, fmt.Errorf("%w: v1 protocol %q (want TCP4, TCP6 or UNKNOWN)", ErrMalformed, f[0])
	}
	var addrs [2]netip.Addr
	for i := range addrs {
		a, err := netip.ParseAddr(string(f[1+i]))
		if err != nil || a.Zone() != "" || a.Is4() != want4 {
			return Header{}, fmt.Errorf("%w: v1 address %q is not a %s address", ErrMalformed, f[1+i], f[0])
		}
		addrs[i] = a
	}
	var ports [2]uint16
	for i := range ports {
		p, err := parsePort(f[3+i])
		if err != nil {
			return Header{}, err
		}
		ports[i] = p
	}
	h.Source = netip.AddrPortFrom(addrs[0], ports[0])
	h.Dest = netip.AddrPortFrom(addrs[1], ports[1])
	return h, nil
}

// parsePort parses a decimal port without sign or leading zeros.
func parsePort(b []byte) (uint16, error) {
	if len(b) == 0 || len(b) > 5 || len(b) > 1 && b[0] == '0' {
		return 0, fmt.Errorf("%w: v1 port %q", ErrMalformed, b)
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: v1 port %q", ErrMalformed, b)
		}
	}
	p, err := strconv.ParseUint(string(b), 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%w: v1 port %q out of range", ErrMalformed, b)
	}
	return uint16(p), nil
}

// v2Len validates the 16 fixed bytes of a v2 header and returns the length
// of the rest.
func v2Len(fixed []byte) (int, error) {
	if !bytes.Equal(fixed[:len(v2Sig)], v2Sig) {
		return 0, fmt.Errorf("%w: bad v2 signature", ErrNoHeader)
	}
	if v := fixed[12] >> 4; v != 2 {
		return 0, fmt.Errorf("%w: v2 version nibble %d, want 2", ErrMalformed, v)
	}
	if c := fixed[12] & 0xf; c > 1 {
		return 0, fmt.Errorf("%w: v2 command %d (want 0 LOCAL or 1 PROXY)", ErrMalformed, c)
	}
	if fam, tr := fixed[13]>>4, fixed[13]&0xf; fam > 3 || tr > 2 {
		return 0, fmt.Errorf("%w: v2 family/transport byte %#02x", ErrMalformed, fixed[13])
	}
	n := int(binary.BigEndian.Uint16(fixed[14:16]))
	if n > MaxV2Payload {
		return 0, fmt.Errorf("%w: v2 length %d exceeds the limit of %d", ErrMalformed, n, MaxV2Payload)
	}
	return n, nil
}

// v2AddrLen is the length of the address block per family.
var v2AddrLen = [4]int{FamilyUnspec: 0, FamilyInet: 12, FamilyInet6: 36, FamilyUnix: 216}

// parseV2 parses a complete v2 header.
func parseV2(b []byte) (Header, error) {
	if _, err := v2Len(b[:v2FixedLen]); err != nil {
		return Header{}, err
	}
	h := Header{
		Version:   2,
		Command:   Command(b[12] & 0xf),
		Family:    Family(b[13] >> 4),
		Transport: Transport(b[13] & 0xf),
		Len:       len(b),
	}
	rest := b[v2FixedLen:]
	alen := v2AddrLen[h.Family]
	if len(rest) < alen {
		// A LOCAL header may declare a family yet carry no address:
		// the receiver must ignore the address block anyway.
		if h.Command == CmdLocal {
			return h, nil
		}
		return Header{}, fmt.Errorf("%w: v2 family %d needs %d address bytes, header has %d", ErrMalformed, h.Family, alen, len(rest))
	}
	a := rest[:alen]
	switch h.Family {
	case FamilyInet:
		h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[0:4])), binary.BigEndian.Uint16(a[8:10]))
		h.Dest = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[4:8])), binary.BigEndian.Uint16(a[10:12]))
	case FamilyInet6:
		h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[0:16])), binary.BigEndian.Uint16(a[32:34]))
		h.Dest = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[16:32])), binary.BigEndian.Uint16(a[34:36]))
	case FamilyUnix:
		h.UnixSource = cstring(a[:108])
		h.UnixDest = cstring(a[108:])
	}
	tlvs, err := parseTLVs(rest[alen:])
	if err != nil {
		return Header{}, err
	}
	h.TLVs = tlvs
	if h.Command == CmdLocal {
		// The receiver must use the socket's own addresses.
		h.Source, h.Dest = netip.AddrPort{}, netip.AddrPort{}
		h.UnixSource, h.UnixDest = "", ""
	}
	return h, nil
}

func parseTLVs(b []byte) ([]TLV, error) {
	var out []TLV
	for len(b) > 0 {
		if len(b) < 3 {
			return nil, fmt.Errorf("%w: %d trailing bytes are too short for a TLV", ErrMalformed, len(b))
		}
		n := int(binary.BigEndian.Uint16(b[1:3]))
		if len(b) < 3+n {
			return nil, fmt.Errorf("%w: TLV type %#02x declares %d bytes, %d remain", ErrMalformed, b[0], n, len(b)-3)
		}
		out = append(out, TLV{Type: b[0], Value: bytes.Clone(b[3 : 3+n])})
		b = b[3+n:]
	}
	return out, nil
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
