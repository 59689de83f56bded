package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/proctest"
	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/internal/unit"
)

// gateEnv must be set for TestSystemd to run (`make e2e-systemd` sets it).
const gateEnv = "SOCKJAIL_E2E_SYSTEMD"

// namedUser is the user named.toml names, namedUID its uid; the test
// creates it in the container.
const (
	namedUser = "sjhello"
	namedUID  = 4242
)

// systemd's DynamicUser= range (systemd.exec(5), "DynamicUser=").
const dynamicUIDMin, dynamicUIDMax = 61184, 65519

const (
	// quickEOF bounds the time from connect to EOF for the hello world:
	// generous for a loaded CI machine, yet far from the 5 s that the
	// `sleep 5` workaround costs.
	quickEOF = 3 * time.Second
	// plainConns and unreadConns are the connection counts of the hello
	// world checks.
	plainConns  = 20
	unreadConns = 100
)

// service is one sockjail service the test installs in the container.
type service struct {
	name    string
	accept  bool
	program []string // as installed in the container
	policy  string   // file name under /etc/sockjail; "" is hello.toml
	uid     int      // the uid the program must run as; 0 means a dynamic one
	dropIn  string   // a drop-in for the service, if not ""
	addr    string   // 127.0.0.1:PORT, filled in by the test
}

func (s *service) policyFile() string {
	if s.policy == "" {
		return "hello.toml"
	}
	return s.policy
}

// socketUnit and journalUnit name what systemctl and journalctl are asked
// about.
func (s *service) socketUnit() string { return s.name + ".socket" }
func (s *service) journalUnit() string {
	if s.accept {
		return s.name + "@*"
	}
	return s.name + ".service"
}

// tmpSize is tmp_size in testdata/hello.toml.
const tmpSize = 48 << 20

// oddArgs checks ExecStart= quoting end to end: systemd must hand the
// program exactly these arguments.
var oddArgs = []string{"two words", "100%", "%i", "$HOME", "${PATH}", `say "hi"`, `back\slash`, "it's", ";", "", "tab\there", "new\nline", "héllo"}

