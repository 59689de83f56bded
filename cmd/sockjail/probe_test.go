package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sockjail/sockjail/internal/exitcode"
	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/sandbox"
)

// TestProbe runs the real binary's probe: on this machine type the default
// policy is enforceable; with the Landlock ABI forced down to 3 it is
// refused (exit 69) with the network rules named; a bad policy file gives
// exit 78.
func TestProbe(t *testing.T) {
	bin := testenv.Sockjail(t)
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("version = 1\nnope = 2\n"), 0o644)
	tests := []struct {
		name     string
		args     []string
		env      []string
		code     int
		refused  string
		wantText string
	}{
		{"default", []string{"--json"}, nil, exitcode.OK, "", ""},
		{"ABI 3", []string{"--json"}, []string{sandbox.EnvMaxLandlockABI + "=3"}, exitcode.Refused, "Landlock network rules need ABI 4", ""},
		{"bad policy", []string{"--json", "--policy", bad}, nil, exitcode.Config, "", ""},
		{"text", nil, nil, exitcode.OK, "", "OK: programs would start"},
		{"text refused", nil, []string{sandbox.EnvMaxLandlockABI + "=3"}, exitcode.Refused, "", "REFUSED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"probe"}, tt.args...)...)
			cmd.Env = append(os.Environ(), tt.env...)
			out, err := cmd.Output()
			code, err := testenv.ExitStatus(err)
			if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s", code, tt.code, out)
			}
			if tt.wantText != "" {
				if !strings.Contains(string(out), tt.wantText) {
					t.Errorf("output lacks %q:\n%s", tt.wantText, out)
				}
				return
			}
			var o probeOutput
			if err := json.Unmarshal(out, &o); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !o.Machine.Seccomp || !o.Machine.Pidfd || o.Machine.KernelLandlockABI == 0 {
				t.Errorf("machine %+v lacks seccomp, pidfd or Landlock", o.Machine)
			}
			if tt.code == exitcode.Config {
				if o.Error == "" {
					t.Errorf("no error for a bad policy")
				}
				return
			}
			if tt.refused != "" && !slices.ContainsFunc(o.Plan.Refused, func(s string) bool { return strings.Contains(s, tt.refused) }) {
				t.Errorf("refused %q, want one naming %q", o.Plan.Refused, tt.refused)
			}
			if tt.refused == "" && (len(o.Plan.Refused) != 0 || o.Plan.Report.LandlockABI == 0 || o.Plan.Report.SeccompRules == 0) {
				t.Errorf("plan %+v", o.Plan)
			}
		})
	}
}
