package session_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/metrics"
	"github.com/sockjail/sockjail/internal/serve"
	"github.com/sockjail/sockjail/internal/session"
	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/policy"
	"github.com/sockjail/sockjail/sandbox"
)

// TestCrashEndsOneSession injects a panic into one session's goroutines
// under a real in-process serve, at each point a session runs code of its
// own (its main goroutine, the relay, the wait for the program): that
// connection is closed, "session crashed" is logged with the stack, and a
// session that was live meanwhile finishes normally, as do later ones.
func TestCrashEndsOneSession(t *testing.T) {
	testenv.RequireRoot(t)
	for _, point := range []string{"session", "relay", "wait"} {
		t.Run(point, func(t *testing.T) {
			p := policy.Default()
			p.Terminal.Telnet = policy.TelnetOn // pipes and the relay, so every point exists
			p.Terminal.PTY = false
			argv := []string{"/bin/sh", "-c", `echo ready; read x; echo "got $x"`}
			sb, err := sandbox.New(p, argv, sandbox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer sb.Close()
			var logs testenv.LockedBuffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			cfg := session.NewConfig(p, sb, argv, log)
			m := metrics.New(nil, session.KillReasons)
			l, err := serve.Listen("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv, err := serve.New(serve.Config{Listeners: []*serve.Listener{l}, Log: log, Initial: cfg, Metrics: m,
				Load: func() (*session.Config, error) { return cfg, nil }})
			if err != nil {
				t.Fatal(err)
			}
			// Only the second session to reach the point crashes.
			var calls atomic.Int32
			session.SetCrashHook(func(at string) {
				if at == point && calls.Add(1) == 2 {
					panic("injected crash at " + at)
				}
			})
			defer session.SetCrashHook(nil)
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan struct{})
			go func() { srv.Serve(ctx, make(chan os.Signal)); close(served) }()
			defer func() { cancel(); <-served }()
			addr := l.Addr().String()

			live := dialReady(t, addr)
			crashed, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer crashed.Close()
			// The crashed session's connection is closed, promptly.
			crashed.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.ReadAll(crashed); err != nil && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("crashed session's connection: %v", err)
			}
			// The live one goes on to its normal end, and a new one works.
			finish(t, live, "one")
			finish(t, dialReady(t, addr), "two")

			cancel()
			<-served
			out := logs.String()
			if !strings.Contains(out, `"msg":"session crashed"`) || !strings.Contains(out, "injected crash at "+point) {
				t.Fatalf("no crash logged:\n%s", out)
			}
			if !strings.Contains(out, "crash_test.go") {
				t.Errorf("the crash's log line has no stack:\n%s", out)
			}
			if n := strings.Count(out, `"msg":"connection"`); n < 2 {
				t.Errorf("%d sessions logged their normal end, want 2:\n%s", n, out)
			}
			// A session that crashed after it was counted as served
			// ended in the metrics too: none is left live, and the
			// crash counts as a kill. A crash at "session" comes before
			// that count.
			wantServed, crashes := 3, 1
			if point == "session" {
				wantServed, crashes = 2, 0
			}
			var text strings.Builder
			m.WriteText(&text)
			for _, want := range []string{
				"\nsockjail_sessions_active 0\n",
				fmt.Sprintf("sockjail_sessions_total{result=\"served\"} %d\n", wantServed),
				fmt.Sprintf("sockjail_programs_killed_total{why=\"crash\"} %d\n", crashes),
			} {
				if !strings.Contains(text.String(), want) {
					t.Errorf("metrics lack %q:\n%s", want, text.String())
				}
			}
		})
	}
}

// dialReady connects and waits for the program's first line.
func dialReady(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(line, "ready") {
		t.Fatalf("waiting for the program: %q, %v", line, err)
	}
	return c
}

// finish sends a line to a live session and expects its answer and the end.
func finish(t *testing.T, c net.Conn, word string) {
	t.Helper()
	if _, err := io.WriteString(c, word+"\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	rest, err := io.ReadAll(c)
	if err != nil || !strings.Contains(string(rest), "got "+word) {
		t.Fatalf("live session: %q, %v", rest, err)
	}
}
