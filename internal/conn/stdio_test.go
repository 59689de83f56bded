package conn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary act as sockjail run's first steps: take
// the connection with FromStdio, report what it found as JSON on stderr,
// write a greeting to its stdout and Close. FromStdio moves descriptors 0,
// 1 and 3 around, so it runs in a child process, never in the test's own.
const helperEnv = "SOCKJAIL_CONN_TEST_HELPER"

const helperGreeting = "hello from fd 1\n"

type helperReport struct {
	Err          string
	NoConnection bool
	Listening    bool
	Kind         string
	Env          []string
	ListenVars   []string // LISTEN_* left in the environment
	FD3Open      bool
	Same01       bool
	Reason       string
}

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		helperMain()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func helperMain() {
	var r helperReport
	c, err := FromStdio()
	if err != nil {
		r.Err = err.Error()
		r.NoConnection = errors.Is(err, ErrNoConnection)
		r.Listening = errors.Is(err, ErrListening)
	} else {
		r.Kind = c.Kind().String()
		r.Env = c.Env()
		for _, kv := range os.Environ() {
			if strings.HasPrefix(kv, "LISTEN_") {
				r.ListenVars = append(r.ListenVars, kv)
			}
		}
		var st3, st0, st1 unix.Stat_t
		r.FD3Open = unix.Fstat(3, &st3) == nil
		unix.Fstat(0, &st0)
		unix.Fstat(1, &st1)
		r.Same01 = st0.Dev == st1.Dev && st0.Ino == st1.Ino
		if c.Kind() == KindTCP || c.Kind() == KindUnix {
			unix.Write(c.OutFD(), []byte(helperGreeting))
		}
		r.Reason = c.Close(context.Background(), CloseOptions{FlushTimeout: 5 * time.Second, LingerIdle: time.Second, LingerMax: 5 * time.Second}).Reason
	}
	json.NewEncoder(os.Stderr).Encode(r)
}

// runHelper runs the test binary as the helper under /bin/sh with script
// (which ends in `exec "$0" -test.run=^$`), the given extra descriptors
// from fd 3 on, stdin and environment.
func runHelper(t *testing.T, script string, stdin *os.File, extra []*os.File, env ...string) helperReport {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script, os.Args[0])
	cmd.Env = append(os.Environ(), append(env, helperEnv+"=1")...)
	cmd.Stdin, cmd.ExtraFiles = stdin, extra
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if stdin != nil {
		cmd.Stdout = stdin
	}
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper: %v\n%s", err, stderr.Bytes())
	}
	var r helperReport
	if err := json.Unmarshal(stderr.Bytes(), &r); err != nil {
		t.Fatalf("helper report %q: %v", stderr.Bytes(), err)
	}
	return r
}

// serverFile accepts a TCP connection and returns the client and the
// server's socket as a file to hand to a child.
func serverFile(t *testing.T) (*net.TCPConn, *os.File) {
	client, fd := listenTCP(t, "127.0.0.1").dial(t, "")
	t.Cleanup(func() { client.Close() })
	f := os.NewFile(uintptr(fd), "server")
	t.Cleanup(func() { f.Close() })
	return client, f
}

func TestFromStdioListenFDs(t *testing.T) {
	client, server := serverFile(t)
	got := readAllBytes(client)
	// systemd-socket-activate --accept: the connection on fd 3, stdin
	// elsewhere, LISTEN_PID set by the child itself.
	r := runHelper(t, `LISTEN_PID=$$ exec "$0" -test.run='^$'`, nil, []*os.File{server},
		"LISTEN_FDS=1", "LISTEN_FDNAMES=connection")
	if r.Err != "" || r.Kind != "tcp" || r.FD3Open || !r.Same01 || len(r.ListenVars) != 0 {
		t.Fatalf("helper: %+v; want a tcp connection on fds 0 and 1, fd 3 closed, no LISTEN_ variables", r)
	}
	if !slices.Contains(r.Env, "REMOTE_ADDR=127.0.0.1") {
		t.Errorf("env %q lacks REMOTE_ADDR=127.0.0.1", r.Env)
	}
	server.Close()
	if b := <-got; string(b) != helperGreeting {
		t.Errorf("client read %q; want %q", b, helperGreeting)
	}
}

func TestFromStdioInetd(t *testing.T) {
	client, server := serverFile(t)
	got := readAllBytes(client)
	// LISTEN_PID names another process: the variables are ignored (and
	// removed), and fd 0 is the connection.
	r := runHelper(t, `exec "$0" -test.run='^$'`, server, nil, "LISTEN_PID=1", "LISTEN_FDS=1")
	if r.Err != "" || r.Kind != "tcp" || !r.Same01 || len(r.ListenVars) != 0 || r.Reason != ReasonPeerClosed {
		t.Fatalf("helper: %+v; want a tcp connection, no LISTEN_ variables, closed by the peer", r)
	}
	server.Close()
	if b := <-got; string(b) != helperGreeting {
		t.Errorf("client read %q; want %q", b, helperGreeting)
	}
}

