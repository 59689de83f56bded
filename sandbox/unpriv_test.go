package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/policy"
)

// childEnv names the variable that makes a re-executed test binary run one
// sandbox (described by a childJob in JSON) instead of the tests. The
// unprivileged tests use it to run sockjail's code as nobody, the way
// DynamicUser=true or User= units start it.
const childEnv = "SOCKJAIL_SANDBOX_TEST_CHILD"

type childJob struct {
	Argv     []string
	NoUserNS bool
	Connect  int
	User     string
	// MaskProc, when set, names a /proc file that is covered with a bind
	// mount around the child, as container runtimes mask them.
	MaskProc string
	// ProcExplicit runs the child under a policy that writes proc = true.
	ProcExplicit bool
}

type childResult struct {
	Stdout string
	Exit   Exit
	Report Report
	Err    string
	// TmpDirGone reports whether the TmpDir directory was removed by
	// Close.
	TmpDirGone bool
}

// childMain runs a re-executed test binary's job and reports whether it
// did.
func childMain() bool {
	v := os.Getenv(childEnv)
	if v == "" {
		return false
	}
	var job childJob
	var res childResult
	defer func() { json.NewEncoder(os.Stdout).Encode(res) }()
	if err := json.Unmarshal([]byte(v), &job); err != nil {
		res.Err = err.Error()
		return true
	}
	p := policy.Default()
	if job.ProcExplicit {
		var err error
		if p, err = policy.Parse("proc.toml", []byte("[filesystem]\nproc = true\n")); err != nil {
			res.Err = err.Error()
			return true
		}
	}
	p.Program.User = job.User
	if job.Connect != 0 {
		p.Network.ConnectTCP = []policy.PortRange{{Lo: uint16(job.Connect), Hi: uint16(job.Connect)}}
	}
	s, err := New(p, job.Argv, Options{NoUserNS: job.NoUserNS})
	if err != nil {
		res.Err = err.Error()
		return true
	}
	defer s.Close()
	// A first session, so that the one under test is not the process's
	// first: state one session leaves in sockjail must not break the next.
	first, err := s.Start(StartConfig{Stdin: -1, Stdout: -1, Stderr: -1})
	if err != nil {
		res.Err = "first session: " + err.Error()
		return true
	}
	first.Wait()
	first.Close()
	outR, outW, _ := os.Pipe()
	proc, err := s.Start(StartConfig{Stdin: -1, Stdout: int(outW.Fd()), Stderr: 2, Env: []string{"PATH=/usr/bin:/bin"}})
	outW.Close()
	if err != nil {
		res.Err = err.Error()
		return true
	}
	// Read while waiting: in the fallback it is Wait that kills the
	// process group, so a leftover background process would hold the pipe
	// open until then.
	out := make(chan []byte)
	go func() { b, _ := io.ReadAll(outR); out <- b }()
	res.Exit, err = proc.Wait()
	res.Stdout = string(<-out)
	if err != nil {
		res.Err = err.Error()
	}
	res.Report = proc.Report()
	if err := proc.Close(); err != nil {
		res.Err = err.Error()
	}
	if d := res.Report.TmpDir; d != "" {
		_, err := os.Stat(d)
		res.TmpDirGone = errors.Is(err, os.ErrNotExist)
	}
	return true
}

// runAsNobody runs job in a copy of the test binary started through setpriv
// as uid/gid 65534 with no supplementary groups.
func runAsNobody(t *testing.T, job childJob) childResult {
	t.Helper()
	testenv.RequireRoot(t)
	setpriv := testenv.LookTool(t, "setpriv")
	cHelper(t, "probe") // creates helperDir
	self, err := os.Executable()
	must(t, err)
	bin := filepath.Join(helperDir, "sandbox.test")
	if _, err := os.Stat(bin); err != nil {
		b, err := os.ReadFile(self)
		must(t, err)
		must(t, os.WriteFile(bin+".tmp", b, 0o755))
		must(t, os.Rename(bin+".tmp", bin))
	}
	js, _ := json.Marshal(job)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	args := []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin}
	if job.MaskProc != "" {
		unshare := testenv.LookTool(t, "unshare")
		// Any other procfs mounted on the host (a chroot's, say
		// debootstrap's) would count as the fully visible one the
		// kernel looks for: unmount those in the new namespace.
		mask := `grep ' - proc ' /proc/self/mountinfo | cut -d' ' -f5 | grep -vx /proc | xargs -r -n1 umount -l && mount --bind /dev/null "$0" && exec "$@"`
		args = append([]string{unshare, "-m", "--propagation", "private", "/bin/sh", "-c", mask, job.MaskProc}, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = "/"
	cmd.Env = []string{childEnv + "=" + string(js), "PATH=/usr/bin:/bin"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v\nstderr: %s", cmd.Args, err, stderr.Bytes())
	}
	var res childResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("child output %q: %v\nstderr: %s", out, err, stderr.Bytes())
	}
	return res
}

