package admin

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/metrics"
)

// start serves a Server on a fresh loopback port and returns its address.
func start(t *testing.T, cfg Config) string {
	t.Helper()
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(cfg)
	done := make(chan struct{})
	go func() {
		s.Serve(l)
		close(done)
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	return l.Addr().String()
}

func TestEndpoints(t *testing.T) {
	m := metrics.New([]string{"max-connections"}, nil)
	m.SessionServed()
	var ready, healthy atomic.Bool
	ready.Store(true)
	healthy.Store(true)
	addr := start(t, Config{
		Metrics: m,
		Ready: func() (bool, string) {
			return ready.Load(), "draining"
		},
		Healthy: func() (bool, string) {
			return healthy.Load(), "accept failing"
		},
	})
	client := &http.Client{Timeout: 10 * time.Second}
	for _, c := range []struct {
		name         string
		method, path string
		notReady     bool
		unhealthy    bool
		status       int
		body         string // a substring of the body
		ctype        string
	}{
		{name: "healthz", method: "GET", path: "/healthz", status: 200, body: "ok"},
		{name: "healthz down", method: "GET", path: "/healthz", unhealthy: true, status: 503, body: "not ok: accept failing"},
		{name: "readyz", method: "GET", path: "/readyz", status: 200, body: "ready"},
		{name: "readyz draining", method: "GET", path: "/readyz", notReady: true, status: 503, body: "not ready: draining"},
		{name: "readyz query", method: "GET", path: "/readyz?verbose=1", status: 200, body: "ready"},
		{name: "metrics", method: "GET", path: "/metrics", status: 200, body: `sockjail_sessions_total{result="served"} 1`, ctype: "text/plain; version=0.0.4; charset=utf-8"},
		{name: "head", method: "HEAD", path: "/metrics", status: 200},
		{name: "unknown path", method: "GET", path: "/", status: 404},
		{name: "post", method: "POST", path: "/readyz", status: 405},
	} {
		t.Run(c.name, func(t *testing.T) {
			ready.Store(!c.notReady)
			healthy.Store(!c.unhealthy)
			req, _ := http.NewRequest(c.method, "http://"+addr+c.path, nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d (body %q)", resp.StatusCode, c.status, body)
			}
			if !strings.Contains(string(body), c.body) {
				t.Errorf("body %q does not contain %q", body, c.body)
			}
			if c.method == "HEAD" && len(body) != 0 {
				t.Errorf("HEAD answered with a body of %d bytes", len(body))
			}
			if c.ctype != "" && resp.Header.Get("Content-Type") != c.ctype {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), c.ctype)
			}
		})
	}
}

// TestBadRequests: malformed or oversized heads get 400 (or a close), and
// the server goes on answering.
func TestBadRequests(t *testing.T) {
	addr := start(t, Config{Metrics: metrics.New(nil, nil)})
	for _, c := range []struct {
		name, req string
		want      string // status line prefix, "" for a close without answer
	}{
		{"garbage", "hello\r\n\r\n", "HTTP/1.1 400"},
		{"http/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP/1.1 400"},
		{"no slash", "GET healthz HTTP/1.1\r\n\r\n", "HTTP/1.1 400"},
		{"too long", "GET /healthz HTTP/1.1\r\nX: " + strings.Repeat("a", maxHead) + "\r\n\r\n", "HTTP/1.1 400"},
		{"cut short", "GET /healthz HTTP/1.1\r\nHost: x\r\n", "HTTP/1.1 400"},
		{"bare LF", "GET /healthz HTTP/1.0\n\n", "HTTP/1.1 200"},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(conn, c.req)
			conn.(*net.TCPConn).CloseWrite()
			line, _ := bufio.NewReader(conn).ReadString('\n')
			if !strings.HasPrefix(line, c.want) {
				t.Errorf("answer %q, want %q", line, c.want)
			}
		})
	}
}

// TestConnectionBound: idle connections beyond MaxConns are closed at
// once, the ones within it time out, and then the server answers again.
func TestConnectionBound(t *testing.T) {
	const timeout = 500 * time.Millisecond
	addr := start(t, Config{Metrics: metrics.New(nil, nil), ReadTimeout: timeout})
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for i := 0; i < MaxConns+50; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	// The ones over the bound are closed without an answer; count them.
	closed := 0
	for _, c := range idle {
		c.SetReadDeadline(time.Now().Add(timeout / 5))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			closed++
		}
	}
	if closed < 50 {
		t.Errorf("%d of %d idle connections closed at once, want at least 50 (bound %d)", closed, len(idle), MaxConns)
	}
	// Once the held ones time out, requests are answered again.
	deadline := time.Now().Add(10 * timeout)
	for {
		resp, err := (&http.Client{Timeout: timeout}).Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer %v after the idle connections: %v", 10*timeout, err)
		}
		time.Sleep(timeout / 10)
	}
}

func ExampleServer() {
	m := metrics.New(nil, nil)
	s := New(Config{Metrics: m, Ready: func() (bool, string) { return true, "" }})
	l, _ := Listen("127.0.0.1:0")
	go s.Serve(l)
	defer l.Close()
	resp, _ := http.Get("http://" + l.Addr().String() + "/readyz")
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output: 200
}
