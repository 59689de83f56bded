package admin

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzReadRequest: whatever a client sends, readRequest returns without
// panicking, reads at most maxHead bytes, and accepts only a request line
// of three parts with an absolute path and an HTTP/1.x version.
func FuzzReadRequest(f *testing.F) {
	for _, seed := range []string{
		"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
		"HEAD /readyz HTTP/1.0\n\n",
		"GET /healthz?x=1 HTTP/1.1\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET  /x HTTP/1.1\r\n\r\n",
		"\r\n\r\n",
		"GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := &countingReader{r: bytes.NewReader(in)}
		method, target, err := readRequest(r)
		if r.n > maxHead {
			t.Fatalf("read %d bytes, more than maxHead %d", r.n, maxHead)
		}
		if err != nil {
			return
		}
		if method == "" || !strings.HasPrefix(target, "/") || strings.ContainsAny(method+target, " \r\n") {
			t.Fatalf("accepted method %q target %q from %q", method, target, in)
		}
	})
}

type countingReader struct {
	r *bytes.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
