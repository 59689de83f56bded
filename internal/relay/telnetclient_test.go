package relay

import (
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/relay/termtest"
	"github.com/sockjail/sockjail/internal/telnet"
	"github.com/sockjail/sockjail/internal/testenv"
)

// telnetSession connects the real inetutils telnet client, on a pty of
// cols x rows with TERM=xterm, to the menu program behind a relay.
func telnetSession(t *testing.T, cfg Config, cols, rows int, argv ...string) (*termtest.Term, *session) {
	t.Helper()
	telnetPath := testenv.LookTool(t, "telnet")
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	term := termtest.Client(t, telnetPath, cols, rows, "127.0.0.1", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	conn, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	f, err := conn.File()
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	return term, startOn(t, fd, cfg, argv...)
}

// TestRealTelnetMenu logs into the menu with inetutils telnet: the prompt
// shows without input, typed characters echo exactly once, Enter (which
// telnet sends as CR NUL or CR LF) is one newline, TERM and the window
// size come from the client, and quitting closes the connection.
func TestRealTelnetMenu(t *testing.T) {
	menu := termtest.BuildMenu(t, t.TempDir())
	term, s := telnetSession(t, Config{PTY: true, Telnet: telnet.On}, 100, 30, menu)
	const wait = 5 * time.Second
	termtest.MenuLogin(t, term, wait)
	term.Send("t\r")
	out, err := term.Expect("tty=", wait)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "TERM=xterm size=100x30") {
		t.Errorf("terminal report %q, want TERM=xterm size=100x30", out)
	}
	// An empty line is one newline, not two: one "No such choice." only.
	term.Send("\r")
	term.Send("q\r")
	out, err = term.Expect("Bye.", wait)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "No such choice."); n != 1 {
		t.Errorf("an empty line gave %d answers, want 1: %q", n, out)
	}
	if err := s.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	syscall.Shutdown(s.relay.connOut, syscall.SHUT_RDWR)
	if _, err := term.Expect("Connection closed by foreign host.", wait); err != nil {
		t.Fatal(err)
	}
	if err := term.Wait(wait); err != nil {
		t.Logf("telnet exited with %v", err)
	}
	if tr := term.Transcript(); strings.ContainsAny(tr, "\xff") {
		t.Errorf("telnet showed raw IAC bytes: %q", tr)
	}
}

// TestRealTelnetCurses runs dialog(1), a curses program, behind telnet: it
// must see the window size the client's terminal has, and its screen must
// reach the client.
func TestRealTelnetCurses(t *testing.T) {
	dialog := testenv.LookTool(t, "dialog")
	term, s := telnetSession(t, Config{PTY: true, Telnet: telnet.On}, 91, 33, "/bin/sh", "-c",
		dialog+` --print-maxsize --stdout; `+dialog+` --infobox "curses here" 5 30; sleep 0.2; tput cols; tput lines`)
	if _, err := term.Expect("MaxSize: 33, 91", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := term.Expect("curses here", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := term.Expect("91\r\n33\r\n", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