// TestSystemd runs the units that `sockjail unit` writes under real systemd
// 252 as PID 1 in a container, Accept=yes and Accept=no, and checks from
// the host what a caller and an operator see.
func TestSystemd(t *testing.T) {
	if os.Getenv(gateEnv) == "" {
		t.Skipf("the end-to-end test under real systemd runs with %s=1 (make e2e-systemd)", gateEnv)
	}
	testenv.RequireRoot(t)
	deb := testenv.SockjailDeb(t)
	modRoot, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	root := debianRoot(t)

	stage := t.TempDir()
	for src, dst := range map[string]string{
		filepath.Join(modRoot, "testdata/hello.sh"): "hello",
		"testdata/whoami.sh":                        "whoami",
		"testdata/args.sh":                          "args",
		"testdata/slow.sh":                          "slow",
		"testdata/hello.toml":                       "hello.toml",
		"testdata/named.toml":                       "named.toml",
	} {
		copyFile(t, src, filepath.Join(stage, dst))
	}
	// The README's walk-through installs the package that `make deb`
	// leaves in bin/.
	if err := os.Mkdir(filepath.Join(stage, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, deb, filepath.Join(stage, "bin", filepath.Base(deb)))

	c := bootContainer(t, root, stage)

	// Install as an administrator would: sockjail from its package, the
	// programs under /usr/local/bin, the policy under /etc/sockjail, and
	// the units that `sockjail unit` writes into /etc/systemd/system.
	c.mustExec(t, "dpkg", "-i", stageDir+"/bin/"+filepath.Base(deb))
	if out := c.mustExec(t, "sh", "-c", "command -v sockjail"); strings.TrimSpace(out) != "/usr/bin/sockjail" {
		t.Fatalf("after dpkg -i, sockjail is %q, want /usr/bin/sockjail", out)
	}
	for _, f := range []string{"hello", "whoami", "args", "slow"} {
		c.mustExec(t, "install", "-m", "0755", stageDir+"/"+f, "/usr/local/bin/"+f)
	}
	for _, f := range []string{"hello.toml", "named.toml"} {
		c.mustExec(t, "install", "-D", "-m", "0644", stageDir+"/"+f, "/etc/sockjail/"+f)
	}
	c.mustExec(t, "useradd", "--system", "--uid", strconv.Itoa(namedUID), "--no-create-home", "--shell", "/usr/sbin/nologin", namedUser)
	if out, err := c.exec("sockjail", "--help"); err != nil {
		t.Fatalf("the built sockjail does not run in the container (a missing shared library?): %v\n%s", err, out)
	}

	services := []*service{
		{name: "hello", accept: true, program: []string{"/usr/local/bin/hello"}},
		{name: "whoami", accept: true, program: []string{"/usr/local/bin/whoami"}},
		{name: "args", accept: true, program: append([]string{"/usr/local/bin/args"}, oddArgs...)},
		{name: "hello-serve", accept: false, program: []string{"/usr/local/bin/hello"}},
		{name: "whoami-serve", accept: false, program: []string{"/usr/local/bin/whoami"}},
		// A policy that names a user: no DynamicUser=, sockjail starts as
		// root and drops to that user.
		{name: "whoami-named", accept: true, program: []string{"/usr/local/bin/whoami"}, policy: "named.toml", uid: namedUID},
		// The per-connection template with all of the serve unit's
		// hardening added in a drop-in, as docs/systemd.md suggests.
		{name: "whoami-hardened", accept: true, program: []string{"/usr/local/bin/whoami"}, dropIn: hardeningDropIn()},
	}
	var sockets []string
	for _, s := range services {
		s.addr = testenv.FreeLoopbackAddr(t)
		accept := "--accept=no"
		if s.accept {
			accept = "--accept=yes"
		}
		argv := append([]string{"sockjail", "unit", "--name", s.name, "--listen", s.addr,
			"--policy", "/etc/sockjail/" + s.policyFile(), accept, "--dir", "/etc/systemd/system", "--"}, s.program...)
		c.mustExec(t, argv...)
		service := s.name + ".service"
		if s.accept {
			service = s.name + "@.service"
		}
		// systemd-analyze verify exits non-zero on errors; warnings about
		// our units (on stderr) count as failures too.
		out, err := c.exec("sh", "-c", `systemd-analyze verify "$1" "$2" 2>&1`, "sh",
			"/etc/systemd/system/"+s.socketUnit(), "/etc/systemd/system/"+service)
		if err != nil || strings.Contains(out, s.name) {
			t.Errorf("systemd-analyze verify %s %s: %v\n%s", s.socketUnit(), service, err, out)
		}
		if s.dropIn != "" {
			dir := "/etc/systemd/system/" + service + ".d"
			c.mustExec(t, "mkdir", "-p", dir)
			c.mustExec(t, "sh", "-c", `printf '%s' "$1" > "$2/e2e.conf"`, "sh", s.dropIn, dir)
		}
		sockets = append(sockets, s.socketUnit())
	}
	c.mustExec(t, "systemctl", "daemon-reload")
	c.mustExec(t, append([]string{"systemctl", "enable", "--now"}, sockets...)...)

	for _, s := range services {
		if strings.HasPrefix(s.name, "hello") {
			t.Run(s.name, func(t *testing.T) { testHello(t, c, s) })
		}
	}
	t.Run("textbook", func(t *testing.T) { testTextbook(t, c) })
	for _, s := range services {
		if strings.HasPrefix(s.name, "whoami") {
			t.Run(s.name, func(t *testing.T) { testWhoami(t, c, s) })
		}
	}
	t.Run("args", func(t *testing.T) { testArgs(t, c, services[2]) })
	t.Run("readme", func(t *testing.T) { testReadme(t, c, modRoot) })
	t.Run("port-scan", func(t *testing.T) { testPortScan(t, c, services[0]) })
	t.Run("socket-settings", func(t *testing.T) {
		// The policy's max_per_source made it into the socket unit.
		out := c.mustExec(t, "systemctl", "show", "-p", "MaxConnectionsPerSource", "-p", "Accept", "hello.socket")
		if !strings.Contains(out, "MaxConnectionsPerSource=16") || !strings.Contains(out, "Accept=yes") {
			t.Errorf("hello.socket's settings:\n%s", out)
		}
	})
	t.Run("session-bounds", func(t *testing.T) {
		// The policy's [limits] memory, tasks and cpu_quota (the
		// defaults) made it into the per-connection template, and systemd
		// reads them; the serve unit delegates its cgroup instead.
		out := c.mustExec(t, "systemctl", "show", "-p", "MemoryMax", "-p", "MemorySwapMax", "-p", "TasksMax", "-p", "CPUQuotaPerSecUSec", "hello@0-bounds.service")
		for _, want := range []string{"MemoryMax=536870912", "MemorySwapMax=0", "TasksMax=256", "CPUQuotaPerSecUSec=1s"} {
			if !strings.Contains(out, want) {
				t.Errorf("systemctl show hello@0-bounds.service lacks %s:\n%s", want, out)
			}
		}
		out = c.mustExec(t, "systemctl", "show", "-p", "Delegate", "hello-serve.service")
		if !strings.Contains(out, "Delegate=yes") {
			t.Errorf("systemctl show -p Delegate hello-serve.service: %s", out)
		}
	})
	t.Run("graceful-stop", func(t *testing.T) { testGracefulStop(t, c) })
	t.Run("instances-collected", func(t *testing.T) {
		// CollectMode=inactive-or-failed: no per-connection instance stays
		// loaded once its connection is over.
		var out string
		err := waitFor(15*time.Second, func() bool {
			out, _ = c.exec("systemctl", "list-units", "--all", "--no-legend", "hello@*", "whoami@*", "whoami-named@*", "whoami-hardened@*", "args@*")
			return strings.TrimSpace(out) == ""
		})
		if err != nil {
			t.Errorf("instances still loaded:\n%s", out)
		}
	})
	t.Run("purge", func(t *testing.T) { testPurge(t, c) })
}

// testHello checks the seed's hello world: Hello World then EOF quickly, no
// resets with unread input, the socket's accept count, and one journal line
// per connection.
func testHello(t *testing.T, c *container, s *service) {
	times, err := plainRun(s.addr)
	if err != nil {
		t.Fatalf("%v\n%s", err, journalTail(c, s))
	}
	p50 := times[len(times)/2]
	t.Logf("%s: connect to EOF over %d connections: p50 %v, max %v", s.name, plainConns, p50.Round(time.Microsecond), times[len(times)-1].Round(time.Microsecond))
	if max := times[len(times)-1]; max > quickEOF {
		t.Errorf("slowest connection took %v to EOF, want under %v", max, quickEOF)
	}
	if s.accept {
		helloP50 = p50
	}

	resets, wrong := unreadRun(t, s.addr)
	t.Logf("%s: %d connections with 10 bytes of unread input: %d resets, %d wrong answers", s.name, unreadConns, resets, wrong)
	if resets != 0 || wrong != 0 {
		t.Errorf("%d resets and %d wrong answers over %d connections with unread input, want 0", resets, wrong, unreadConns)
	}
	total := plainConns + unreadConns

	if s.accept {
		// systemd counts what it accepted on an Accept=yes socket.
		out := c.mustExec(t, "systemctl", "status", "--no-pager", s.socketUnit())
		m := regexp.MustCompile(`Accepted: (\d+)`).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("systemctl status %s shows no Accepted: count:\n%s", s.socketUnit(), out)
		} else if n, _ := strconv.Atoi(m[1]); n != total {
			t.Errorf("systemctl status %s: Accepted: %d, want %d", s.socketUnit(), n, total)
		}
	} else {
		out, _ := c.exec("systemctl", "show", "-p", "Type", "-p", "ActiveState", s.name+".service")
		if !strings.Contains(out, "ActiveState=active") {
			t.Errorf("%s.service is not active: %s", s.name, out)
		}
		// ExecReload= makes serve reread the policy, and it keeps serving.
		if out, err := c.exec("systemctl", "reload", s.name+".service"); err != nil {
			t.Errorf("systemctl reload %s.service: %v\n%s", s.name, err, out)
		}
		if got, _, err := talk(s.addr, nil); err != nil || string(got) != "Hello World\n" {
			t.Errorf("after systemctl reload: got %q, %v", got, err)
		}
		total++
		// serve's STATUS= line (sd_notify, refreshed every second) counts
		// the sessions it served.
		want := fmt.Sprintf("%d served", total)
		err := waitFor(10*time.Second, func() bool {
			out, _ = c.exec("systemctl", "show", "-p", "StatusText", s.name+".service")
			return strings.Contains(out, want)
		})
		if err != nil {
			t.Errorf("systemctl show -p StatusText %s.service: %q, want %q in it", s.name, strings.TrimSpace(out), want)
		} else {
			t.Logf("%s.service: %s", s.name, strings.TrimSpace(out))
		}
	}

	// One line per connection from sockjail in the journal, none on the
	// client's socket (the answers above were exact).
	var lines []string
	err = waitFor(15*time.Second, func() bool {
		lines = connectionLines(c, s)
		return len(lines) >= total
	})
	if err != nil || len(lines) != total {
		t.Errorf("journalctl -u %q holds %d per-connection lines, want %d", s.journalUnit(), len(lines), total)
	}
	if len(lines) > 0 {
		t.Logf("%s: a journal line: %s", s.name, lines[len(lines)-1])
	}
	for _, l := range lines {
		if !strings.Contains(l, " exit=0") {
			t.Errorf("journal line without exit=0: %s", l)
			break
		}
	}
}

