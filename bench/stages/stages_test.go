// Package stages benchmarks the stages of one sockjail connection through
// the public packages, so that the per-connection figures of `make bench`
// can be split into their parts:
//
//	go test -run '^$' -bench . -benchtime 200x ./bench/stages
//
// `sockjail run` pays every stage on every connection (its process starts
// fresh); `sockjail serve` pays policy loading and sandbox.New once and
// Start/Wait per connection. What is not covered: the Go runtime's own
// start (bench/cmd/forkwait measures it end to end), the connection's
// flush-then-close, and logging.
package stages

import (
	"os"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/policy"
	"github.com/sockjail/sockjail/sandbox"
)

// program is what the sandbox starts: a tiny system binary the default
// policy may execute.
const program = "/usr/bin/true"

func BenchmarkPolicyDefault(b *testing.B) {
	for b.Loop() {
		_ = policy.Default()
	}
}

// BenchmarkPolicyParse parses the embedded default's text, as `run
// --policy FILE` does with a file of the same size.
func BenchmarkPolicyParse(b *testing.B) {
	text := policy.DefaultTOML()
	for b.Loop() {
		if _, err := policy.Parse("default.toml", text); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSandboxNew prepares the default policy for one program: program
// lookup, credentials, the namespace checks, Landlock's ruleset, the
// seccomp filter's compilation and the C spawn template.
func BenchmarkSandboxNew(b *testing.B) {
	testenv.RequireRoot(b)
	p := policy.Default()
	for b.Loop() {
		s, err := sandbox.New(p, []string{program}, sandbox.Options{})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// BenchmarkSandboxStartWait starts the prepared program and waits for it:
// the per-connection cost in `serve` (namespaces, private /tmp, Landlock,
// seccomp, credentials, exec, exit and reaping).
func BenchmarkSandboxStartWait(b *testing.B) {
	testenv.RequireRoot(b)
	s, err := sandbox.New(policy.Default(), []string{program}, sandbox.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// Start and Wait are also timed apart: Wait includes the program's
	// run and exit and the teardown of its namespaces.
	var start, wait time.Duration
	for b.Loop() {
		t0 := time.Now()
		p, err := s.Start(sandbox.StartConfig{Stdin: -1, Stdout: -1, Stderr: -1, Env: []string{"PATH=/usr/bin:/bin"}})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		e, err := p.Wait()
		if err != nil || e.ExitCode() != 0 {
			b.Fatalf("program ended %v, %v", e, err)
		}
		wait += time.Since(t1)
		start += t1.Sub(t0)
		p.Close()
	}
	b.ReportMetric(float64(start.Microseconds())/float64(b.N), "start-µs/op")
	b.ReportMetric(float64(wait.Microseconds())/float64(b.N), "wait-µs/op")
}

// BenchmarkForkExecWait is the same program started with no confinement,
// through the os package: the floor for BenchmarkSandboxStartWait.
func BenchmarkForkExecWait(b *testing.B) {
	for b.Loop() {
		p, err := os.StartProcess(program, []string{program}, &os.ProcAttr{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}
