package main

import (
	"net"
	"os"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/testenv"
)

// nodeProgram greets with its SOCKJAIL_NODE, then answers one line.
const nodeProgram = "#!/bin/sh\necho \"ready node=$SOCKJAIL_NODE\"\nread line\necho \"got $line\"\n"

// expectNode opens a connection and checks the node its program got.
func expectNode(t *testing.T, addr string, want string) *net.TCPConn {
	t.Helper()
	c := dialFrom(t, "127.0.0.1", addr)
	if got := readLine(t, c); got != "ready node="+want {
		t.Fatalf("greeting %q, want node=%s", got, want)
	}
	return c
}

// nodesInUseIs matches serve's SIGUSR1 summary line listing exactly want.
func nodesInUseIs(want ...float64) func(map[string]any) bool {
	return func(m map[string]any) bool {
		got, ok := m["nodes_in_use"].([]any)
		if m["msg"] != "sessions" || !ok || len(got) != len(want) {
			return false
		}
		for i := range want {
			if got[i] != want[i] {
				return false
			}
		}
		return true
	}
}

// metric reads one unlabelled sample of the admin listener's /metrics.
func metric(t *testing.T, admin, name string) string {
	t.Helper()
	_, body := get(t, admin, "/metrics")
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no %s:\n%s", name, body)
	}
	return m[1]
}

// TestServeNodes: under serve, concurrent sessions get distinct node
// numbers in SOCKJAIL_NODE, the lowest free first; a node is handed out
// again once its client has closed; SIGUSR1's listing and /metrics show the
// nodes in use.
func TestServeNodes(t *testing.T) {
	f := newServeFixture(t)
	prog := f.prog("node.sh")
	if err := os.WriteFile(prog, []byte(nodeProgram), 0o755); err != nil {
		t.Fatal(err)
	}
	pol := f.policy(t, "nodes", map[string]string{"serve": "max_connections = 3"})
	admin := testenv.FreeLoopbackAddr(t)
	s := startServe(t, []string{"--listen", "127.0.0.1:0", "--admin-listen", admin, "--policy", pol}, prog)

	c1 := expectNode(t, s.addr, "1")
	c2 := expectNode(t, s.addr, "2")
	c3 := expectNode(t, s.addr, "3")
	s.signal(syscall.SIGUSR1)
	s.logs.wait(t, 10*time.Second, nodesInUseIs(1, 2, 3))
	for _, node := range []float64{1, 2, 3} {
		s.logs.wait(t, time.Second, func(m map[string]any) bool {
			return m["msg"] == "session" && m["node"] == node
		})
	}
	if got := metric(t, admin, "sockjail_nodes_in_use"); got != "3" {
		t.Fatalf("sockjail_nodes_in_use %s, want 3", got)
	}

	// The caller on node 2 leaves: its node is free once its connection
	// is closed, and the next caller gets it, not node 4.
	finish(t, c2)
	deadline := time.Now().Add(20 * time.Second)
	for {
		s.signal(syscall.SIGUSR1)
		if s.logs.find(500*time.Millisecond, nodesInUseIs(1, 3)) != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 2 still in use 20 s after its client closed; log:\n%s", s.logs)
		}
	}
	if got := metric(t, admin, "sockjail_node_highest"); got != "3" {
		t.Fatalf("sockjail_node_highest %s, want 3", got)
	}
	// The connection's log line names its node.
	s.logs.wait(t, time.Second, func(m map[string]any) bool {
		return m["msg"] == "connection" && m["node"] == 2.0 && m["peer"] == c2.LocalAddr().String()
	})
	c4 := expectNode(t, s.addr, "2")
	for _, c := range []*net.TCPConn{c1, c3, c4} {
		finish(t, c)
	}
}
