package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// v2 builds a v2 header: verCmd and famTr are bytes 13 and 14, body is the
// address block plus TLVs, and the length field is len(body) unless lenOverride
// is >= 0.
func v2(verCmd, famTr byte, body []byte, lenOverride int) []byte {
	b := append([]byte{}, v2Sig...)
	b = append(b, verCmd, famTr)
	n := len(body)
	if lenOverride >= 0 {
		n = lenOverride
	}
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	return append(b, body...)
}

func inet4Block(src, dst string, sp, dp uint16) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	b := append(s[:], d[:]...)
	b = binary.BigEndian.AppendUint16(b, sp)
	return binary.BigEndian.AppendUint16(b, dp)
}

func inet6Block(src, dst string, sp, dp uint16) []byte {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	b := append(s[:], d[:]...)
	b = binary.BigEndian.AppendUint16(b, sp)
	return binary.BigEndian.AppendUint16(b, dp)
}

func unixBlock(src, dst string) []byte {
	b := make([]byte, 216)
	copy(b, src)
	copy(b[108:], dst)
	return b
}

func tlv(t byte, v string) []byte {
	b := []byte{t}
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

type parseCase struct {
	name string
	in   []byte
	mode string
	want Header // compared when err is nil
	err  error  // the sentinel the error must wrap
}

// parseCases are shared by the Parse tests and the Read tests, which must
// agree on every input.
func parseCases() []parseCase {
	tcp4 := []byte("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n")
	tcp6 := []byte("PROXY TCP6 2001:db8::1 2001:db8::2 65535 0\r\n")
	v2inet := v2(0x21, 0x11, inet4Block("203.0.113.7", "10.0.0.1", 40000, 31337), -1)
	longest := []byte("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n")
	return []parseCase{
		{name: "v1 tcp4", in: tcp4, mode: ModeAny, want: Header{Version: 1, Command: CmdProxy, Family: FamilyInet, Transport: TransportStream,
			Source: ap("192.0.2.1:56324"), Dest: ap("198.51.100.2:443"), Len: len(tcp4)}},
		{name: "v1 tcp4 mode v1", in: tcp4, mode: ModeV1, want: Header{Version: 1, Command: CmdProxy, Family: FamilyInet, Transport: TransportStream,
			Source: ap("192.0.2.1:56324"), Dest: ap("198.51.100.2:443"), Len: len(tcp4)}},
		{name: "v1 tcp6", in: tcp6, mode: ModeAny, want: Header{Version: 1, Command: CmdProxy, Family: FamilyInet6, Transport: TransportStream,
			Source: ap("[2001:db8::1]:65535"), Dest: ap("[2001:db8::2]:0"), Len: len(tcp6)}},
		{name: "v1 longest line", in: longest, mode: ModeV1, want: Header{Version: 1, Command: CmdProxy, Family: FamilyInet6, Transport: TransportStream,
			Source: ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"), Dest: ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"), Len: 104}},
		{name: "v1 unknown", in: []byte("PROXY UNKNOWN\r\n"), mode: ModeAny, want: Header{Version: 1, Command: CmdProxy, Len: 15}},
		{name: "v1 unknown with addresses", in: []byte("PROXY UNKNOWN ffff:: ffff:: 1 2\r\n"), mode: ModeV1, want: Header{Version: 1, Command: CmdProxy, Len: 33}},
		{name: "v2 proxy inet", in: v2inet, mode: ModeAny, want: Header{Version: 2, Command: CmdProxy, Family: FamilyInet, Transport: TransportStream,
			Source: ap("203.0.113.7:40000"), Dest: ap("10.0.0.1:31337"), Len: 28}},
		{name: "v2 proxy inet6", in: v2(0x21, 0x21, inet6Block("2001:db8::7", "::1", 1, 2), -1), mode: ModeV2, want: Header{Version: 2, Command: CmdProxy,
			Family: FamilyInet6, Transport: TransportStream, Source: ap("[2001:db8::7]:1"), Dest: ap("[::1]:2"), Len: 52}},
		{name: "v2 proxy unix", in: v2(0x21, 0x31, unixBlock("/run/a.sock", "/run/b.sock"), -1), mode: ModeAny, want: Header{Version: 2, Command: CmdProxy,
			Family: FamilyUnix, Transport: TransportStream, UnixSource: "/run/a.sock", UnixDest: "/run/b.sock", Len: 232}},
		{name: "v2 local unspec", in: v2(0x20, 0x00, nil, -1), mode: ModeAny, want: Header{Version: 2, Command: CmdLocal, Len: 16}},
		{name: "v2 local ignores addresses", in: v2(0x20, 0x11, inet4Block("1.2.3.4", "5.6.7.8", 1, 2), -1), mode: ModeAny,
			want: Header{Version: 2, Command: CmdLocal, Family: FamilyInet, Transport: TransportStream, Len: 28}},
		{name: "v2 local without address block", in: v2(0x20, 0x11, nil, -1), mode: ModeAny,
			want: Header{Version: 2, Command: CmdLocal, Family: FamilyInet, Transport: TransportStream, Len: 16}},
		{name: "v2 tlvs", in: v2(0x21, 0x11, cat(inet4Block("192.0.2.9", "192.0.2.10", 5, 6), tlv(0x05, "uid-1"), tlv(0x04, "")), -1), mode: ModeAny,
			want: Header{Version: 2, Command: CmdProxy, Family: FamilyInet, Transport: TransportStream, Source: ap("192.0.2.9:5"), Dest: ap("192.0.2.10:6"),
				TLVs: []TLV{{Type: 5, Value: []byte("uid-1")}, {Type: 4, Value: []byte{}}}, Len: 16 + 12 + 8 + 3}},
		{name: "v2 unspec proxy", in: v2(0x21, 0x00, []byte{}, -1), mode: ModeAny, want: Header{Version: 2, Command: CmdProxy, Len: 16}},

		// Errors.
		{name: "garbage", in: []byte("GET / HTTP/1.0\r\n\r\n"), mode: ModeAny, err: ErrNoHeader},
		{name: "ssh banner", in: []byte("SSH-2.0-OpenSSH_9.2\r\n"), mode: ModeAny, err: ErrNoHeader},
		{name: "v2 when v1 required", in: v2inet, mode: ModeV1, err: ErrNoHeader},
		{name: "v1 when v2 required", in: tcp4, mode: ModeV2, err: ErrNoHeader},
		{name: "v1 lowercase", in: []byte("proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n"), mode: ModeAny, err: ErrNoHeader},
		{name: "v1 bare LF", in: []byte("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n"), mode: ModeAny, err: ErrMalformed},
		{name: "v1 double space", in: []byte("PROXY TCP4  192.0.2.1 192.0.2.2 1 2\r\n"), mode: ModeAny, err: ErrMalformed},
		{name: "v1 family mismatch", in: []byte("PROXY TCP4 2001:db8::1 192.0.2.2 1 2\r\n"), mode: ModeAny, err: ErrMalformed},
		{name: "v1 tcp6 with v4", in: []byte("PROXY TCP6 192.0.2.1 192.0.2.2 1 2\r\n"), mode: ModeAny, err: ErrMalformed},
		{name: "v1 zone", in: []byte("PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n"), mode: ModeAny, err: ErrMalformed},
		{name: "v1 port range", in: []byte("PROXY TCP4 192.0.2.1 192.0.2.2 65536 2\r\n"), mode: ModeAny, err: ErrMalformed},
		{name: "v1 port sign", in: []byte("PROXY TCP4 192.0.2.1 192.0.2.2 +1 2\r\n"), mode: ModeAny, err: ErrMalformed},
		{name: "v1 port leading zero", in: []byte("PROXY TCP4 192.0.2.1 192.0.2.2 01 2\r\n"), mode: ModeAny, err: ErrMalformed},
		{name: "v1 udp", in: []byte("PROXY UDP4 192.0.2.1 192.0.2.2 1 2\r\n"), mode: ModeAny, err: ErrMalformed},
		{name: "v1 too few fields", in: []byte("PROXY TCP4 192.0.2.1 192.0.2.2 1\r\n"), mode: ModeAny, err: ErrMalformed},
		{name: "v1 short line", in: []byte("PROXY X\r\nmore stream bytes"), mode: ModeAny, err: ErrMalformed},
		{name: "v1 oversized", in: []byte("PROXY TCP4 " + strings.Repeat("1", 120) + "\r\n"), mode: ModeAny, err: ErrMalformed},
		{name: "v1 truncated", in: []byte("PROXY TCP4 192.0.2.1"), mode: ModeAny, err: ErrTruncated},
		{name: "v2 truncated fixed", in: v2inet[:14], mode: ModeAny, err: ErrTruncated},
		{name: "v2 truncated body", in: v2inet[:20], mode: ModeAny, err: ErrTruncated},
		{name: "v2 version 1", in: v2(0x11, 0x11, inet4Block("1.2.3.4", "5.6.7.8", 1, 2), -1), mode: ModeAny, err: ErrMalformed},
		{name: "v2 command 2", in: v2(0x22, 0x11, inet4Block("1.2.3.4", "5.6.7.8", 1, 2), -1), mode: ModeAny, err: ErrMalformed},
		{name: "v2 family 4", in: v2(0x21, 0x41, inet4Block("1.2.3.4", "5.6.7.8", 1, 2), -1), mode: ModeAny, err: ErrMalformed},
		{name: "v2 transport 3", in: v2(0x21, 0x13, inet4Block("1.2.3.4", "5.6.7.8", 1, 2), -1), mode: ModeAny, err: ErrMalformed},
		{name: "v2 short address", in: v2(0x21, 0x21, inet4Block("1.2.3.4", "5.6.7.8", 1, 2), -1), mode: ModeAny, err: ErrMalformed},
		{name: "v2 oversized", in: v2(0x21, 0x11, nil, MaxV2Payload+1), mode: ModeAny, err: ErrMalformed},
		{name: "v2 bad tlv", in: v2(0x21, 0x11, cat(inet4Block("1.2.3.4", "5.6.7.8", 1, 2), []byte{1, 0, 9, 'x'}), -1), mode: ModeAny, err: ErrMalformed},
		{name: "v2 tlv stub", in: v2(0x21, 0x11, cat(inet4Block("1.2.3.4", "5.6.7.8", 1, 2), []byte{1, 0}), -1), mode: ModeAny, err: ErrMalformed},
	}
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases() {
		t.Run(tc.name, func(t *testing.T) {
			// A stream follows the header; Parse must leave it alone.
			in := append(append([]byte{}, tc.in...), "client bytes"...)
			if errors.Is(tc.err, ErrTruncated) {
				in = tc.in
			}
			h, err := Parse(in, tc.mode)
			checkResult(t, h, err, tc)
		})
	}
}