// journalTail returns the last journal lines of s, to explain a failure.
func journalTail(c *container, s *service) string {
	out, _ := c.exec("journalctl", "--no-pager", "-n", "15", "-u", s.journalUnit(), "-u", s.socketUnit())
	return "journal of " + s.journalUnit() + ":\n" + out
}

// helloP50 is the median connect-to-EOF time of the Accept=yes hello world
// through sockjail, for the comparison with the textbook units.
var helloP50 time.Duration

// plainRun makes plainConns connections that only read, checks that each
// gets exactly Hello World and EOF, and returns the connect-to-EOF times,
// sorted.
func plainRun(addr string) ([]time.Duration, error) {
	var times []time.Duration
	for i := 0; i < plainConns; i++ {
		got, d, err := talk(addr, nil)
		if err != nil || string(got) != "Hello World\n" {
			return nil, fmt.Errorf("connection %d: got %q, %v; want \"Hello World\\n\" then EOF", i, got, err)
		}
		times = append(times, d)
	}
	slices.Sort(times)
	return times, nil
}

// unreadRun makes unreadConns connections that first send 10 bytes the
// program never reads, and counts the resets and the wrong answers.
func unreadRun(t *testing.T, addr string) (resets, wrong int) {
	for i := 0; i < unreadConns; i++ {
		got, _, err := talk(addr, []byte("0123456789"))
		switch {
		case errors.Is(err, syscall.ECONNRESET):
			resets++
		case err != nil || string(got) != "Hello World\n":
			wrong++
			t.Logf("connection %d with unread input: got %q, %v", i, got, err)
		}
	}
	return resets, wrong
}