// TestUnprivileged starts sockjail's code as nobody: with a user namespace
// (private /tmp as a tmpfs inside it) and, forced by NoUserNS, without one
// (a per-session TMPDIR, the rest of /tmp denied by Landlock).
func TestUnprivileged(t *testing.T) {
	f := newFixture(t)
	common := []string{
		"open-r:" + f.secret,
		"open-w:" + f.writable,
		fmt.Sprintf("connect:%d", f.allowed),
		fmt.Sprintf("connect:%d", f.denied),
		"mptcp",
		"setuid0",
		"ids",
		"kill:1",
		"ptrace:1",
		"chmod:" + f.owned,
	}
	wantCommon := map[string]string{
		"open-r:" + f.secret:                 "EACCES",
		"open-w:" + f.writable:               "EACCES",
		fmt.Sprintf("connect:%d", f.allowed): "ok",
		fmt.Sprintf("connect:%d", f.denied):  "EACCES",
		"mptcp":                              MPTCPErrnoName,
		"setuid0":                            "EPERM",
		"ids":                                "65534 65534 0",
		// In the user namespace pid 1 is sockjail's init, with the
		// same uid; without one, pid 1 is the host's init.
		"kill:1":   "EPERM",
		"ptrace:1": "EPERM",
		// The program's uid owns this file outside the policy; Landlock
		// doesn't restrict metadata, seccomp does.
		"chmod:" + f.owned: "EACCES",
	}
	tests := []struct {
		name     string
		noUserNS bool
		attempts []string
		want     map[string]string
		tmp      TmpMode
	}{
		{"userns", false, []string{"tmpfs:/tmp", "open-w:/tmp/x"},
			map[string]string{"tmpfs:/tmp": "tmpfs", "open-w:/tmp/x": "ok"}, TmpUserNS},
		{"no userns", true, []string{"tmpdir-w", "open-w:/tmp/x", "open-r:/tmp"},
			map[string]string{"tmpdir-w": "ok", "open-w:/tmp/x": "EACCES", "open-r:/tmp": "EACCES"}, TmpDir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv := append(append([]string{f.probe}, common...), tt.attempts...)
			res := runAsNobody(t, childJob{Argv: argv, NoUserNS: tt.noUserNS, Connect: f.allowed})
			if res.Err != "" {
				if tt.tmp == TmpUserNS && strings.Contains(res.Err, "uid_map") {
					testenv.SkipOrFail(t, "unprivileged user namespaces are not usable: "+res.Err)
				}
				t.Fatalf("child: %s", res.Err)
			}
			if res.Report.Tmp != tt.tmp || res.Report.PIDNS != (tt.tmp == TmpUserNS) || res.Report.LandlockABI == 0 || res.Report.SeccompRules == 0 {
				t.Errorf("report %+v, want tmp %q", res.Report, tt.tmp)
			}
			got := map[string]string{}
			for _, l := range lines(res.Stdout) {
				k, v, _ := strings.Cut(l, " ")
				got[k] = v
			}
			for _, want := range []map[string]string{wantCommon, tt.want} {
				for k, v := range want {
					if got[k] != v {
						t.Errorf("%s: got %q, want %q", k, got[k], v)
					}
				}
			}
			if res.Exit != (Exit{}) {
				t.Errorf("exit %v", res.Exit)
			}
			if tt.tmp == TmpDir && !res.TmpDirGone {
				t.Errorf("TMPDIR %s was not removed by Close", res.Report.TmpDir)
			}
		})
	}
}

// TestUnprivilegedRefusals: what needs root is refused, not faked.
func TestUnprivilegedRefusals(t *testing.T) {
	for _, user := range []string{policy.UserDynamic, "root"} {
		res := runAsNobody(t, childJob{Argv: []string{"true"}, User: user})
		if !strings.Contains(res.Err, "needs sockjail to start as root") {
			t.Errorf("user %q as nobody: err %q, want a refusal naming root", user, res.Err)
		}
	}
}

// TestUnprivilegedDaemonGone: without a PID namespace, the process group is
// killed when the program exits.
func TestUnprivilegedDaemonGone(t *testing.T) {
	res := runAsNobody(t, childJob{Argv: []string{"sh", "-c", `(sleep 1000 &); echo started`}, NoUserNS: true})
	// The child reads stdout to EOF: had the background sleep survived
	// Wait, holding the pipe, runAsNobody would hang.
	if res.Err != "" || res.Stdout != "started\n" {
		t.Errorf("child: %+v", res)
	}
}
