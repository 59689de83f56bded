package session

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/sockjail/sockjail/internal/conn"
	"github.com/sockjail/sockjail/internal/exitcode"
	"github.com/sockjail/sockjail/policy"
	"github.com/sockjail/sockjail/sandbox"
)

// TestStartErrorCode: each way a program can fail to start maps to the exit
// code the README documents.
func TestStartErrorCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{&sandbox.ProgramError{Kind: sandbox.NotFound, Name: "x", Err: fs.ErrNotExist}, exitcode.NotFound},
		{fmt.Errorf("wrapped: %w", &sandbox.ProgramError{Kind: sandbox.NotExecutable, Name: "x", Err: fs.ErrPermission}), exitcode.NotExecutable},
		{&sandbox.RefusedError{Missing: []string{"Landlock"}}, exitcode.Refused},
		{&sandbox.StartError{Step: "clone", Errno: syscall.EPERM}, exitcode.OSError},
		{errors.New("anything else"), exitcode.OSError},
	} {
		if got := StartErrorCode(tc.err); got != tc.want {
			t.Errorf("StartErrorCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// TestEnvironment: the program's environment is the policy's env, then what
// pass_env copies from sockjail's own, then the connection's variables,
// which nothing overrides; nothing else of sockjail's environment leaks.
func TestEnvironment(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f, err := server.(*net.TCPConn).File()
	server.Close()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	c, err := conn.FromFD(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(t.Context(), conn.CloseOptions{})

	t.Setenv("SOCKJAIL_TEST_PASSED", "yes")
	t.Setenv("SOCKJAIL_TEST_NOT_PASSED", "no")
	p := policy.Default()
	p.Program.Env = map[string]string{"LANG": "C.UTF-8", "REMOTE_ADDR": "spoofed"}
	p.Program.PassEnv = []string{"SOCKJAIL_TEST_PASSED", "SOCKJAIL_TEST_UNSET"}
	s := New(c, &Config{Policy: p})
	env := s.environment()

	local := client.LocalAddr().(*net.TCPAddr)
	for _, want := range []string{
		"LANG=C.UTF-8",
		"SOCKJAIL_TEST_PASSED=yes",
		"REMOTE_ADDR=127.0.0.1",
		fmt.Sprintf("REMOTE_PORT=%d", local.Port),
		"PROTO=TCP",
		"TCPREMOTEIP=127.0.0.1",
	} {
		if !slices.Contains(env, want) {
			t.Errorf("environment lacks %q: %q", want, env)
		}
	}
	for _, kv := range env {
		switch kv {
		case "REMOTE_ADDR=spoofed", "SOCKJAIL_TEST_NOT_PASSED=no":
			t.Errorf("environment has %q: %q", kv, env)
		}
	}
	if !slices.IsSorted(env) {
		t.Errorf("environment not sorted (so not reproducible): %q", env)
	}
	if os.Getenv("SOCKJAIL_TEST_UNSET") == "" && slices.ContainsFunc(env, func(kv string) bool { return kv == "SOCKJAIL_TEST_UNSET=" }) {
		t.Errorf("an unset pass_env variable became empty: %q", env)
	}
}