// testTextbook serves the same hello world through the seed's textbook
// units, without sockjail: Accept=yes, StandardInput=socket,
// DynamicUser=true. They must show the resets that sockjail prevents (so
// the unread-input check above can fail), and they give the baseline for
// sockjail's cost per connection.
func testTextbook(t *testing.T, c *container) {
	addr := testenv.FreeLoopbackAddr(t)
	units := map[string]string{
		"textbook.socket":   "[Socket]\nListenStream=" + addr + "\nAccept=yes\n\n[Install]\nWantedBy=sockets.target\n",
		"textbook@.service": "[Service]\nExecStart=/usr/local/bin/hello\nStandardInput=socket\nStandardError=null\nDynamicUser=true\n",
	}
	for name, content := range units {
		c.mustExec(t, "sh", "-c", `printf '%s' "$1" > "/etc/systemd/system/$2"`, "sh", content, name)
	}
	c.mustExec(t, "systemctl", "daemon-reload")
	c.mustExec(t, "systemctl", "start", "textbook.socket")

	times, err := plainRun(addr)
	if err != nil {
		t.Fatalf("textbook units: %v", err)
	}
	p50 := times[len(times)/2]
	msg := fmt.Sprintf("textbook units without sockjail: connect to EOF p50 %v", p50.Round(time.Microsecond))
	if helloP50 > 0 {
		msg += fmt.Sprintf("; through sockjail %v, %.2fx", helloP50.Round(time.Microsecond), float64(helloP50)/float64(p50))
	}
	t.Log(msg)

	resets, wrong := unreadRun(t, addr)
	t.Logf("textbook units: %d connections with 10 bytes of unread input: %d resets, %d wrong answers", unreadConns, resets, wrong)
	if resets == 0 {
		t.Errorf("the textbook units reset no connection with unread input: the check that sockjail's units reset none proves nothing here")
	}
}

