// Package admin is `sockjail serve`'s admin listener: plain HTTP with three
// read-only endpoints for load balancers, supervisors and Prometheus.
//
//	GET /healthz   200 while the process is able to serve, 503 otherwise
//	GET /readyz    200 while new sessions are accepted, 503 (with the
//	               reason) while draining, stopping or at max_connections
//	GET /metrics   the counters of package metrics, Prometheus text format
//
// HEAD works on each. Anything else gets 404 or 405. Every answer closes
// the connection.
//
// The server is a small HTTP/1.x responder, not net/http: linking net/http
// made every `sockjail run` start measurably slower (docs/design.md), and
// these three answers need one request line and no body. Its tests drive it
// with net/http's client, HAProxy's httpchk and curl.
//
// What a caller can make it spend is bounded: at most [MaxConns]
// connections at once (more are closed at once), a request head of at most
// [maxHead] bytes that must arrive within [ReadTimeout], and no request is
// logged. It does not do TLS, authentication, keep-alive, chunked bodies or
// HTTP/2: listen on a loopback or management address.
package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sockjail/sockjail/internal/metrics"
)

// Bounds of what one client may hold.
const (
	// MaxConns is the most admin connections served at once.
	MaxConns = 16
	// ReadTimeout bounds the wait for a request head, WriteTimeout the
	// answer.
	ReadTimeout  = 5 * time.Second
	WriteTimeout = 10 * time.Second
	// maxHead bounds a request's line and headers.
	maxHead = 8 << 10
)

// Config configures a Server.
type Config struct {
	// Metrics is written by /metrics.
	Metrics *metrics.Metrics
	// Ready reports whether new sessions are accepted, and why not.
	Ready func() (ok bool, why string)
	// Healthy reports whether the process is able to serve, and why not.
	Healthy func() (ok bool, why string)
	// Log receives the server's own errors (not its requests).
	Log *slog.Logger
	// ReadTimeout overrides the package's ReadTimeout when positive.
	ReadTimeout time.Duration
}

// Server answers admin requests.
type Server struct {
	cfg   Config
	slots chan struct{}
	wg    sync.WaitGroup
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = ReadTimeout
	}
	return &Server{cfg: cfg, slots: make(chan struct{}, MaxConns)}
}

// Listen opens a plain TCP listener (never MPTCP) on addr, HOST:PORT.
func Listen(addr string) (net.Listener, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("admin listen address %q: %v (want HOST:PORT such as 127.0.0.1:9100)", addr, err)
	}
	lc := net.ListenConfig{}
	lc.SetMultipathTCP(false)
	l, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	return l, nil
}

// Serve answers requests on l until l is closed, then waits for the
// answers in progress and returns.
func (s *Server) Serve(l net.Listener) {
	defer s.wg.Wait()
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			if s.cfg.Log != nil {
				s.cfg.Log.Error("admin accept failed", "error", err.Error(), "retry_in", backoff)
			}
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		select {
		case s.slots <- struct{}{}:
		default:
			// Over the bound: close at once rather than queue.
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.slots }()
			s.serveConn(c)
		}()
	}
}

// serveConn answers one request and closes c.
func (s *Server) serveConn(c net.Conn) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
	method, path, err := readRequest(c)
	c.SetWriteDeadline(time.Now().Add(WriteTimeout))
	if err != nil {
		if errors.Is(err, errBadRequest) {
			writeResponse(c, false, 400, "text/plain; charset=utf-8", []byte("bad request\n"))
		}
		return
	}
	status, ctype, body := s.answer(method, path)
	writeResponse(c, method == "HEAD", status, ctype, body)
	// Let the client read the answer before the close: shut down the
	// write side, then discard what it still sends, briefly.
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
		c.SetReadDeadline(time.Now().Add(time.Second))
		io.Copy(io.Discard, io.LimitReader(c, maxHead))
	}
}

// answer decides the status, content type and body for one request.
func (s *Server) answer(method, path string) (int, string, []byte) {
	const text = "text/plain; charset=utf-8"
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	switch path {
	case "/healthz", "/readyz", "/metrics":
	default:
		return 404, text, []byte("not found; try /healthz, /readyz or /metrics\n")
	}
	if method != "GET" && method != "HEAD" {
		return 405, text, []byte("method not allowed; use GET or HEAD\n")
	}
	switch path {
	case "/healthz":
		return probe(s.cfg.Healthy, "ok")
	case "/readyz":
		return probe(s.cfg.Ready, "ready")
	}
	var b bytes.Buffer
	if err := s.cfg.Metrics.WriteText(&b); err != nil {
		return 500, text, []byte("metrics: " + err.Error() + "\n")
	}
	return 200, "text/plain; version=0.0.4; charset=utf-8", b.Bytes()
}

func probe(f func() (bool, string), okText string) (int, string, []byte) {
	const text = "text/plain; charset=utf-8"
	if f == nil {
		return 200, text, []byte(okText + "\n")
	}
	if ok, why := f(); !ok {
		return 503, text, []byte("not " + okText + ": " + why + "\n")
	}
	return 200, text, []byte(okText + "\n")
}

var errBadRequest = errors.New("bad request")

// readRequest reads a request head (the request line and headers, up to
// the empty line) and returns the method and target. Headers are read and
// ignored; a body is never read (the three endpoints take none).
func readRequest(r io.Reader) (method, target string, err error) {
	buf := make([]byte, 0, 1024)
	chunk := make([]byte, 1024)
	for {
		if end := headEnd(buf); end >= 0 {
			break
		}
		if len(buf) >= maxHead {
			return "", "", fmt.Errorf("%w: request head longer than %d bytes", errBadRequest, maxHead)
		}
		n, err := r.Read(chunk[:min(len(chunk), maxHead-len(buf))])
		buf = append(buf, chunk[:n]...)
		if err != nil {
			if headEnd(buf) >= 0 {
				break
			}
			if len(buf) > 0 && errors.Is(err, io.EOF) {
				return "", "", fmt.Errorf("%w: request head cut short", errBadRequest)
			}
			return "", "", err
		}
	}
	line, _, _ := bytes.Cut(buf, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	parts := strings.Split(string(line), " ")
	if len(parts) != 3 || !strings.HasPrefix(parts[2], "HTTP/1.") || parts[0] == "" || !strings.HasPrefix(parts[1], "/") {
		return "", "", fmt.Errorf("%w: request line %q", errBadRequest, line)
	}
	return parts[0], parts[1], nil
}

// headEnd returns the index after the empty line that ends a request head,
// or -1.
func headEnd(b []byte) int {
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
		return i + 2
	}
	return -1
}

var statusText = map[int]string{200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error", 503: "Service Unavailable"}

func writeResponse(w io.Writer, head bool, status int, ctype string, body []byte) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", status, statusText[status])
	b.WriteString("Content-Type: " + ctype + "\r\n")
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	b.WriteString("Cache-Control: no-store\r\nConnection: close\r\n")
	if status == 405 {
		b.WriteString("Allow: GET, HEAD\r\n")
	}
	b.WriteString("\r\n")
	if !head {
		b.Write(body)
	}
	w.Write(b.Bytes())
}
