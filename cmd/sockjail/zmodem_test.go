package main

// ZMODEM through telnet BINARY (issue 20): the real sz and rz of lrzsz, one
// under `sockjail run` with telnet = true and binary = true behind the
// real systemd-socket-activate, the other on the test's side of the
// connection behind a telnet client (internal/telnet/telnettest), moving a
// 1 MiB random file each way, byte for byte.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/telnet/telnettest"
	"github.com/sockjail/sockjail/internal/testenv"
)

// zmodemPolicy is the test's policy for sz and rz: the default's
// system directories, the download directory read-only, the upload
// directory writable and the program's working directory, and telnet
// with BINARY offered.
const zmodemPolicy = `version = 1

[program]
user = "dynamic"
workdir = "%[2]s"

[filesystem]
read_only = ["/usr", "/etc", "-/lib", "-/lib64", "-/bin", "%[1]s"]
read_write = ["%[2]s"]
exec = ["/usr/bin", "-/bin", "/usr/lib", "-/lib", "-/lib64"]

[terminal]
telnet = true
binary = true
%[3]s
`

// zmodemDirs makes a download directory holding a 1 MiB random file and an
// empty upload directory anyone can write, under /srv (the sandbox
// replaces /tmp), and returns them with the file's name.
func zmodemDirs(t *testing.T) (down, up, file string) {
	t.Helper()
	dir := srvDir(t, "sockjail-zmodem-")
	down, up = filepath.Join(dir, "down"), filepath.Join(dir, "up")
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{down, 0o755}, {up, 0o777}} {
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d.path, d.mode); err != nil {
			t.Fatal(err)
		}
	}
	data := make([]byte, 1<<20)
	rand.Read(data)
	file = filepath.Join(down, "random.bin")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return down, up, file
}