// connectionLines returns sockjail's per-connection log lines for s's
// program from the container's journal.
func connectionLines(c *container, s *service) []string {
	out, _ := c.exec("journalctl", "--no-pager", "-o", "cat", "-u", s.journalUnit())
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "msg=connection ") && strings.Contains(l, "program="+s.program[0]) {
			lines = append(lines, l)
		}
	}
	return lines
}

// testWhoami checks how the program was started: as a transient user of
// systemd's DynamicUser= range (or the policy's user), on sockjail's private /tmp, with the peer
// variables, and that the journal line names this very connection.
func testWhoami(t *testing.T, c *container, s *service) {
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	local := conn.LocalAddr().(*net.TCPAddr)
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	out, err := io.ReadAll(conn)
	conn.Close()
	if err != nil {
		t.Fatalf("reading: %v (got %q)\n%s", err, out, journalTail(c, s))
	}
	t.Logf("%s answered:\n%s", s.name, out)
	got := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			got[k] = v
		}
	}

	uid, err := strconv.Atoi(got["uid"])
	switch {
	case s.uid != 0 && (err != nil || uid != s.uid):
		t.Errorf("the program ran as uid %q, want %d", got["uid"], s.uid)
	case s.uid == 0 && (err != nil || uid < dynamicUIDMin || uid > dynamicUIDMax):
		t.Errorf("the program ran as uid %q, want a dynamic user in %d–%d", got["uid"], dynamicUIDMin, dynamicUIDMax)
	}
	// sockjail's private /tmp is a tmpfs of the policy's tmp_size (48 MiB in
	// testdata/hello.toml); systemd's PrivateTmp= (implied by DynamicUser=)
	// is a directory on the container's much larger /tmp.
	var blocks, bsize int64
	var fstype string
	if _, err := fmt.Sscanf(got["tmpfs"], "%s %d %d", &fstype, &blocks, &bsize); err != nil || fstype != "tmpfs" || blocks*bsize != tmpSize {
		t.Errorf("/tmp is not sockjail's private tmpfs of %d bytes: stat -f says %q", tmpSize, got["tmpfs"])
	}
	if got["tmpfiles"] != "0" {
		t.Errorf("the program's /tmp held %s entries at start, want 0", got["tmpfiles"])
	}
	want := fmt.Sprintf("127.0.0.1:%d", local.Port)
	if got["remote"] != want || got["tcpremote"] != want {
		t.Errorf("REMOTE_ADDR:REMOTE_PORT = %q and TCPREMOTEIP:TCPREMOTEPORT = %q, want %q", got["remote"], got["tcpremote"], want)
	}

	var line string
	waitFor(15*time.Second, func() bool {
		for _, l := range connectionLines(c, s) {
			if strings.Contains(l, "peer="+want+" ") || strings.HasSuffix(l, "peer="+want) {
				line = l
				return true
			}
		}
		return false
	})
	if line == "" {
		t.Errorf("no journal line for the connection from %s under %q", want, s.journalUnit())
	} else {
		t.Logf("journal: %s", line)
	}
}

