package main

// docs/hosting.md's rlogin doors, run as written: the door, its policy, the
// check and serve commands, with /srv/bbs moved to a scratch place, the
// port to a free one, and allow_from to the test's client address.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rloginDoorsHeading starts the rlogin part of the BBS recipe.
const rloginDoorsHeading = "\n### rlogin: doors for other boards\n"

func TestHostingRloginDoors(t *testing.T) {
	const doc = "../../docs/hosting.md"
	const recipeDir = "/srv/bbs"
	dir := srvDir(t, "sockjail-doors-")
	moved := func(s string) string { return strings.ReplaceAll(s, recipeDir, dir) }

	_, recipe, ok := strings.Cut(recipeSection(t, doc, "A telnet BBS"), rloginDoorsHeading)
	if !ok {
		t.Fatalf("docs/hosting.md's BBS recipe has no %q subsection", strings.TrimSpace(rloginDoorsHeading))
	}
	policies := recipeBlocks(recipe, "toml")
	if len(policies) != 1 {
		t.Fatalf("the rlogin doors recipe has %d toml blocks, want the policy alone", len(policies))
	}
	// The boards' example addresses become the test's client's.
	const boards = "\nallow_from = [\"192.0.2.10\", \"2001:db8::10\"]\n"
	policy := moved(policies[0])
	if !strings.Contains(policy, boards) {
		t.Fatalf("the doors policy has no %q line to move", strings.TrimSpace(boards))
	}
	policy = strings.Replace(policy, boards, "\nallow_from = [\"127.0.0.1\"]\n", 1)
	commands := recipeBlocks(recipe, "sh")
	door := recipeScript(t, commands, moved, "rlogin doors recipe")
	for name, body := range map[string]string{"doors.toml": policy, "door": door} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	recipeCheck(t, commands, moved)
	s := recipeServe(t, commands, moved)

	// A board's caller, by the real rlogin client from an allowed address.
	term := rloginClient(t, s.addr, "alice", 100, 30)
	for _, want := range []string{
		"Hello alice (root), on door node 1.\r\n",
		"Your terminal: xterm, 30 100 (rows columns), 38400 bit/s.\r\n",
		"Press Enter to go back to your board: ",
	} {
		if _, err := term.Expect(want, interactiveWait); err != nil {
			t.Fatal(err)
		}
	}
	term.Send("\r")
	if _, err := term.Expect("Back to your board.", interactiveWait); err != nil {
		t.Fatal(err)
	}
	term.Wait(interactiveWait) // it exits 1 when the door hangs up
	s.logs.wait(t, 20*time.Second, func(m map[string]any) bool {
		return m["msg"] == "connection" && m["node"] == float64(1) && m["status"] == float64(0)
	})

	// Anyone else is turned away before a handshake.
	other := dialFrom(t, "127.0.0.2", s.addr)
	other.Write([]byte("\x00mallory\x00alice\x00xterm/38400\x00"))
	if n, err := other.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("a caller from elsewhere got %d bytes (%v)", n, err)
	}
	s.logs.wait(t, 20*time.Second, func(m map[string]any) bool {
		return m["msg"] == "connection refused" && m["reason"] == "access-rule"
	})
}
