// Package stages benchmarks the stages of a connection that no package of
// their own measures yet, through the public APIs:
//
//	go test -run '^$' -bench . ./bench/stages
//
// Today that is the policy's: `sockjail run` loads its policy on every
// connection (the embedded default, or a file), `serve` once per reload.
// The sandbox's stages (sandbox.New with its seccomp and Landlock parts,
// Start and Wait against a bare fork and exec) are in package sandbox:
// go test -run '^$' -bench . ./sandbox. Not covered anywhere in Go: the Go
// runtime's own start, which `make bench` measures end to end
// (go-forkwait).
package stages

import (
	"testing"

	"github.com/sockjail/sockjail/policy"
)

// BenchmarkPolicyDefault returns the embedded default, parsed once per
// process and cloned per call.
func BenchmarkPolicyDefault(b *testing.B) {
	for b.Loop() {
		_ = policy.Default()
	}
}

// BenchmarkPolicyParse parses the embedded default's text, as `run
// --policy FILE` does with a file of the same size on every connection.
func BenchmarkPolicyParse(b *testing.B) {
	text := policy.DefaultTOML()
	for b.Loop() {
		if _, err := policy.Parse("default.toml", text); err != nil {
			b.Fatal(err)
		}
	}
}
