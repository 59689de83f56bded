package sandbox

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/policy"
)

// bombSession is a started bomb helper: its first stdout line, and a way to
// let it end.
type bombSession struct {
	proc  *Process
	out   *bufio.Reader
	stdin *os.File
}

// startBomb starts the bomb helper with args in s; the test reads its
// report lines with line and ends it with finish.
func startBomb(t testing.TB, s *Sandbox) *bombSession {
	t.Helper()
	inR, inW := pipe(t)
	outR, outW := pipe(t)
	proc, err := s.Start(StartConfig{Stdin: int(inR.Fd()), Stdout: int(outW.Fd()), Stderr: 2, Env: []string{"PATH=/usr/bin:/bin"}})
	inR.Close()
	outW.Close()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { proc.Close() })
	timer := time.AfterFunc(2*time.Minute, func() { proc.KillTree() })
	t.Cleanup(func() { timer.Stop() })
	return &bombSession{proc: proc, out: bufio.NewReader(outR), stdin: inW}
}

// line returns the bomb's next report line split into fields, or nil at
// EOF.
func (b *bombSession) line(t testing.TB) []string {
	t.Helper()
	l, err := b.out.ReadString('\n')
	if err != nil && err != io.EOF {
		t.Fatalf("reading the bomb's report: %v", err)
	}
	if l == "" {
		return nil
	}
	return strings.Fields(l)
}

// finish lets the bomb end and waits for the session.
func (b *bombSession) finish(t testing.TB) Exit {
	t.Helper()
	b.stdin.Close()
	e, err := b.proc.Wait()
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return e
}

// slabBytes reads the kernel's slab total from /proc/meminfo.
func slabBytes(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		if f := strings.Fields(string(l)); len(f) >= 2 && f[0] == "Slab:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no Slab: line in /proc/meminfo")
	return 0
}

// tmpInodeCostBound is what docs/policy.md promises a full /tmp at the
// default tmp_inodes costs the kernel at most: about 16 MiB.
const tmpInodeCostBound = 16 << 20

// TestTmpInodesStopAFileBomb creates a million files in the private /tmp:
// the tmpfs's inode cap stops it with ENOSPC at tmp_inodes (its root
// directory is one of them), and the kernel's slab grows by no more than
// the documented bound. The slab is the whole machine's, so other tests
// running at the same time add noise: the test allows 16 MiB of it, far
// below the gigabyte a million files cost without the cap.
func TestTmpInodesStopAFileBomb(t *testing.T) {
	testenv.RequireRoot(t)
	tests := []struct {
		name   string
		inodes uint64 // 0: the default
	}{
		{"default", 0},
		{"1000", 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPolicy(t, func(p *policy.Policy) {
				if tt.inodes != 0 {
					p.Filesystem.TmpInodes = tt.inodes
				}
			})
			want := p.Filesystem.TmpInodes - 1
			s := mustNew(t, p, []string{cHelper(t, "bomb"), "files", "1000000"}, Options{})
			before := slabBytes(t)
			b := startBomb(t, s)
			got := b.line(t)
			grown := slabBytes(t) - before
			b.finish(t)
			if len(got) != 3 || got[0] != "files" || got[1] != fmt.Sprint(want) || got[2] != "ENOSPC" {
				t.Fatalf("the bomb reported %q, want files %d ENOSPC", got, want)
			}
			t.Logf("%s files, slab grew by %.1f MiB", got[1], float64(grown)/(1<<20))
			if grown > tmpInodeCostBound+16<<20 {
				t.Errorf("the slab grew by %.1f MiB while /tmp was full, more than the documented %d MiB (plus 16 MiB for other tests' noise)", float64(grown)/(1<<20), tmpInodeCostBound>>20)
			}
		})
	}
}
