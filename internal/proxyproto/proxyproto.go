// Package proxyproto reads the PROXY protocol header (versions 1 and 2, as
// specified by HAProxy's proxy-protocol.txt) that a load balancer sends in
// front of a client's stream.
//
// The header is read from a raw file descriptor exactly, byte for byte of its
// declared length: the reader never takes a byte of the client's own stream,
// so the program that later receives the descriptor as its stdin sees the
// stream from its first byte. That is why this package does not wrap a
// buffered net.Conn, as other PROXY protocol libraries do.
//
// The package parses and validates headers only. It does not decide whether a
// header is required or which address to trust; that is the caller's policy.
// It does not interpret TLV contents (SSL, unique ID, …), it only returns them.
package proxyproto

import (
	"errors"
	"fmt"
	"net/netip"
)

// Mode names which header versions a listener accepts, as written in a
// policy's proxy_protocol setting.
const (
	ModeV1  = "v1"
	ModeV2  = "v2"
	ModeAny = "any"
)

// Command is the command of a header.
type Command uint8

const (
	// CmdProxy: the connection was relayed for a client; Source and Dest
	// describe it (unless the transport is unknown).
	CmdProxy Command = 1
	// CmdLocal: the proxy opened the connection itself (a health check);
	// the addresses of the socket itself apply.
	CmdLocal Command = 0
)

func (c Command) String() string {
	switch c {
	case CmdProxy:
		return "PROXY"
	case CmdLocal:
		return "LOCAL"
	}
	return fmt.Sprintf("Command(%d)", uint8(c))
}

// Family is the address family declared by a header.
type Family uint8

const (
	FamilyUnspec Family = 0 // v1 "UNKNOWN", v2 AF_UNSPEC
	FamilyInet   Family = 1 // TCP4
	FamilyInet6  Family = 2 // TCP6
	FamilyUnix   Family = 3 // v2 AF_UNIX only
)

// Transport is the transport protocol declared by a v2 header; v1 headers
// always carry a stream (or unknown).
type Transport uint8

const (
	TransportUnspec Transport = 0
	TransportStream Transport = 1
	TransportDgram  Transport = 2
)

// TLV is one type-length-value extension of a v2 header.
type TLV struct {
	Type  uint8
	Value []byte
}

// Header is a parsed PROXY protocol header.
type Header struct {
	Version   int // 1 or 2
	Command   Command
	Family    Family
	Transport Transport
	// Source and Dest are the client's and the proxy's addresses, valid
	// when Family is FamilyInet or FamilyInet6 and Command is CmdProxy.
	Source, Dest netip.AddrPort
	// UnixSource and UnixDest are the socket paths of an AF_UNIX v2
	// header (NUL-terminated on the wire, trimmed here).
	UnixSource, UnixDest string
	TLVs                 []TLV
	// Len is the number of bytes the header took from the stream.
	Len int
}

// HasAddr reports whether the header carries a client IP address that should
// replace the socket's peer address. It is false for LOCAL, for v1
// "UNKNOWN", for AF_UNSPEC and for AF_UNIX headers: then the socket's own
// addresses apply.
func (h *Header) HasAddr() bool {
	return h.Command == CmdProxy && (h.Family == FamilyInet || h.Family == FamilyInet6) && h.Source.IsValid()
}

// Errors returned by Read and Parse. Every error from them wraps exactly one
// of these, but for ErrNothingSent, which comes with ErrTruncated; test with
// errors.Is.
var (
	// ErrNoHeader: the stream does not start with a PROXY protocol
	// signature (of an accepted version).
	ErrNoHeader = errors.New("no PROXY protocol header")
	// ErrMalformed: the signature was there, but the header is invalid.
	ErrMalformed = errors.New("malformed PROXY protocol header")
	// ErrTruncated: the peer closed the connection before the header was
	// complete.
	ErrTruncated = errors.New("connection closed inside the PROXY protocol header")
	// ErrNothingSent: the peer closed the connection (FIN or reset)
	// before sending any byte, as a plain TCP health check or a port
	// scan does. An error wrapping it also wraps ErrTruncated.
	ErrNothingSent = errors.New("closed before sending any byte")
	// ErrTimeout: the header did not complete within the timeout.
	ErrTimeout = errors.New("timed out waiting for the PROXY protocol header")
)

const (
	// maxV1Len is the longest v1 line, CRLF included (spec section 2.1).
	maxV1Len = 107
	// minV1Len is the shortest v1 line: "PROXY UNKNOWN\r\n".
	minV1Len = 15
	// v2FixedLen is the signature, version/command, family and length.
	v2FixedLen = 16
	// MaxV2Payload is the largest v2 address-plus-TLV length accepted.
	// The wire format allows 65535, but real proxies send a few hundred
	// bytes at most; a bound keeps a hostile peer from making sockjail
	// hold 64 KiB per pending connection.
	MaxV2Payload = 4096
)

// v1Sig and v2Sig are the signatures that open a header.
var (
	v1Sig = []byte("PROXY ")
	v2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

func validMode(mode string) bool {
	return mode == ModeV1 || mode == ModeV2 || mode == ModeAny
}

// checkPrefix reports whether b (the first bytes of the stream) can still be
// the start of a header accepted by mode.
func checkPrefix(b []byte, mode string) error {
	if len(b) == 0 {
		return nil
	}
	ok1 := mode != ModeV2 && hasPrefixOf(b, v1Sig)
	ok2 := mode != ModeV1 && hasPrefixOf(b, v2Sig)
	if ok1 || ok2 {
		return nil
	}
	return fmt.Errorf("%w (mode %s, stream starts with %q)", ErrNoHeader, mode, clip(b, 16))
}

// hasPrefixOf reports whether the shorter of b and sig is a prefix of the
// other.
func hasPrefixOf(b, sig []byte) bool {
	n := min(len(b), len(sig))
	for i := 0; i < n; i++ {
		if b[i] != sig[i] {
			return false
		}
	}
	return true
}

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
