// Package testenv holds helpers shared by sockjail's tests.
package testenv

import (
	"os"
	"testing"
)

// NoSkipEnv names the environment variable that turns skips for missing
// kernel features or tools into failures. .ci/run sets it, because the CI
// machine has every feature and a skip there would hide a broken test.
const NoSkipEnv = "SOCKJAIL_NO_SKIP"

// SkipOrFail skips the test with reason, or fails it when NoSkipEnv is set.
// Use it only for a missing kernel feature, privilege or external tool.
func SkipOrFail(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(NoSkipEnv) != "" {
		t.Fatalf("cannot run (and %s is set, so this is a failure): %s", NoSkipEnv, reason)
	}
	t.Skip(reason)
}

// RequireRoot skips or fails unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "needs root")
	}
}