func TestFromStdioStdoutClosed(t *testing.T) {
	client, server := serverFile(t)
	got := readAllBytes(client)
	r := runHelper(t, `exec "$0" -test.run='^$' >&-`, server, nil)
	if r.Err != "" || r.Kind != "tcp" || !r.Same01 {
		t.Fatalf("helper: %+v; want fd 1 made a copy of fd 0", r)
	}
	server.Close()
	if b := <-got; string(b) != helperGreeting {
		t.Errorf("client read %q; want %q", b, helperGreeting)
	}
}

// TestFromStdioSocat is socat's EXEC: shape: a socketpair on fd 0 and the
// peer's address in socat's variables.
func TestFromStdioSocat(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	child := os.NewFile(uintptr(fds[0]), "child")
	peer := os.NewFile(uintptr(fds[1]), "peer")
	defer peer.Close()
	got := readAllBytes(peer)
	r := runHelper(t, `exec "$0" -test.run='^$'`, child, nil,
		"SOCAT_PEERADDR=192.0.2.1", "SOCAT_PEERPORT=40000", "SOCAT_SOCKADDR=192.0.2.2", "SOCAT_SOCKPORT=23")
	child.Close()
	want := []string{"REMOTE_ADDR=192.0.2.1", "REMOTE_PORT=40000", "PROTO=TCP", "TCPREMOTEIP=192.0.2.1",
		"TCPREMOTEPORT=40000", "TCPLOCALIP=192.0.2.2", "TCPLOCALPORT=23"}
	if r.Err != "" || r.Kind != "unix" || !slices.Equal(r.Env, want) {
		t.Fatalf("helper: %+v; want kind unix and env %q", r, want)
	}
	if b := <-got; string(b) != helperGreeting {
		t.Errorf("peer read %q; want %q", b, helperGreeting)
	}
}

// TestFromStdioErrors covers what is not a connection.
func TestFromStdioErrors(t *testing.T) {
	lis := listenTCP(t, "127.0.0.1")
	lf := os.NewFile(uintptr(dupFD(t, lis.fd)), "listener")
	defer lf.Close()
	tests := []struct {
		name          string
		script        string
		stdin         *os.File
		extra         []*os.File
		env           []string
		noConn, listn bool
	}{
		{"fd 0 closed", `exec "$0" -test.run='^$' <&-`, nil, nil, nil, true, false},
		{"fd 0 /dev/null", `exec "$0" -test.run='^$' </dev/null`, nil, nil, nil, true, false},
		{"listening socket on fd 0", `exec "$0" -test.run='^$'`, lf, nil, nil, false, true},
		{"listening socket from LISTEN_FDS", `LISTEN_PID=$$ exec "$0" -test.run='^$'`, nil, []*os.File{lf}, []string{"LISTEN_FDS=1"}, false, true},
		{"two LISTEN_FDS", `LISTEN_PID=$$ exec "$0" -test.run='^$'`, nil, []*os.File{lf, lf}, []string{"LISTEN_FDS=2"}, true, false},
		{"LISTEN_FDS fd 3 closed", `LISTEN_PID=$$ exec "$0" -test.run='^$' 3<&-`, nil, nil, []string{"LISTEN_FDS=1"}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runHelper(t, tt.script, tt.stdin, tt.extra, tt.env...)
			if r.Err == "" || r.NoConnection != tt.noConn || r.Listening != tt.listn {
				t.Fatalf("helper: %+v; want an error (no connection %v, listening %v)", r, tt.noConn, tt.listn)
			}
			t.Logf("error: %s", r.Err)
		})
	}
	// A regular file is no error: the program runs on it (kind other),
	// for trying it out locally.
	r := runHelper(t, `exec "$0" -test.run='^$' <"$0"`, nil, nil)
	if r.Err != "" || r.Kind != "other" || r.Env != nil {
		t.Fatalf("regular file: %+v; want kind other without env", r)
	}
}

// readAllBytes reads f to EOF in a goroutine, then closes it.
func readAllBytes(f interface{ Read([]byte) (int, error) }) <-chan []byte {
	ch := make(chan []byte, 1)
	go func() {
		var b bytes.Buffer
		b.ReadFrom(f)
		if c, ok := f.(interface{ Close() error }); ok {
			c.Close() // as a client such as nc does at EOF
		}
		ch <- b.Bytes()
	}()
	return ch
}
