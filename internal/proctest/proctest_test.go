package proctest

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// TestReaders reads this process and a child it starts, whose answers the
// test knows.
func TestReaders(t *testing.T) {
	token := "proctest-" + time.Now().Format("150405.000000000")
	// The token is sleep's argv[0]: as a further argument, sleep would
	// refuse it as an interval and exit at once.
	cmd := exec.Command("sleep", "600")
	cmd.Args[0] = token
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child := cmd.Process.Pid
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Start returns once execve has closed the child's close-on-exec
	// files, which the kernel does before it sets up the new command
	// line: until then /proc/PID/cmdline reads empty. Wait for it.
	for deadline := time.Now().Add(10 * time.Second); len(Cmdline(child)) == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}

	if !slices.Contains(PIDs(), child) {
		t.Errorf("PIDs() lacks the child %d", child)
	}
	if state, ppid, ok := Stat(child); !ok || ppid != os.Getpid() || state == 'Z' {
		t.Errorf("Stat(child) = %c, %d, %v; want a live process whose parent is %d", state, ppid, ok, os.Getpid())
	}
	if got := Cmdline(child); !slices.Equal(got, []string{token, "600"}) {
		t.Errorf("Cmdline(child) = %q", got)
	}
	if got := Comm(child); got != "sleep" {
		t.Errorf("Comm(child) = %q, want sleep", got)
	}
	if got := ProcessesWith(token); !slices.Equal(got, []int{child}) {
		t.Errorf("ProcessesWith(token) = %v, want [%d]", got, child)
	}
	if got := Descendants(os.Getpid()); !slices.Contains(got, child) {
		t.Errorf("Descendants(self) = %v, lacks %d", got, child)
	}
	if uid, ok := RealUID(os.Getpid()); !ok || uid != os.Getuid() {
		t.Errorf("RealUID(self) = %d, %v; want %d", uid, ok, os.Getuid())
	}
	if !slices.Contains(ProcessesOf(os.Getuid()), os.Getpid()) {
		t.Errorf("ProcessesOf(own uid) lacks this process")
	}
	if kb, err := StatusKB(os.Getpid(), "VmRSS"); err != nil || kb <= 0 {
		t.Errorf("StatusKB(self, VmRSS) = %d, %v", kb, err)
	}
	if _, err := Status(os.Getpid(), "NoSuchField"); err == nil {
		t.Errorf("Status of a missing field: no error")
	}
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	before, _ := FDCount(os.Getpid())
	f.Close()
	if after, err := FDCount(os.Getpid()); err != nil || after != before-1 {
		t.Errorf("FDCount after a close = %d, %v; want %d", after, err, before-1)
	}

	cmd.Process.Kill()
	cmd.Wait()
	if Alive(child) {
		t.Errorf("Alive(reaped child) = true")
	}
	WaitNoDescendants(t, os.Getpid(), 5*time.Second)
}

// TestTCPListenQueue finds a listener and the connection waiting in its
// accept queue, and no listener where none is.
func TestTCPListenQueue(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := netip.MustParseAddrPort(ln.Addr().String())
	if n, ok, err := TCPListenQueue(addr); err != nil || !ok || n != 0 {
		t.Fatalf("idle listener: %d, %v, %v; want 0, true", n, ok, err)
	}
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, _, _ := TCPListenQueue(addr)
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("accept queue %d, want 1", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	ln.Close()
	if _, ok, _ := TCPListenQueue(addr); ok {
		t.Errorf("a closed listener is still found")
	}
}
