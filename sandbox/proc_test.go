package sandbox

import (
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/policy"
)

// procAttempts are the probe helper's attempts on /proc and /dev/shm. The
// first ones list and read, so that the fds the open attempts leave open
// don't show in /proc/self/fd.
var procAttempts = []string{
	"ls:/proc",
	"ls:/proc/self/fd",
	"readlink:/proc/self",
	"exists:/proc/sys",
	"exists:/proc/sysrq-trigger",
	"exists:/proc/kcore",
	"exists:/proc/cpuinfo",
	"statfs:/proc",
	"statfs:/dev/shm",
	"open-r:/proc/self/status",
	"open-w:/proc/self/comm",
	"open-w:/dev/shm/sem.x",
}

// procInNamespace is what a session with a PID and mount namespace sees:
// pid 1 is its init and pid 2 the probe, nothing else; no system files;
// /proc read-only and readable; /dev/shm a 16 MiB tmpfs with 1024 inodes.
var procInNamespace = map[string]string{
	"ls:/proc":                   "1,2,self,thread-self",
	"ls:/proc/self/fd":           "0,1,2,3",
	"readlink:/proc/self":        "2",
	"exists:/proc/sys":           "ENOENT",
	"exists:/proc/sysrq-trigger": "ENOENT",
	"exists:/proc/kcore":         "ENOENT",
	"exists:/proc/cpuinfo":       "ENOENT",
	"statfs:/proc":               "proc 0 0 ro",
	"statfs:/dev/shm":            "tmpfs 16777216 1024 rw",
	"open-r:/proc/self/status":   "ok",
	"open-w:/proc/self/comm":     "EROFS",
	"open-w:/dev/shm/sem.x":      "ok",
}

// procWithoutNamespace: without a mount namespace the host's /proc and
// /dev/shm stay, and Landlock denies them (stat is not mediated).
var procWithoutNamespace = map[string]string{
	"ls:/proc":                 "EACCES",
	"ls:/proc/self/fd":         "EACCES",
	"exists:/proc/sys":         "ok",
	"open-r:/proc/self/status": "EACCES",
	"open-w:/proc/self/comm":   "EACCES",
	"open-w:/dev/shm/sem.x":    "EACCES",
}

func probeLines(out string) map[string]string {
	got := map[string]string{}
	for _, l := range lines(out) {
		k, v, _ := strings.Cut(l, " ")
		got[k] = v
	}
	return got
}

func checkProbe(t *testing.T, out string, want map[string]string) {
	t.Helper()
	got := probeLines(out)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
}

// TestFreshProc: a session with namespaces gets a procfs of its own on
// /proc and a private /dev/shm, in root and user-namespace mode; without a
// user namespace it gets neither, and the report says so.
func TestFreshProc(t *testing.T) {
	f := newFixture(t)
	argv := append([]string{f.probe}, procAttempts...)
	tests := []struct {
		name     string
		run      func(t *testing.T) (string, Report)
		want     map[string]string
		proc     bool
		skipped  string
		checkPID bool
	}{
		{"root", func(t *testing.T) (string, Report) {
			testenv.RequireRoot(t)
			r := run(t, testPolicy(t, nil), Options{}, "", argv...)
			return r.stdout, r.report
		}, procInNamespace, true, "", false},
		{"userns", func(t *testing.T) (string, Report) {
			r := runAsNobody(t, childJob{Argv: argv})
			if r.Err != "" {
				t.Fatalf("child: %s", r.Err)
			}
			return r.Stdout, r.Report
		}, procInNamespace, true, "", false},
		{"no userns", func(t *testing.T) (string, Report) {
			r := runAsNobody(t, childJob{Argv: argv, NoUserNS: true})
			if r.Err != "" {
				t.Fatalf("child: %s", r.Err)
			}
			return r.Stdout, r.Report
		}, procWithoutNamespace, false, "fresh /proc (no mount and PID namespace here", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, rep := tt.run(t)
			checkProbe(t, out, tt.want)
			if rep.Proc != tt.proc || (rep.Shm == 16<<20) != tt.proc {
				t.Errorf("report proc %v shm %d, want proc %v", rep.Proc, rep.Shm, tt.proc)
			}
			if tt.skipped != "" && !strings.Contains(strings.Join(rep.Skipped, ","), tt.skipped) {
				t.Errorf("report skipped %q, want it to name %q", rep.Skipped, tt.skipped)
			}
			if tt.checkPID {
				// The residual leak of this mode: the host's pid.
				if self := probeLines(out)["readlink:/proc/self"]; self == "" || self == "2" {
					t.Errorf("readlink /proc/self = %q, want the host's pid", self)
				}
			}
		})
	}
}

// TestProcAndShmOff: proc = false and shm_size = 0 leave the host's /proc
// and /dev/shm in place, denied by Landlock like any path the policy does
// not name.
func TestProcAndShmOff(t *testing.T) {
	testenv.RequireRoot(t)
	f := newFixture(t)
	p := testPolicy(t, func(p *policy.Policy) {
		p.Filesystem.Proc = false
		p.Filesystem.ShmSize = 0
	})
	r := run(t, p, Options{}, "", f.probe, "ls:/proc/self/fd", "open-r:/proc/self/status", "open-w:/dev/shm/sem.x", "exists:/proc/sys")
	checkProbe(t, r.stdout, map[string]string{
		"ls:/proc/self/fd":         "EACCES",
		"open-r:/proc/self/status": "EACCES",
		"open-w:/dev/shm/sem.x":    "EACCES",
		"exists:/proc/sys":         "ok",
	})
	if r.report.Proc || r.report.Shm != 0 {
		t.Errorf("report proc %v shm %d, want neither", r.report.Proc, r.report.Shm)
	}
}

