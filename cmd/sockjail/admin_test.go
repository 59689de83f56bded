package main

// `sockjail serve`'s admin listener, health checks and drain (issue 16),
// against the real binary. The fleet behind HAProxy is in fleet_test.go.

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/testenv"
	"golang.org/x/sys/unix"
)

// proxyV2 is a PROXY v2 header: LOCAL when src is not valid, else PROXY
// for a TCP4 connection from src to 192.0.2.2:80, or a TCP6 one to
// [2001:db8::80]:80 when src is IPv6.
func proxyV2(src netip.AddrPort) []byte {
	h := []byte("\r\n\r\n\x00\r\nQUIT\n")
	if !src.IsValid() {
		return append(h, 0x20, 0x00, 0, 0)
	}
	if src.Addr().Is4() {
		h = append(h, 0x21, 0x11, 0, 12)
		h = append(h, src.Addr().AsSlice()...)
		h = append(h, 192, 0, 2, 2)
	} else {
		h = append(h, 0x21, 0x21, 0, 36)
		h = append(h, src.Addr().AsSlice()...)
		h = append(h, netip.MustParseAddr("2001:db8::80").AsSlice()...)
	}
	h = binary.BigEndian.AppendUint16(h, src.Port())
	return binary.BigEndian.AppendUint16(h, 80)
}

// get returns the status and body of an admin request.
func get(t *testing.T, admin, path string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + admin + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReady polls /readyz until it answers status.
func waitReady(t *testing.T, admin string, status int) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := get(t, admin, "/readyz")
		if code == status {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz answers %d %q, want %d", code, body, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeHealthChecks: with health_check = "any", a PROXY v2 LOCAL
// connection and connections that close (FIN or reset) before sending a
// byte are answered without starting the program, counted, and not
// logged; a client behind a header is served as before.
func TestServeHealthChecks(t *testing.T) {
	f := newServeFixture(t)
	pol := f.policy(t, "checks", map[string]string{"serve": "proxy_protocol = \"v2\"\nhealth_check = \"any\""})
	admin := testenv.FreeLoopbackAddr(t)
	s := startServe(t, []string{"--listen", "127.0.0.1:0", "--admin-listen", admin, "--policy", pol}, f.prog("marker.sh"))

	const checks = 5
	for i := 0; i < checks; i++ {
		// HAProxy's check-send-proxy: a LOCAL header, then close.
		c := dialFrom(t, "", s.addr)
		c.Write(proxyV2(netip.AddrPort{}))
		if got, err := readToEOF(c); err != nil || len(got) != 0 {
			t.Fatalf("LOCAL check got %q, %v; want a silent close", got, err)
		}
		c.Close()
		// A plain TCP check: connect, close.
		dialFrom(t, "", s.addr).Close()
		// The same with a reset.
		c = dialFrom(t, "", s.addr)
		c.SetLinger(0)
		c.Close()
	}
	c := dialFrom(t, "", s.addr)
	c.Write(proxyV2(netip.MustParseAddrPort("192.0.2.7:4321")))
	if got, err := readToEOF(c); err != nil || string(got) != "ran\n" {
		t.Fatalf("client behind a header: %q, %v", got, err)
	}
	c.Close()
	s.logs.wait(t, 10*time.Second, msgIs("connection"))

	// The plain and reset checks are counted when serve gets to them,
	// which on a busy machine may be a while after the client left.
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, m := get(t, admin, "/metrics")
		if strings.Contains(m, `sockjail_health_checks_total{kind="proxy-local"} 5`+"\n") &&
			strings.Contains(m, `sockjail_health_checks_total{kind="tcp"} 10`+"\n") &&
			strings.Contains(m, `sockjail_sessions_total{result="served"} 1`+"\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics do not count 5 LOCAL and 10 TCP checks and 1 session:\n%s", m)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ents, _ := os.ReadDir(f.markers); len(ents) != 1 {
		t.Errorf("%d programs ran, want 1: a health check started the program", len(ents))
	}
	lines := s.logs.count(func(m map[string]any) bool {
		return m["msg"] == "connection" || m["msg"] == "connection refused"
	})
	if lines != 1 {
		t.Errorf("%d connection log lines, want 1 (health checks are not logged):\n%s", lines, s.logs)
	}
}

// TestServeReadyzAndDrain: /readyz says 503 at max_connections and from the
// SIGTERM on; during drain_delay new connections are still served; a second
// SIGTERM ends the drain at once.
func TestServeReadyzAndDrain(t *testing.T) {
	f := newServeFixture(t)
	pol := f.policy(t, "drain", map[string]string{"serve": "max_connections = 2\ndrain_delay = \"10m\""})
	admin := testenv.FreeLoopbackAddr(t)
	s := startServe(t, []string{"--listen", "127.0.0.1:0", "--admin-listen", admin, "--policy", pol}, f.prog("line.sh"))

	if code, body := get(t, admin, "/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	waitReady(t, admin, 200)
	// Two sessions fill max_connections.
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c := dialFrom(t, "", s.addr)
		readLine(t, c)
		held = append(held, c)
	}
	if body := waitReady(t, admin, 503); body != "not ready: at max_connections (2)\n" {
		t.Errorf("/readyz when full: %q", body)
	}
	for _, c := range held {
		c.Write([]byte("x\n"))
		readToEOF(c)
		c.Close()
	}
	waitReady(t, admin, 200)

	s.signal(syscall.SIGTERM)
	if body := waitReady(t, admin, 503); body != "not ready: draining\n" {
		t.Errorf("/readyz after SIGTERM: %q", body)
	}
	s.logs.wait(t, 10*time.Second, msgIs("draining"))
	if code, _ := get(t, admin, "/healthz"); code != 200 {
		t.Errorf("/healthz while draining: %d, want 200 (a stopping backend is not broken)", code)
	}
	// Still served while draining.
	c := dialFrom(t, "", s.addr)
	if got := readLine(t, c); got != "ready " {
		t.Fatalf("while draining: %q", got)
	}
	c.Write([]byte("x\n"))
	readToEOF(c)
	c.Close()
	// A second SIGTERM ends the 10-minute drain now.
	s.signal(syscall.SIGTERM)
	if code := s.exitCode(60 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if _, err := net.DialTimeout("tcp", admin, time.Second); err == nil || !isRefused(err) {
		t.Errorf("admin listener still open after exit: %v", err)
	}
}

func isRefused(err error) bool { return errors.Is(err, unix.ECONNREFUSED) }