func checkResult(t *testing.T, h Header, err error, tc parseCase) {
	t.Helper()
	if tc.err != nil {
		if !errors.Is(err, tc.err) {
			t.Fatalf("error = %v, want one wrapping %v", err, tc.err)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if !reflect.DeepEqual(h, tc.want) {
		t.Fatalf("header =\n%+v\nwant\n%+v", h, tc.want)
	}
}

func TestParseBadMode(t *testing.T) {
	if _, err := Parse([]byte("PROXY UNKNOWN\r\n"), "v3"); err == nil {
		t.Fatal("mode v3 accepted")
	}
}

func TestHasAddr(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n", true},
		{"PROXY UNKNOWN\r\n", false},
		{string(v2(0x20, 0x11, inet4Block("1.2.3.4", "5.6.7.8", 1, 2), -1)), false},
		{string(v2(0x21, 0x31, unixBlock("/a", "/b"), -1)), false},
		{string(v2(0x21, 0x11, inet4Block("1.2.3.4", "5.6.7.8", 1, 2), -1)), true},
	} {
		h, err := Parse([]byte(tc.in), ModeAny)
		if err != nil {
			t.Fatal(err)
		}
		if h.HasAddr() != tc.want {
			t.Errorf("%q: HasAddr = %v, want %v", tc.in, h.HasAddr(), tc.want)
		}
	}
}
