package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/policy"
)

// TestStrictRefusesOldLandlock simulates kernels with older Landlock ABIs:
// a strict policy that needs a missing feature is refused with a reason
// naming it, and nothing starts.
func TestStrictRefusesOldLandlock(t *testing.T) {
	requireLandlock(t, 6)
	tests := []struct {
		name    string
		abi     int
		edit    func(p *policy.Policy)
		wantErr string // substring of one Missing entry; "" = accepted
	}{
		{"ABI 3, TCP rules", 3, func(p *policy.Policy) {
			p.Network.ConnectTCP = []policy.PortRange{{Lo: 80, Hi: 80}}
		}, "Landlock network rules need ABI 4"},
		{"ABI 3, default policy (deny all TCP)", 3, nil, "Landlock network rules need ABI 4"},
		{"ABI 5, scopes", 5, nil, "Landlock IPC scopes"},
		{"ABI 5, no scopes", 5, func(p *policy.Policy) {
			p.Network.ScopeSignals, p.Network.ScopeAbstractUnix = false, false
		}, ""},
		{"ABI 6", 6, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPolicy(t, tt.edit)
			s, err := New(p, []string{"true"}, Options{MaxLandlockABI: tt.abi})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				defer s.Close()
				if r := s.Report(); r.LandlockABI != tt.abi {
					t.Errorf("LandlockABI = %d, want %d", r.LandlockABI, tt.abi)
				}
				return
			}
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("New = %v, want a *RefusedError", err)
			}
			if !slices.ContainsFunc(re.Missing, func(m string) bool { return strings.Contains(m, tt.wantErr) }) {
				t.Errorf("Missing = %q, want one naming %q", re.Missing, tt.wantErr)
			}
			if strings.HasPrefix(err.Error(), "sockjail") {
				t.Errorf("error %q names the program: the command adds that", err)
			}
		})
	}
}

// TestBestEffortReportsSkipped runs a best-effort policy on a simulated ABI
// 3 kernel: the program runs, the report lists what was skipped, and the
// file rules of ABI 3 are still enforced.
func TestBestEffortReportsSkipped(t *testing.T) {
	testenv.RequireRoot(t)
	requireLandlock(t, 4)
	f := newFixture(t)
	p := testPolicy(t, func(p *policy.Policy) { p.Enforce = policy.EnforceBestEffort })
	s := mustNew(t, p, []string{f.probe, "open-r:" + f.secret, fmt.Sprintf("connect:%d", f.denied)}, Options{MaxLandlockABI: 3})
	r := runIn(t, s, "", nil)
	if r.report.LandlockABI != 3 || r.report.LandlockNet {
		t.Errorf("report %+v, want Landlock ABI 3 without network rules", r.report)
	}
	if !slices.ContainsFunc(r.report.Skipped, func(m string) bool { return strings.Contains(m, "network rules") }) {
		t.Errorf("Skipped = %q, want the network rules", r.report.Skipped)
	}
	want := fmt.Sprintf("open-r:%s EACCES\nconnect:%d ok\n", f.secret, f.denied)
	if r.stdout != want {
		t.Errorf("probe output %q, want %q (files still denied, TCP not)", r.stdout, want)
	}
}

func requireLandlock(t *testing.T, abi int) {
	t.Helper()
	if got := kernelLandlockABI(Options{}); got < abi {
		testenv.SkipOrFail(t, fmt.Sprintf("needs Landlock ABI %d, the kernel has %d", abi, got))
	}
}

// TestDynamicUsers starts two sessions with user = "dynamic" at once: they
// get different uids from the range, and once closed every uid is free
// again (no process left with it, its lock released).
func TestDynamicUsers(t *testing.T) {
	testenv.RequireRoot(t)
	p := testPolicy(t, func(p *policy.Policy) {
		p.Program.User = policy.UserDynamic
		p.Program.DynamicUIDs = policy.IDRange{Lo: 400100, Hi: 400101}
	})
	// Each session prints its ids and leaves a setsid'ed background
	// process, which must be gone at Close.
	s := mustNew(t, p, []string{"sh", "-c", `echo ids $(id -u) $(id -g); (setsid sleep 1000 &); read x`}, Options{})
	var procs []*Process
	var pipes []*os.File
	uids := map[string]bool{}
	for i := 0; i < 2; i++ {
		inR, inW := pipe(t)
		outR, outW := pipe(t)
		proc, err := s.Start(StartConfig{Stdin: int(inR.Fd()), Stdout: int(outW.Fd()), Stderr: 2, Env: []string{"PATH=/usr/bin:/bin"}})
		if err != nil {
			t.Fatal(err)
		}
		inR.Close()
		outW.Close()
		procs = append(procs, proc)
		pipes = append(pipes, inW)
		buf := make([]byte, 64)
		outR.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, _ := outR.Read(buf)
		fields := strings.Fields(string(buf[:n]))
		if len(fields) < 3 || fields[1] != fields[2] {
			t.Fatalf("session %d printed %q, want ids UID GID with uid = gid", i, buf[:n])
		}
		uids[fields[1]] = true
		if rep := proc.Report(); strconv.Itoa(rep.UID) != fields[1] || !rep.Dynamic {
			t.Errorf("report %+v does not match uid %s", rep, fields[1])
		}
	}
	if len(uids) != 2 || !uids["400100"] || !uids["400101"] {
		t.Fatalf("uids %v, want 400100 and 400101", uids)
	}
	// The range is exhausted now.
	if _, err := s.Start(StartConfig{Stdin: -1, Stdout: -1, Stderr: -1}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("third Start = %v, want all dynamic uids in use", err)
	}
	var wg sync.WaitGroup
	for i, proc := range procs {
		pipes[i].Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := proc.Wait(); err != nil {
				t.Error(err)
			}
			if err := proc.Close(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for uid := range uids {
		n, _ := strconv.Atoi(uid)
		if pids, _ := pidsOfUID(n); len(pids) != 0 {
			t.Errorf("uid %d still has processes %v", n, pids)
		}
		f, err := os.Open(filepath.Join(DynamicLockDir, uid+".lock"))
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			t.Errorf("uid %s is still locked: %v", uid, err)
		}
		f.Close()
	}
}