// testArgs checks that the program got exactly oddArgs through the
// ExecStart= line that `sockjail unit` wrote.
func testArgs(t *testing.T, c *container, s *service) {
	got, _, err := talk(s.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Split(strings.TrimSuffix(string(got), "\x00"), "\x00")
	if !slices.Equal(args, oddArgs) {
		t.Errorf("the program got the arguments %q, want %q\n%s", args, oddArgs, journalTail(c, s))
	}
}

// talk connects to addr, writes send (and never reads it back), reads until
// EOF and returns what it read and the time from connect to EOF.
func talk(addr string, send []byte) ([]byte, time.Duration, error) {
	start := time.Now()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if len(send) > 0 {
		if _, err := conn.Write(send); err != nil {
			return nil, 0, err
		}
	}
	var buf bytes.Buffer
	_, err = io.Copy(&buf, conn)
	return buf.Bytes(), time.Since(start), err
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// readmeDocs holds the README's systemd walk-through, between readmeBegin
// and readmeEnd; testReadme runs its sh blocks.
var readmeDocs = []string{"README.md"}

const (
	readmeBegin = "<!-- e2e-systemd:begin"
	readmeEnd   = "<!-- e2e-systemd:end"
)

// readmePort is the port the walk-through uses; the test substitutes a free
// one, since the demo may be using it on the host.
const readmePort = "31337"

// testReadme runs the walk-through's sh blocks in the container as root,
// in order and from a build tree with bin/sockjail, and checks that the
// service then behaves as its console blocks show.
func testReadme(t *testing.T, c *container, modRoot string) {
	var doc, walk string
	for _, name := range readmeDocs {
		data, err := os.ReadFile(filepath.Join(modRoot, name))
		if err != nil {
			continue
		}
		if _, rest, ok := strings.Cut(string(data), readmeBegin); ok {
			walk, _, _ = strings.Cut(rest, readmeEnd)
			doc = name
			break
		}
	}
	if doc == "" {
		t.Fatalf("none of %v holds the walk-through between %q and %q", readmeDocs, readmeBegin, readmeEnd)
	}
	t.Logf("running the walk-through of %s", doc)
	blocks := shBlocks(walk)
	if len(blocks) < 4 {
		t.Fatalf("%s holds %d sh blocks, want the 4 steps of the walk-through", doc, len(blocks))
	}
	addr := testenv.FreeLoopbackAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	script := "set -euo pipefail\nsudo() { \"$@\"; }\ncd " + stageDir + "\n" +
		strings.ReplaceAll(strings.Join(blocks, "\n"), readmePort, port)
	if out, err := c.exec("bash", "-c", script); err != nil {
		t.Fatalf("the walk-through's commands failed: %v\n%s\nscript:\n%s", err, out, script)
	}
	s := &service{name: "helloworld", accept: true, program: []string{"/usr/local/bin/helloworld"}, addr: addr}

	// Step 5: the caller gets Hello World and EOF, typed input or not.
	for _, send := range [][]byte{nil, []byte("hi\r\n")} {
		got, d, err := talk(addr, send)
		if err != nil || string(got) != "Hello World\n" || d > quickEOF {
			t.Errorf("nc 127.0.0.1 %s (sending %q): got %q, %v after %v; want \"Hello World\\n\" then EOF\n%s", port, send, got, err, d, journalTail(c, s))
		}
	}
	// Step 6: one journal line per connection, and the socket's count.
	var lines []string
	waitFor(15*time.Second, func() bool { lines = connectionLines(c, s); return len(lines) >= 2 })
	if len(lines) != 2 {
		t.Errorf("journalctl -u 'helloworld@*' holds %d connection lines, want 2\n%s", len(lines), journalTail(c, s))
	}
	out := c.mustExec(t, "systemctl", "status", "--no-pager", "helloworld.socket")
	if !strings.Contains(out, "Accepted: 2;") {
		t.Errorf("systemctl status helloworld.socket does not count 2 accepted connections:\n%s", out)
	}
}

// shBlocks returns the contents of the ```sh fenced blocks of a Markdown
// text, in order.
func shBlocks(md string) []string {
	var blocks []string
	var cur []string
	in := false
	for _, line := range strings.Split(md, "\n") {
		switch {
		case !in && strings.TrimSpace(line) == "```sh":
			in, cur = true, nil
		case in && strings.TrimSpace(line) == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, "\n"))
		case in:
			cur = append(cur, line)
		}
	}
	return blocks
}

const (
	// scanConns and scanParallel make the port scan: more connections
	// within systemd's default trigger interval (2 s) than its default
	// burst for Accept=yes sockets (200).
	scanConns    = 600
	scanParallel = 100
)

