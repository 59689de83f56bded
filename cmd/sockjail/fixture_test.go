package main

// The programs that the run and serve tests serve, and the policies they
// serve them under.

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockjail/sockjail/internal/testenv"
)

// programFixture is a directory outside /tmp (the programs get a private
// /tmp) holding the served programs, a world-writable marker directory and
// the policies.
type programFixture struct {
	dir     string
	markers string
}

// servePrograms are the shell programs the tests serve.
var servePrograms = map[string]string{
	"hello.sh": "#!/bin/sh\necho 'Hello World'\n",
	"env.sh":   "#!/bin/sh\necho \"$REMOTE_ADDR $REMOTE_PORT $TCPREMOTEIP $TCPREMOTEPORT $TCPLOCALIP $PROTO\"\nexec cat\n",
	// 1 MiB out, without reading the client's input.
	"big.sh": "#!/bin/sh\nexec head -c 1048576 /dev/zero\n",
	// Greets, then answers one line: a session that stays open until the
	// client speaks.
	"line.sh": "#!/bin/sh\necho \"ready $GREETING\"\nread line\necho \"got $line\"\n",
	// Reads to EOF, then answers: only works if a half-close is honoured.
	"count.sh": "#!/bin/sh\nn=$(wc -c)\necho \"read $n\"\n",
	"echo.sh":  "#!/bin/sh\nexec cat\n",
	"sleep.sh": "#!/bin/sh\necho ready\nexec sleep 600\n",
	// Proves that the program ran.
	"marker.sh": "#!/bin/sh\ntouch \"$MARKERS/ran-$TCPREMOTEIP\"\necho ran\n",
	// Writes more than the socket buffers hold for a client that never
	// reads.
	"flood.sh": "#!/bin/sh\nexec head -c 67108864 /dev/zero\n",
}

func newServeFixture(t *testing.T) *programFixture {
	t.Helper()
	testenv.RequireRoot(t)
	dir, err := os.MkdirTemp("/srv", "sockjail-serve-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	for name, body := range servePrograms {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f := &programFixture{dir: dir, markers: filepath.Join(dir, "markers")}
	if err := os.Mkdir(f.markers, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(f.markers, 0o777)
	return f
}

func (f *programFixture) prog(name string) string { return filepath.Join(f.dir, name) }

// policy writes a policy file: the default's lists with the fixture
// directory added, and the given extra TOML tables (each "[table]\nkey = v").
func (f *programFixture) policy(t *testing.T, name string, tables map[string]string) string {
	t.Helper()
	sections := map[string]string{
		"program": "",
	}
	if !strings.Contains(tables["program"], "env =") {
		sections["program"] = fmt.Sprintf("env = { LANG = \"C.UTF-8\", PATH = \"/usr/local/bin:/usr/bin:/bin\", MARKERS = %q }\n", f.markers)
	}
	sections["filesystem"] = fmt.Sprintf("read_only = [\"/usr\", \"/etc\", \"-/lib\", \"-/lib64\", \"-/bin\", \"-/sbin\", %q]\n", f.dir) +
		fmt.Sprintf("read_write = [%q]\n", f.markers) +
		fmt.Sprintf("exec = [\"/usr/bin\", \"/usr/sbin\", \"/usr/lib\", \"-/usr/libexec\", \"-/usr/local/bin\", \"-/bin\", \"-/lib\", \"-/lib64\", %q]\n", f.dir)
	for k, v := range tables {
		sections[k] += v + "\n"
	}
	var b strings.Builder
	b.WriteString("version = 1\n")
	for _, k := range []string{"program", "connection", "filesystem", "limits", "serve"} {
		if s, ok := sections[k]; ok {
			fmt.Fprintf(&b, "[%s]\n%s\n", k, s)
			delete(sections, k)
		}
	}
	if len(sections) > 0 {
		t.Fatalf("unknown policy tables %v", sections)
	}
	p := filepath.Join(f.dir, name+".toml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runPrograms are served by these tests in addition to servePrograms.
var runPrograms = map[string]string{
	// Leaves a child holding the connection behind.
	"background.sh": "#!/bin/sh\nsleep 600 &\necho started\n",
	// The seed's hello world as a bash script, without sleep.
	"hello.bash": "#!/bin/bash\nprintf 'Hello World\\n'\n",
	"noexec.sh":  "#!/bin/sh\necho never\n",
	// Answers each forwarded signal on the connection; TERM ends it.
	"traps.sh": "#!/bin/sh\ntrap 'echo got HUP' HUP\ntrap 'echo got INT' INT\ntrap 'echo got TERM; exit 0' TERM\necho ready\nwhile :; do sleep 0.05; done\n",
}

// newRunFixture is newServeFixture's fixture plus runPrograms.
func newRunFixture(t *testing.T) *programFixture {
	t.Helper()
	f := newServeFixture(t)
	for name, body := range runPrograms {
		mode := os.FileMode(0o755)
		if name == "noexec.sh" {
			mode = 0o644
		}
		if err := os.WriteFile(f.prog(name), []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(f.prog(name), mode) // past the umask
	}
	return f
}

// expectClientEnv connects from 127.0.0.9 to addr, which serves env.sh,
// and checks the environment the program got: the client's address and
// port under every name (REMOTE_ADDR, TCPREMOTEIP, ...), the local address
// and PROTO.
func expectClientEnv(t *testing.T, addr string) {
	t.Helper()
	c := dialFrom(t, "127.0.0.9", addr)
	defer c.Close()
	local := c.LocalAddr().(*net.TCPAddr)
	want := fmt.Sprintf("127.0.0.9 %d 127.0.0.9 %d 127.0.0.1 TCP", local.Port, local.Port)
	if got := readLine(t, c); got != want {
		t.Fatalf("environment = %q, want %q", got, want)
	}
}
