package sigcatch

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestCatch installs the handler in a re-executed copy of the test binary
// (the handler stays for the life of the process) and checks there that
// each caught signal is received once, in order, that the process survives
// signals whose default would end it, and that a second Catch is refused.
func TestCatch(t *testing.T) {
	if os.Getenv("SIGCATCH_CHILD") == "1" {
		catchInChild()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCatch$", "-test.v")
	cmd.Env = append(os.Environ(), "SIGCATCH_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "child: ok") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func catchInChild() {
	fail := func(format string, args ...any) {
		os.Stdout.WriteString("child: FAIL " + fmt.Sprintf(format, args...) + "\n")
		os.Exit(1)
	}
	if _, err := Catch(syscall.Signal(300)); err == nil {
		fail("Catch of signal 300 succeeded")
	}
	c, err := Catch(syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	if err != nil {
		fail("Catch: %v", err)
	}
	if _, err := Catch(syscall.SIGUSR2); err == nil {
		fail("a second Catch succeeded")
	}
	// SIGTERM and SIGHUP would end the process by default.
	sent := []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGTERM}
	for _, sig := range sent {
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			fail("kill: %v", err)
		}
		got, err := c.Next()
		if err != nil || got != sig {
			fail("Next after %v = %v, %v", sig, got, err)
		}
	}
	os.Stdout.WriteString("child: ok\n")
}
