package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/proctest"
	"golang.org/x/sys/unix"
)

const (
	// cacheEnv overrides where the Debian root is cached between runs.
	cacheEnv = "SOCKJAIL_E2E_CACHE"
	// defaultCache is outside the repository so that `git clean` and fresh
	// clones keep it, and survives between CI runs on the same machine.
	defaultCache = "/var/cache/sockjail-e2e"
	// mirrorEnv overrides the Debian mirror debootstrap uses; by default it
	// is the one apt uses on this machine.
	mirrorEnv = "SOCKJAIL_E2E_MIRROR"
	// suite is the Debian release of the container: Debian 12, systemd 252.
	suite = "bookworm"
	// stageDir is where the host's staging directory appears in the
	// container (read-only).
	stageDir = "/opt/sockjail-e2e"

	bootTimeout      = 2 * time.Minute
	shutdownTimeout  = 30 * time.Second
	debootstrapLimit = 20 * time.Minute
)

// debootstrapArgs are debootstrap's arguments before the target and the
// mirror: a minimal Debian with systemd as init.
var debootstrapArgs = []string{"--variant=minbase", "--include=systemd,systemd-sysv,dbus", suite}

// containerPath is PATH for commands run in the container.
const containerPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// debianRoot returns a minimal Debian root with systemd, debootstrapping it
// into the cache on first use. Concurrent test processes serialize on a lock
// file; the root itself is never changed afterwards, since containers boot
// it with an overlay.
func debianRoot(t *testing.T) string {
	t.Helper()
	cache := os.Getenv(cacheEnv)
	if cache == "" {
		cache = defaultCache
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatalf("creating the root cache: %v", err)
	}
	lock, err := os.OpenFile(filepath.Join(cache, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("opening the root cache's lock: %v", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatalf("locking the root cache: %v", err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)

	root := filepath.Join(cache, "root")
	// debootstrap writes into root.tmp and the rename marks completion, so a
	// root that exists is complete. The stamp records how it was made, so
	// that a change to the recipe rebuilds it.
	stampFile := filepath.Join(cache, "root.stamp")
	stamp := strings.Join(debootstrapArgs, " ")
	if old, err := os.ReadFile(stampFile); err == nil && string(old) == stamp {
		if _, err := os.Stat(filepath.Join(root, "usr/lib/systemd/systemd")); err == nil {
			return root
		}
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Fatalf("no cached Debian root in %s and debootstrap is not installed (apt-get install debootstrap)", cache)
	}
	mirror, err := aptMirror()
	if err != nil {
		t.Fatalf("finding a Debian mirror for debootstrap: %v", err)
	}
	tmp := root + ".tmp"
	os.RemoveAll(tmp)
	os.RemoveAll(root)
	t.Logf("debootstrapping a %s root into %s from %s (cached for later runs)", suite, root, mirror)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), debootstrapLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "debootstrap", append(debootstrapArgs, tmp, mirror)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("debootstrap failed: %v\n%s", err, tail(out.String(), 30))
	}
	if err := os.Rename(tmp, root); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stampFile, []byte(stamp), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("debootstrap took %v", time.Since(start).Round(time.Second))
	return root
}

// aptMirror returns the URI apt uses for the main Debian archive of suite,
// from the one-line sources.list format or the deb822 .sources format.
func aptMirror() (string, error) {
	if m := os.Getenv(mirrorEnv); m != "" {
		return m, nil
	}
	files := []string{"/etc/apt/sources.list"}
	more, _ := filepath.Glob("/etc/apt/sources.list.d/*.list")
	files = append(files, more...)
	more, _ = filepath.Glob("/etc/apt/sources.list.d/*.sources")
	files = append(files, more...)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var uri string
		if strings.HasSuffix(f, ".sources") {
			uri = deb822Mirror(string(data))
		} else {
			uri = oneLineMirror(string(data))
		}
		if uri != "" {
			return uri, nil
		}
	}
	return "", fmt.Errorf("no apt source for %q (type deb) in /etc/apt/sources.list or /etc/apt/sources.list.d; set %s to a Debian mirror URI", suite, mirrorEnv)
}

func oneLineMirror(data string) string {
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") { // [arch=amd64 signed-by=...]
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) >= 2 && f[1] == suite {
			return f[0]
		}
	}
	return ""
}

