package main

// Session bounds through the real binary: a memory bomb under `serve` and
// under `run` (behind systemd-socket-activate) is killed as a group in its
// own cgroup and logged, while another session goes on.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/testenv"
)

// memBomb greets, then on "bomb" starts four children that each hold
// 100 MiB (tail keeps the last N bytes of its input in memory), and on
// anything else answers like line.sh.
const memBomb = `#!/bin/sh
echo ready
read line
if [ "$line" = bomb ]; then
	for i in 1 2 3 4; do head -c 104857600 /dev/zero | tail -c 104857600 >/dev/null & done
	wait
	echo survived
	exit 0
fi
echo "got $line"
`

// requireSessionCgroupsHere skips (or fails under SOCKJAIL_NO_SKIP) unless
// `sockjail probe` says it can create session cgroups on this machine.
func requireSessionCgroupsHere(t *testing.T) {
	t.Helper()
	out, _ := exec.Command(testenv.Sockjail(t), "probe").CombinedOutput()
	if !strings.Contains(string(out), "session cgroups:    yes") {
		testenv.SkipOrFail(t, "sockjail can't create session cgroups here:\n"+string(out))
	}
}

// memBombPolicy writes the bomb program and a policy whose memory is
// 64 MiB.
func memBombPolicy(t *testing.T, f *programFixture, tables map[string]string) (prog, pol string) {
	t.Helper()
	prog = filepath.Join(f.dir, "membomb.sh")
	if err := os.WriteFile(prog, []byte(memBomb), 0o755); err != nil {
		t.Fatal(err)
	}
	all := map[string]string{"limits": "memory = \"64MiB\"\ntasks = 64\ncpu_quota = \"200%\""}
	for k, v := range tables {
		all[k] = v
	}
	return prog, f.policy(t, "membomb", all)
}

// bombAndNeighbour runs the bomb in one session while a second one is
// open, and checks both ends: the bomb's output never says it survived,
// the neighbour answers.
func bombAndNeighbour(t *testing.T, addr string) {
	t.Helper()
	quiet := expectServed(t, "", addr)
	bomb := expectServed(t, "", addr)
	bomb.Write([]byte("bomb\n"))
	got, _ := readToEOF(bomb)
	bomb.Close()
	if strings.Contains(string(got), "survived") {
		t.Errorf("the bomb's children all got their 100 MiB: %q", got)
	}
	finish(t, quiet)
}

// checkBombLines checks the two sessions' log lines: the bomb killed by the
// OOM killer in a cgroup of 64 MiB, the neighbour not.
func checkBombLines(t *testing.T, logs *logLines) {
	t.Helper()
	oom := logs.wait(t, 30*time.Second, func(m map[string]any) bool { return m["msg"] == "connection" && m["killed"] == "oom" })
	if oom["cgroup"] != "v1" && oom["cgroup"] != "v2" || oom["memory_max"] != "64MiB" || oom["tasks_max"] != float64(64) || oom["cpu_quota"] != "200%" {
		t.Errorf("the bomb's log line: %v", oom)
	}
	if n, _ := oom["oom_kills"].(float64); n < 1 {
		t.Errorf("the bomb's log line counts no OOM kill: %v", oom)
	}
	quiet := logs.wait(t, 30*time.Second, func(m map[string]any) bool {
		return m["msg"] == "connection" && m["killed"] == nil && m["exit"] == float64(0)
	})
	if quiet["memory_max"] != "64MiB" {
		t.Errorf("the neighbour's log line: %v", quiet)
	}
}

func TestServeMemoryBomb(t *testing.T) {
	f := newServeFixture(t)
	requireSessionCgroupsHere(t)
	prog, pol := memBombPolicy(t, f, nil)
	s := startServe(t, []string{"--listen", "127.0.0.1:0", "--policy", pol}, prog)
	bombAndNeighbour(t, s.addr)
	checkBombLines(t, s.logs)
}

func TestRunMemoryBomb(t *testing.T) {
	f := newRunFixture(t)
	requireSessionCgroupsHere(t)
	prog, pol := memBombPolicy(t, f, runTestTables)
	s := launch(t, runLaunchers[0], pol, prog)
	bombAndNeighbour(t, s.addr)
	checkBombLines(t, s.logs)
}
