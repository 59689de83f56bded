package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A target is one way of serving a program on a TCP port: the bare program
// under systemd-socket-activate, the same under a sandbox, or sockjail's own
// listener.
type target struct {
	Name string `json:"name"`
	// What names what the target applies, for the report.
	What string `json:"what"`
	// serve is true for `sockjail serve`, which listens itself. The
	// others run under `systemd-socket-activate --accept --inetd`.
	serve bool
	// wrap returns the argv that starts prog under this target, as the
	// child systemd-socket-activate runs per connection.
	wrap func(b *bench, prog []string) []string
	// needs lists the executables the target cannot run without.
	needs []string
	// sub names the sockjail subcommand the target runs, "" for none;
	// the binary may not have been built or may lack it.
	sub string
}

// allTargets lists every target in report order; bare comes first, being
// the baseline every ratio refers to.
func allTargets() []*target {
	return []*target{
		{
			Name: "bare", What: "the program alone",
			wrap:  func(_ *bench, prog []string) []string { return prog },
			needs: []string{"systemd-socket-activate"},
		},
		{
			Name: "sockjail-run", What: "sockjail run, default policy",
			wrap: func(b *bench, prog []string) []string {
				return append([]string{b.sockjail, "run", "--"}, prog...)
			},
			needs: []string{"systemd-socket-activate"},
			sub:   "run",
		},
		{
			Name: "sockjail-serve", What: "sockjail serve, default policy (connection limits raised)",
			serve: true,
			sub:   "serve",
		},
		{
			Name: "go-forkwait", What: "a Go program that only forks, execs and waits (bench/cmd/forkwait): the floor of a Go launcher",
			wrap: func(b *bench, prog []string) []string {
				return append([]string{filepath.Join(b.bin, "forkwait")}, prog...)
			},
			needs: []string{"systemd-socket-activate"},
		},
		{
			Name: "bwrap", What: "bubblewrap: tmpfs /tmp, pid/ipc/uts namespaces",
			wrap: func(_ *bench, prog []string) []string {
				return append([]string{"bwrap", "--ro-bind", "/", "/", "--tmpfs", "/tmp",
					"--unshare-pid", "--unshare-ipc", "--unshare-uts",
					"--dev", "/dev", "--proc", "/proc", "--"}, prog...)
			},
			needs: []string{"systemd-socket-activate", "bwrap"},
		},
		{
			Name: "firejail", What: "firejail --private-tmp --seccomp",
			wrap: func(_ *bench, prog []string) []string {
				return append([]string{"firejail", "--quiet", "--private-tmp", "--seccomp"}, prog...)
			},
			needs: []string{"systemd-socket-activate", "firejail"},
		},
	}
}

// runVariant reports whether t is a variant of sockjail-run (-run-policy,
// -run-bin, -run-env), which the paired phase measures against it.
func (t *target) runVariant() bool {
	for _, prefix := range []string{"run:", "run-bin:", "run-env:"} {
		if strings.HasPrefix(t.Name, prefix) {
			return true
		}
	}
	return false
}

// runVariant is `sockjail run --policy file`, for -run-policy.
func runVariant(name, file string) *target {
	return &target{
		Name: "run:" + name, What: "sockjail run --policy " + file,
		wrap: func(b *bench, prog []string) []string {
			return append([]string{b.sockjail, "run", "--policy", file, "--"}, prog...)
		},
		needs: []string{"systemd-socket-activate"},
		sub:   "run",
	}
}

// runBinVariant is `PATH run` with the default policy, for -run-bin: the
// same workload through another sockjail binary.
func runBinVariant(name, path string) *target {
	return &target{
		Name: "run-bin:" + name, What: path + " run",
		wrap: func(_ *bench, prog []string) []string {
			return append([]string{path, "run", "--"}, prog...)
		},
		needs: []string{"systemd-socket-activate", path},
	}
}

// runEnvVariant is `env VARS... sockjail run`, for -run-env. VARS may be
// empty: the baseline with the same env(1) start.
func runEnvVariant(name string, vars []string) *target {
	var vs []string
	for _, v := range vars {
		if v != "" {
			vs = append(vs, v)
		}
	}
	return &target{
		Name: "run-env:" + name, What: "env " + strings.Join(vs, " ") + " sockjail run",
		wrap: func(b *bench, prog []string) []string {
			argv := append(append([]string{"env"}, vs...), b.sockjail, "run", "--")
			return append(argv, prog...)
		},
		needs: []string{"systemd-socket-activate", "env"},
		sub:   "run",
	}
}

