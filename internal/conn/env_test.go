package conn

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestEnv checks the variables the program sees, on real connections.
func TestEnv(t *testing.T) {
	tests := []struct {
		name, listen, dial string
		wantIP             string
	}{
		{"ipv4", "127.0.0.1", "", "127.0.0.1"},
		{"ipv6", "::1", "", "::1"},
		// A dual-stack listener sees an IPv4 client as ::ffff:127.0.0.1;
		// the program must see the IPv4 address it is.
		{"ipv4-mapped", "::", "127.0.0.1", "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, fd := listenTCP(t, tt.listen).dial(t, tt.dial)
			defer client.Close()
			c, err := FromFD(fd)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background(), CloseOptions{})
			clientPort := netip.MustParseAddrPort(client.LocalAddr().String()).Port()
			serverPort := netip.MustParseAddrPort(client.RemoteAddr().String()).Port()
			want := []string{
				"REMOTE_ADDR=" + tt.wantIP,
				fmt.Sprintf("REMOTE_PORT=%d", clientPort),
				"PROTO=TCP",
				"TCPREMOTEIP=" + tt.wantIP,
				fmt.Sprintf("TCPREMOTEPORT=%d", clientPort),
				"TCPLOCALIP=" + tt.wantIP,
				fmt.Sprintf("TCPLOCALPORT=%d", serverPort),
			}
			if got := c.Env(); !slices.Equal(got, want) {
				t.Errorf("Env() = %q\nwant    %q", got, want)
			}
			if c.Kind() != KindTCP || c.Peer().Addr().String() != tt.wantIP {
				t.Errorf("kind %v, peer %v; want tcp and %s", c.Kind(), c.Peer(), tt.wantIP)
			}
		})
	}
}

// TestSetPeer is what the PROXY protocol does: the header's addresses
// replace the load balancer's.
func TestSetPeer(t *testing.T) {
	client, fd := listenTCP(t, "127.0.0.1").dial(t, "")
	defer client.Close()
	c, err := FromFD(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background(), CloseOptions{})
	c.SetPeer(netip.MustParseAddrPort("[::ffff:192.0.2.7]:4242"))
	c.SetLocal(netip.MustParseAddrPort("[2001:db8::1]:23"))
	want := []string{"REMOTE_ADDR=192.0.2.7", "REMOTE_PORT=4242", "PROTO=TCP",
		"TCPREMOTEIP=192.0.2.7", "TCPREMOTEPORT=4242", "TCPLOCALIP=2001:db8::1", "TCPLOCALPORT=23"}
	if got := c.Env(); !slices.Equal(got, want) {
		t.Errorf("Env() = %q\nwant    %q", got, want)
	}
}

func TestEnvNotIP(t *testing.T) {
	client, fd := unixPair(t)
	defer client.Close()
	c, err := FromFD(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background(), CloseOptions{})
	if c.Kind() != KindUnix || c.Env() != nil || c.Peer().IsValid() || c.Stats().Valid {
		t.Errorf("kind %v, env %q, peer %v, stats %+v; want unix and nothing else", c.Kind(), c.Env(), c.Peer(), c.Stats())
	}
}

func TestConfigure(t *testing.T) {
	tests := []struct {
		nodelay   bool
		keepalive time.Duration
	}{
		{true, 60 * time.Second},
		{false, 0},
		{true, 1500 * time.Millisecond},
	}
	for _, tt := range tests {
		client, fd := listenTCP(t, "127.0.0.1").dial(t, "")
		c, err := FromFD(fd)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Configure(tt.nodelay, tt.keepalive); err != nil {
			t.Fatal(err)
		}
		get := func(level, opt int) int {
			v, err := unix.GetsockoptInt(fd, level, opt)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		if got := get(unix.IPPROTO_TCP, unix.TCP_NODELAY) != 0; got != tt.nodelay {
			t.Errorf("%+v: TCP_NODELAY %v", tt, got)
		}
		if got := get(unix.SOL_SOCKET, unix.SO_KEEPALIVE) != 0; got != (tt.keepalive > 0) {
			t.Errorf("%+v: SO_KEEPALIVE %v", tt, got)
		}
		if tt.keepalive > 0 {
			want := max(1, int(tt.keepalive/time.Second))
			if idle, intvl := get(unix.IPPROTO_TCP, unix.TCP_KEEPIDLE), get(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL); idle != want || intvl != want {
				t.Errorf("%+v: TCP_KEEPIDLE %d, TCP_KEEPINTVL %d; want %d", tt, idle, intvl, want)
			}
		}
		c.Close(context.Background(), CloseOptions{})
		client.Close()
	}
}

// TestStats checks the byte counts from TCP_INFO, before and after Close.
func TestStats(t *testing.T) {
	client, fd := listenTCP(t, "127.0.0.1").dial(t, "")
	c, err := FromFD(fd)
	if err != nil {
		t.Fatal(err)
	}
	client.Write(make([]byte, 1234))
	buf := make([]byte, 1234)
	if _, err := io.ReadFull(fdReader(fd), buf); err != nil {
		t.Fatal(err)
	}
	unix.Write(fd, make([]byte, 5678))
	got := readAllClose(client)
	res := c.Close(context.Background(), testOptions)
	<-got
	want := Stats{Valid: true, BytesReceived: 1234, BytesSent: 5678}
	s := res.Stats
	if s.Valid != want.Valid || s.BytesReceived != want.BytesReceived || s.BytesSent != want.BytesSent {
		t.Errorf("stats %+v; want %+v", s, want)
	}
	if s.SinceRecv > time.Minute || s.SinceSent > time.Minute {
		t.Errorf("stats %+v: implausible idle times", s)
	}
	if after := c.Stats(); after != s {
		t.Errorf("Stats() after Close = %+v; want the last snapshot %+v", after, s)
	}
}

type fdReader int

func (f fdReader) Read(p []byte) (int, error) {
	n, err := unix.Read(int(f), p)
	if n == 0 && err == nil {
		return 0, io.EOF
	}
	return max(n, 0), err
}