// testPortScan floods s's socket the way a port scanner does (connect,
// close at once) and checks that the socket survives and still serves. A
// control socket with systemd's default trigger limit gets the same flood
// and must fail, which shows that the flood is strong enough to matter.
func testPortScan(t *testing.T, c *container, s *service) {
	ctl := &service{name: "scanctl", accept: true, program: s.program, addr: testenv.FreeLoopbackAddr(t)}
	c.mustExec(t, "sockjail", "unit", "--name", ctl.name, "--listen", ctl.addr, "--policy", "/etc/sockjail/hello.toml",
		"--dir", "/etc/systemd/system", "--", ctl.program[0])
	c.mustExec(t, "mkdir", "-p", "/etc/systemd/system/scanctl.socket.d")
	// systemd 252's defaults for Accept=yes, and MaxConnections=1 so that
	// systemd refuses nearly every connection at once and works through
	// the scan quickly even on a loaded machine.
	c.mustExec(t, "sh", "-c", "printf '[Socket]\\nTriggerLimitIntervalSec=2s\\nTriggerLimitBurst=200\\nMaxConnections=1\\n' > /etc/systemd/system/scanctl.socket.d/defaults.conf")
	c.mustExec(t, "systemctl", "daemon-reload")
	c.mustExec(t, "systemctl", "start", ctl.socketUnit())

	show := func(x *service) string {
		out, _ := c.exec("systemctl", "show", "-p", "ActiveState", "-p", "Result", x.socketUnit())
		return strings.Join(strings.Fields(out), " ")
	}

	start := time.Now()
	refused := scan(ctl.addr)
	t.Logf("%s: %d connect-and-close in %v, %d refused", ctl.socketUnit(), scanConns, time.Since(start).Round(time.Millisecond), refused)
	if err := waitFor(10*time.Second, func() bool { return strings.Contains(show(ctl), "Result=trigger-limit-hit") }); err != nil {
		t.Errorf("the control socket with systemd's default trigger limit survived the scan (%s): the scan is too weak to test anything", show(ctl))
	}

	start = time.Now()
	refused = scan(s.addr)
	t.Logf("%s: %d connect-and-close in %v, %d refused", s.socketUnit(), scanConns, time.Since(start).Round(time.Millisecond), refused)
	// Once systemd has taken every connection of the scan off the listen
	// queue, the default trigger limit would have been hit; the socket must
	// still be active.
	var queued int
	if err := waitFor(30*time.Second, func() bool { queued = listenQueue(t, s.addr); return queued == 0 }); err != nil {
		t.Errorf("%d connections still wait in %s's listen queue after 30 s (%s)", queued, s.socketUnit(), show(s))
	}
	if got := show(s); !strings.Contains(got, "ActiveState=active") || !strings.Contains(got, "Result=success") {
		t.Errorf("%s after the scan: %s, want it active", s.socketUnit(), got)
	} else {
		t.Logf("%s after the scan: %s", s.socketUnit(), got)
	}
	// It still serves once the scan's instances are gone.
	var got []byte
	var err error
	waitFor(20*time.Second, func() bool {
		got, _, err = talk(s.addr, nil)
		return err == nil && string(got) == "Hello World\n"
	})
	if err != nil || string(got) != "Hello World\n" {
		t.Errorf("after the scan, %s answers %q, %v; want \"Hello World\\n\"", s.socketUnit(), got, err)
	}
}

// scan connects to addr scanConns times from scanParallel goroutines and
// closes each connection at once. It returns how many connects failed.
func scan(addr string) int {
	var mu sync.Mutex
	refused := 0
	var wg sync.WaitGroup
	next := make(chan struct{})
	for i := 0; i < scanParallel; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					mu.Lock()
					refused++
					mu.Unlock()
					continue
				}
				conn.Close()
			}
		}()
	}
	for i := 0; i < scanConns; i++ {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	return refused
}

// listenQueue returns how many connections wait to be accepted on the TCP
// listening socket bound to addr (127.0.0.1:PORT), from /proc/net/tcp:
// for a listening socket, rx_queue is the accept queue's length. The
// container shares the host's network namespace.
func listenQueue(t *testing.T, addr string) int {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, ok, err := proctest.TCPListenQueue(ap)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatalf("no listening socket on %s in /proc/net/tcp", addr)
	}
	return n
}

