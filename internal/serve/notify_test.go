package serve

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// TestNotify sends to a real AF_UNIX datagram socket, as systemd's
// NOTIFY_SOCKET is.
func TestNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()

	t.Setenv("NOTIFY_SOCKET", "")
	if err := newNotifier().send("READY=1"); err != nil {
		t.Fatalf("without NOTIFY_SOCKET: %v", err)
	}

	t.Setenv("NOTIFY_SOCKET", path)
	n := newNotifier()
	for _, msg := range []string{"READY=1\nSTATUS=listening", "STOPPING=1"} {
		if err := n.send(msg); err != nil {
			t.Fatal(err)
		}
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 256)
		k, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if string(buf[:k]) != msg {
			t.Fatalf("got %q, want %q", buf[:k], msg)
		}
	}
}