// zmodemServe writes the policy with the extra [terminal] lines and serves
// argv with it through `sockjail run`.
func zmodemServe(t *testing.T, down, up, terminal string, argv ...string) *interactive {
	t.Helper()
	pol := filepath.Join(filepath.Dir(down), "zmodem.toml")
	if err := os.WriteFile(pol, []byte(fmt.Sprintf(zmodemPolicy, down, up, terminal)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(testenv.Sockjail(t), "check", pol).CombinedOutput(); err != nil {
		t.Fatalf("sockjail check: %v\n%s", err, out)
	}
	return runUnderSocketActivate(t, pol, argv...)
}

// zmodemClient connects to s through the telnet client, which agrees to
// BINARY both ways, and runs argv (sz or rz) in dir with its stdin and
// stdout on the connection, until argv exits.
func zmodemClient(t *testing.T, s *interactive, dir string, argv ...string) {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	d.SetMultipathTCP(false)
	c, err := d.Dial("tcp4", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	newCaller(t, c.(*net.TCPConn)).transfer(dir, argv...)
}

// caller is a BBS caller's side of a telnet connection that agrees to
// BINARY: it reads what the board says, types, and hands the connection
// to a local transfer program (rz or sz) and back.
type caller struct {
	t      *testing.T
	conn   *net.TCPConn
	client *telnettest.Client
	chunks chan []byte // what the server sent, decoded, in order
	held   []byte      // received and not yet consumed
}

func newCaller(t *testing.T, c *net.TCPConn) *caller {
	c.SetDeadline(time.Now().Add(120 * time.Second))
	k := &caller{t: t, conn: c, client: telnettest.New(c, true), chunks: make(chan []byte, 64)}
	go func() {
		defer close(k.chunks)
		for {
			buf := make([]byte, 16<<10)
			n, err := k.client.Read(buf)
			if n > 0 {
				k.chunks <- buf[:n]
			}
			if err != nil {
				return
			}
		}
	}()
	return k
}

// expect reads until want arrived and consumes everything up to its end.
func (k *caller) expect(want string) {
	k.t.Helper()
	for {
		if i := bytes.Index(k.held, []byte(want)); i >= 0 {
			k.held = k.held[i+len(want):]
			return
		}
		chunk, ok := <-k.chunks
		if !ok {
			k.t.Fatalf("connection ended waiting for %q; got %q", want, k.held)
		}
		k.held = append(k.held, chunk...)
	}
}

// hangUp reads to the end of the connection, closes it, and returns what
// was not yet consumed.
func (k *caller) hangUp() string {
	if k.chunks != nil {
		for chunk := range k.chunks {
			k.held = append(k.held, chunk...)
		}
	}
	k.conn.Close()
	return string(k.held)
}

func (k *caller) send(s string) {
	k.t.Helper()
	if _, err := k.client.Write([]byte(s)); err != nil {
		k.t.Fatal(err)
	}
}

// transfer runs argv in dir with its stdin and stdout on the connection
// until it exits, then gives the connection back to the caller.
func (k *caller) transfer(dir string, argv ...string) {
	k.t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		k.t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		k.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(k.client, stdout)
		if werr := cmd.Wait(); err == nil {
			err = werr
		}
		done <- err
	}()
	pending := k.held
	k.held = nil
	timeout := time.After(120 * time.Second)
	for {
		if len(pending) > 0 {
			if _, err := stdin.Write(pending); err != nil {
				// It exited (see done): what came after it is
				// the caller's again.
				k.held = append(k.held, pending...)
			}
			pending = nil
		}
		select {
		case chunk, ok := <-k.chunks:
			if !ok {
				k.chunks = nil // connection over: wait for the program
				stdin.Close()
				continue
			}
			pending = chunk
		case err := <-done:
			stdin.Close()
			k.held = append(k.held, pending...)
			if err != nil {
				k.t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, stderr.String())
			}
			if in, out := k.client.Binary(); !in || !out {
				k.t.Errorf("BINARY in %v out %v: want both", in, out)
			}
			return
		case <-timeout:
			cmd.Process.Kill()
			k.t.Fatalf("%s did not finish in 120 s\n%s", strings.Join(argv, " "), stderr.String())
		}
	}
}

func sha256File(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestZMODEMThroughTelnet downloads (sz under sockjail, rz at the client)
// and uploads (sz at the client, rz under sockjail) a 1 MiB random file,
// with the program on a pty as a BBS runs it, and on pipes with crlf on,
// where binary output must turn crlf off.
func TestZMODEMThroughTelnet(t *testing.T) {
	sz := testenv.LookTool(t, "sz")
	rz := testenv.LookTool(t, "rz")
	for _, tc := range []struct {
		name     string
		terminal string
	}{
		{"pty", ""},
		{"pipes with crlf", "pty = false\ncrlf = true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			down, up, file := zmodemDirs(t)
			want := sha256File(t, file)

			t.Run("download", func(t *testing.T) {
				s := zmodemServe(t, down, up, tc.terminal, sz, "-q", file)
				local := t.TempDir()
				start := time.Now()
				zmodemClient(t, s, local, rz, "-q", "-y")
				t.Logf("1 MiB sz -> rz in %v", time.Since(start).Round(time.Millisecond))
				if got := sha256File(t, filepath.Join(local, filepath.Base(file))); got != want {
					t.Fatalf("downloaded file differs: sha256 %x, want %x", got, want)
				}
			})
			t.Run("upload", func(t *testing.T) {
				s := zmodemServe(t, down, up, tc.terminal, rz, "-q", "-y")
				start := time.Now()
				zmodemClient(t, s, down, sz, "-q", file)
				t.Logf("1 MiB sz -> rz in %v", time.Since(start).Round(time.Millisecond))
				// rz under sockjail may still be closing its file when the
				// client's sz ends: give it the connection's close.
				deadline := time.Now().Add(20 * time.Second)
				uploaded := filepath.Join(up, filepath.Base(file))
				for {
					if b, err := os.ReadFile(uploaded); err == nil && sha256.Sum256(b) == want {
						break
					} else if time.Now().After(deadline) {
						t.Fatalf("uploaded file: %v, %d bytes; sha256 differs or missing\n%s", err, len(b), s.stderr.String())
					}
					time.Sleep(50 * time.Millisecond)
				}
			})
		})
	}
}