// instance is one running launcher serving one program on one port.
type instance struct {
	t    *target
	port int
	cmd  *exec.Cmd
	log  string // the launcher's stderr
	argv []string
	// exited is closed once the launcher is reaped; cmd.ProcessState then
	// holds its wait4 rusage, its reaped children's included.
	exited chan struct{}
	// served counts the connections made to this instance (warm-up
	// included), failed ones too: the divisor of its rusage.
	served int
}

// freePort returns a loopback port that was free a moment ago. Another
// process may take it before the launcher binds it; start then fails with a
// clear error rather than measuring the wrong server.
func freePort() (int, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs t serving prog on a fresh port. prefix, when not empty, is put
// in front of the per-connection command (rsswrap). policy is the policy
// file for `sockjail serve`.
func (b *bench) start(t *target, prog []string, prefix []string, policy string) (*instance, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("finding a free port: %w", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var argv []string
	if t.serve {
		argv = []string{b.sockjail, "serve", "--listen", addr}
		if policy != "" {
			argv = append(argv, "--policy", policy)
		}
		argv = append(append(argv, "--"), prog...)
	} else {
		argv = append([]string{"systemd-socket-activate", "-l", addr, "--accept", "--inetd"}, prefix...)
		argv = append(argv, t.wrap(b, prog)...)
	}
	logPath := fmt.Sprintf("%s/logs/%s-%s-%d.log", b.work, t.Name, baseName(prog[0]), port)
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = nil
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Its own process group, so that stop reaches the launcher's children
	// too and nothing outlives the benchmark.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", t.Name, err)
	}
	exited := make(chan struct{})
	in := &instance{t: t, port: port, cmd: cmd, log: logPath, argv: argv, exited: exited}
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := listening(port)
		if err != nil {
			in.stop()
			return nil, err
		}
		if ok {
			return in, nil
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("%s exited before listening on %s:\n%s", t.Name, addr, tail(logPath, 10))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			in.stop()
			return nil, fmt.Errorf("%s is not listening on %s after 15s:\n%s", t.Name, addr, tail(logPath, 10))
		}
	}
}

// stop ends the launcher: SIGTERM to its process group, SIGKILL after 5 s.
func (in *instance) stop() {
	if in.cmd.Process == nil {
		return
	}
	pgid := in.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	for i := 0; i < 500; i++ {
		if syscall.Kill(-pgid, 0) != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
}

// stopForUsage stops the launcher, waits until it is reaped and returns its
// wait4 rusage: the launcher's own and that of every child it reaped, so for
// a launcher that reaps each connection's process, everything the
// connections cost, its own start and end included.
func (in *instance) stopForUsage() (*syscall.Rusage, error) {
	in.stop()
	select {
	case <-in.exited:
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("%s not reaped 10 s after SIGKILL", in.t.Name)
	}
	ru, ok := in.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return nil, fmt.Errorf("%s: no rusage from wait4", in.t.Name)
	}
	return ru, nil
}

// count records the connections of a load run on this instance.
func (in *instance) count(r loadResult) { in.served += len(r.Latencies) + r.Errors }

// listening reports whether some socket listens on 127.0.0.1:port or the
// IPv4 wildcard, from /proc/net/tcp, without connecting (a connection
// would start the program).
func listening(port int) (bool, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return false, err
	}
	defer f.Close()
	want1 := fmt.Sprintf("0100007F:%04X", port)
	want2 := fmt.Sprintf("00000000:%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// sl local_address rem_address st ...; st 0A is LISTEN.
		if len(fields) > 3 && fields[3] == "0A" && (fields[1] == want1 || fields[1] == want2) {
			return true, nil
		}
	}
	return false, sc.Err()
}

// tail returns the last n lines of the file at path, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// missing returns the first executable t needs that is not installed.
func (b *bench) missing(t *target) error {
	if t.sub != "" {
		if b.sockjailErr != nil {
			return b.sockjailErr
		}
		if err := b.subErr[t.sub]; err != nil {
			return err
		}
	}
	for _, n := range t.needs {
		if _, err := exec.LookPath(n); err != nil {
			return fmt.Errorf("%s is not installed", n)
		}
	}
	return nil
}

// procStatusKiB returns a "Name:  N kB" field of /proc/PID/status in KiB.
func procStatusKiB(pid int, field string) (int64, error) {
	return procFieldKiB(fmt.Sprintf("/proc/%d/status", pid), field)
}

// procFieldKiB returns the "Field:  N kB" line of a /proc file in KiB.
func procFieldKiB(path, field string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, errors.New(path + ": no " + field + " line")
}