func deb822Mirror(data string) string {
	for _, stanza := range strings.Split(data, "\n\n") {
		fields := map[string]string{}
		sc := bufio.NewScanner(strings.NewReader(stanza))
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "#") {
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if ok {
				fields[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
		if strings.EqualFold(fields["enabled"], "no") {
			continue
		}
		if !contains(strings.Fields(fields["types"]), "deb") || !contains(strings.Fields(fields["suites"]), suite) {
			continue
		}
		if uris := strings.Fields(fields["uris"]); len(uris) > 0 {
			return uris[0]
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// container is a booted systemd-nspawn container.
type container struct {
	nspawn  *exec.Cmd
	exited  chan struct{}
	pid1    int    // the container's PID 1 (systemd), in the host's PID namespace
	console string // file holding the boot console
}

// bootContainer boots root with systemd as PID 1, changes going to a
// throw-away overlay, and stage bound read-only at stageDir. The container
// shares the host's network namespace, so its sockets listen on the host's
// loopback. It is torn down when the test ends.
func bootContainer(t *testing.T, root, stage string) *container {
	t.Helper()
	for _, tool := range []string{"systemd-nspawn", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (apt-get install systemd-container util-linux)", tool)
		}
	}
	c := &container{exited: make(chan struct{}), console: filepath.Join(t.TempDir(), "console.log")}
	logf, err := os.Create(c.console)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	c.nspawn = exec.Command("systemd-nspawn",
		"--quiet", "-D", root, "--boot",
		// No machined on the host to register with, and no scope unit
		// either: the host need not run systemd.
		"--register=no", "--keep-unit",
		"--volatile=overlay",
		// nspawn's own seccomp allow-list (systemd 252) predates Landlock;
		// without these, every process in the container sees ABI 0 and a
		// strict policy refuses to run.
		"--system-call-filter=landlock_create_ruleset landlock_add_rule landlock_restrict_self",
		"--bind-ro="+stage+":"+stageDir,
		"--console=read-only")
	c.nspawn.Stdout, c.nspawn.Stderr = logf, logf
	start := time.Now()
	if err := c.nspawn.Start(); err != nil {
		t.Fatalf("cannot start systemd-nspawn: %v", err)
	}
	go func() { c.nspawn.Wait(); close(c.exited) }()
	t.Cleanup(func() { c.shutdown(t) })

	deadline := time.Now().Add(bootTimeout)
	for c.pid1 == 0 {
		select {
		case <-c.exited:
			t.Fatalf("this machine cannot boot a systemd container: systemd-nspawn exited (%v) during boot\n%s", c.nspawn.ProcessState, c.consoleTail())
		case <-time.After(50 * time.Millisecond):
		}
		c.pid1 = containerInit(c.nspawn.Process.Pid)
		if time.Now().After(deadline) {
			t.Fatalf("this machine cannot boot a systemd container: no PID 1 after %v\n%s", bootTimeout, c.consoleTail())
		}
	}
	// Until systemd has set up its private bus, systemctl reports
	// "offline"; after that --wait blocks until boot is over.
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var state string
	for {
		var out string
		out, err = c.execCtx(ctx, "systemctl", "is-system-running", "--wait")
		state = strings.TrimSpace(out)
		if state != "offline" && state != "" || ctx.Err() != nil {
			break
		}
		select {
		case <-c.exited:
			t.Fatalf("this machine cannot boot a systemd container: systemd-nspawn exited (%v) during boot\n%s", c.nspawn.ProcessState, c.consoleTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
	switch {
	case state == "running":
	case state == "degraded":
		failed, _ := c.exec("systemctl", "--failed", "--no-legend")
		t.Logf("the container booted degraded; failed units:\n%s", failed)
	default:
		t.Fatalf("this machine cannot boot a systemd container: is-system-running says %q (%v) after %v\n%s", state, err, time.Since(start).Round(time.Millisecond), c.consoleTail())
	}
	t.Logf("systemd booted in the container in %v (PID 1 is host pid %d)", time.Since(start).Round(time.Millisecond), c.pid1)
	return c
}

// containerInit returns the host pid of the container's PID 1 among the
// descendants of the nspawn process, or 0.
func containerInit(nspawn int) int {
	queue := []int{nspawn}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if pid != nspawn && nsPID(pid) == 1 {
			return pid
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil {
				queue = append(queue, n)
			}
		}
	}
	return 0
}

// nsPID returns pid's pid in its innermost PID namespace (the last NSpid
// field), or 0.
func nsPID(pid int) int {
	v, err := proctest.Status(pid, "NSpid")
	if err != nil {
		return 0
	}
	f := strings.Fields(v)
	if len(f) < 2 {
		return 0 // not in a nested PID namespace
	}
	n, _ := strconv.Atoi(f[len(f)-1])
	return n
}

// exec runs argv inside the container (all its namespaces) and returns its
// standard output; the error carries standard error.
func (c *container) exec(argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return c.execCtx(ctx, argv...)
}

func (c *container) execCtx(ctx context.Context, argv ...string) (string, error) {
	args := append([]string{"-t", strconv.Itoa(c.pid1), "-a", "--"}, argv...)
	cmd := exec.CommandContext(ctx, "nsenter", args...)
	cmd.Env = []string{"PATH=" + containerPath, "LANG=C.UTF-8", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "TERM=dumb"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("in the container, %s: %w\n%s", strings.Join(argv, " "), err, stderr.String())
	}
	return stdout.String(), err
}

// mustExec is exec that fails the test on error.
func (c *container) mustExec(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := c.exec(argv...)
	if err != nil {
		t.Fatalf("%v%s", err, out)
	}
	return out
}

// shutdown powers the container off (nspawn turns SIGTERM into an orderly
// shutdown of the container's systemd), and kills it when that takes too
// long.
func (c *container) shutdown(t *testing.T) {
	select {
	case <-c.exited:
		return
	default:
	}
	start := time.Now()
	c.nspawn.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		t.Logf("container shut down in %v", time.Since(start).Round(time.Millisecond))
	case <-time.After(shutdownTimeout):
		c.nspawn.Process.Kill()
		<-c.exited
		t.Logf("the container did not shut down within %v; killed it", shutdownTimeout)
	}
}

func (c *container) consoleTail() string {
	data, _ := os.ReadFile(c.console)
	return "console (last lines):\n" + tail(string(data), 25)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var errTimeout = errors.New("timed out")

// waitFor polls cond every 100 ms until it returns true or d passes.
func waitFor(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return errTimeout
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}