// testGracefulStop stops a serve service while a session runs: with the
// generated KillMode=mixed, serve alone gets SIGTERM and lets the session
// finish, so the client gets the whole answer. A control with systemd's
// default KillMode=control-group, where every process gets SIGTERM at
// once, loses the answer, which shows that the setting matters.
func testGracefulStop(t *testing.T, c *container) {
	cases := []struct {
		name, killMode string
		wantDone       bool
	}{
		{"slow-serve", "", true},
		{"slowctl-serve", "control-group", false},
	}
	for _, tc := range cases {
		addr := testenv.FreeLoopbackAddr(t)
		c.mustExec(t, "sockjail", "unit", "--name", tc.name, "--listen", addr, "--accept=no",
			"--policy", "/etc/sockjail/hello.toml", "--dir", "/etc/systemd/system", "--", "/usr/local/bin/slow")
		if tc.killMode != "" {
			dir := "/etc/systemd/system/" + tc.name + ".service.d"
			c.mustExec(t, "mkdir", "-p", dir)
			c.mustExec(t, "sh", "-c", "printf '[Service]\\nKillMode=%s\\n' \"$1\" > \"$2\"/killmode.conf", "sh", tc.killMode, dir)
		}
		c.mustExec(t, "systemctl", "daemon-reload")
		c.mustExec(t, "systemctl", "start", tc.name+".socket")

		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		r := bufio.NewReader(conn)
		if line, err := r.ReadString('\n'); err != nil || line != "started\n" {
			conn.Close()
			t.Fatalf("%s: first line %q, %v; want \"started\\n\"", tc.name, line, err)
		}
		start := time.Now()
		out, err := c.exec("systemctl", "stop", tc.name+".service")
		stopped := time.Since(start)
		if err != nil {
			t.Errorf("systemctl stop %s.service: %v\n%s", tc.name, err, out)
		}
		rest, err := io.ReadAll(r)
		conn.Close()
		t.Logf("%s (KillMode=%s): stop took %v; the client then read %q (%v)", tc.name, cmp.Or(tc.killMode, "mixed"), stopped.Round(time.Millisecond), rest, err)
		if got := string(rest) == "done\n" && err == nil; got != tc.wantDone {
			t.Errorf("%s: the client read %q, %v after the stop; want the session to finish: %v", tc.name, rest, err, tc.wantDone)
		}
	}
}

// hardeningDropIn turns on, for a per-connection service, the hardening
// that the serve units carry.
func hardeningDropIn() string {
	var b strings.Builder
	b.WriteString("[Service]\n")
	for _, d := range unit.Hardening {
		b.WriteString(d + "=yes\n")
	}
	return b.String()
}

// testPurge removes the package as an administrator would (dpkg --purge)
// and checks that every file it installed is gone, and that what the
// walk-through wrote itself (the policies and the units) is left.
func testPurge(t *testing.T, c *container) {
	listed := c.mustExec(t, "dpkg", "-L", "sockjail")
	c.mustExec(t, "dpkg", "--purge", "sockjail")
	if out, err := c.exec("dpkg", "-s", "sockjail"); err == nil {
		t.Errorf("dpkg -s sockjail still finds the package after the purge:\n%s", out)
	}
	var left []string
	for _, f := range strings.Split(strings.TrimSpace(listed), "\n") {
		// Directories such as /usr/share/man/man1 are shared with other
		// packages; dpkg leaves them while they hold anything.
		if out, err := c.exec("sh", "-c", `test -e "$1" && ! test -d "$1" && echo left`, "sh", f); err == nil && strings.TrimSpace(out) == "left" {
			left = append(left, f)
		}
	}
	if len(left) > 0 {
		t.Errorf("dpkg --purge sockjail left its files: %v", left)
	}
	if out, err := c.exec("test", "-d", "/usr/share/doc/sockjail"); err == nil {
		t.Errorf("dpkg --purge sockjail left /usr/share/doc/sockjail %s", out)
	}
	for _, kept := range []string{"/etc/sockjail/helloworld.toml", "/etc/systemd/system/helloworld.socket", "/etc/systemd/system/helloworld@.service"} {
		if _, err := c.exec("test", "-f", kept); err != nil {
			t.Errorf("the purge removed %s, which the walk-through wrote and the package never owned", kept)
		}
	}
}