// TestShmBounds: the private /dev/shm has the policy's size and one inode
// per 16 KiB of it; it is full at that size (ENOSPC), not at the host's.
func TestShmBounds(t *testing.T) {
	testenv.RequireRoot(t)
	p := testPolicy(t, func(p *policy.Policy) { p.Filesystem.ShmSize = 1 << 20 })
	r := run(t, p, Options{}, "", "/bin/sh", "-c",
		// 64 inodes (the floor), the root directory among them: the 64th
		// file fails. Then fill the pages.
		`i=0; while [ $i -lt 100 ] && (: > /dev/shm/f$i) 2>/dev/null; do i=$((i+1)); done; echo files=$i;
		 rm -f /dev/shm/f*; head -c 2097152 /dev/zero > /dev/shm/big 2>/dev/null; echo size=$(stat -c %s /dev/shm/big)`)
	if got := strings.TrimSpace(r.stdout); got != "files=63\nsize=1048576" {
		t.Errorf("got %q (stderr %q), want files=63 and size=1048576", got, r.stderr)
	}
}

// TestProcRefusedByKernel: in a container whose /proc has a masked file,
// the kernel refuses a new procfs in a user namespace ("mount too
// revealing"). The default policy goes on without /proc and says so; a
// policy that writes proc = true itself is refused when strict.
func TestProcRefusedByKernel(t *testing.T) {
	testenv.RequireRoot(t)
	mask := ""
	for _, f := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sysrq-trigger"} {
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
			mask = f
			break
		}
	}
	if mask == "" {
		testenv.SkipOrFail(t, "no /proc file to mask here")
	}
	for _, tt := range []struct {
		name     string
		explicit bool
		wantErr  string
	}{
		{"default", false, ""},
		{"explicit", true, "fresh /proc: the kernel refused to mount it (operation not permitted"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := runAsNobody(t, childJob{Argv: []string{"/bin/true"}, MaskProc: mask, ProcExplicit: tt.explicit})
			if tt.wantErr != "" {
				if !strings.Contains(res.Err, tt.wantErr) || !strings.Contains(res.Err, "refusing to start") {
					t.Errorf("err %q, want a refusal naming %q", res.Err, tt.wantErr)
				}
				return
			}
			if res.Err != "" {
				t.Fatalf("child: %s", res.Err)
			}
			if res.Report.Proc || !res.Report.PIDNS || !strings.Contains(strings.Join(res.Report.Skipped, ","), "fresh /proc (the kernel refused to mount it (operation not permitted") {
				t.Errorf("report %+v, want pidns without proc, and the refusal in skipped", res.Report)
			}
		})
	}
}

// TestShmInSessionMemory: what the program writes into its /dev/shm is
// charged to the session's memory cgroup. With a 256 MiB bound, 48 MiB
// there show in the session's peak; with a 32 MiB bound the same write
// can't get past the bound (the session is OOM-killed or the write fails).
func TestShmInSessionMemory(t *testing.T) {
	requireSessionCgroups(t)
	const write = 48 << 20
	for _, tt := range []struct {
		name  string
		bound uint64
	}{{"room", 256 << 20}, {"bounded", 32 << 20}} {
		t.Run(tt.name, func(t *testing.T) {
			p := boundsPolicy(t, tt.bound, 64, 200)
			p.Filesystem.ShmSize = 64 << 20
			s := mustNew(t, p, []string{"/bin/sh", "-c", "head -c " + strconv.Itoa(write) + " /dev/zero > /dev/shm/big; stat -c %s /dev/shm/big"}, Options{})
			outR, outW := pipe(t)
			proc, err := s.Start(StartConfig{Stdin: -1, Stdout: int(outW.Fd()), Stderr: -1})
			outW.Close()
			if err != nil {
				t.Fatal(err)
			}
			out, _ := io.ReadAll(outR)
			exit, err := proc.Wait()
			if err != nil {
				t.Fatal(err)
			}
			proc.Close()
			st := proc.CgroupStats()
			t.Logf("exit %v, output %q, peak %s, OOM killed %v", exit, out, policy.Size(st.MemoryPeak), proc.OOMKilled())
			if tt.bound > write {
				if strings.TrimSpace(string(out)) != strconv.Itoa(write) || st.MemoryPeak < write {
					t.Errorf("want all %d bytes written and counted, got %q and a peak of %d", write, out, st.MemoryPeak)
				}
				return
			}
			if strings.TrimSpace(string(out)) == strconv.Itoa(write) {
				t.Errorf("all %d bytes went into /dev/shm past a bound of %d", write, tt.bound)
			}
			if st.MemoryPeak > tt.bound {
				t.Errorf("peak %d above the bound %d", st.MemoryPeak, tt.bound)
			}
		})
	}
}
