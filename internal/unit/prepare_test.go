package unit

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestPrepare resolves requests as `sockjail unit` gives them: relative
// paths made absolute, a bare program found in PATH, a policy naming a
// user this host lacks loaded all the same.
func TestPrepare(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("p.toml", []byte("version = 1\n[program]\nuser = \"user-of-another-host\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Prepare(Request{
		Name: "x", Listen: []string{"1"}, Sockjail: "bin/sockjail", PolicyPath: "p.toml",
		Program: []string{"sh", "-c", "true"}, Dir: "units", SystemdVersion: 200,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Program, []string{sh, "-c", "true"}) || cfg.Sockjail != filepath.Join(dir, "bin/sockjail") ||
		cfg.PolicyPath != filepath.Join(dir, "p.toml") || cfg.Dir != filepath.Join(dir, "units") {
		t.Errorf("Prepare: %+v", cfg)
	}
	if cfg.Policy.Program.User != "user-of-another-host" {
		t.Errorf("policy user %q", cfg.Policy.Program.User)
	}
	if cfg.SystemdVersion != MinSystemdVersion {
		t.Errorf("SystemdVersion = %d, want at least %d", cfg.SystemdVersion, MinSystemdVersion)
	}
	// An absolute program is kept as it is, even where it doesn't exist:
	// units are often for another machine.
	cfg, err = Prepare(Request{Program: []string{"/opt/elsewhere/prog"}, Sockjail: "/usr/bin/sockjail", SystemdVersion: 257})
	if err != nil || cfg.Program[0] != "/opt/elsewhere/prog" || cfg.PolicyPath != "" || cfg.SystemdVersion != 257 {
		t.Errorf("Prepare(absolute) = %+v, %v", cfg, err)
	}

	for _, tc := range []struct {
		name string
		r    Request
		part Part
	}{
		{"program not in PATH", Request{Program: []string{"no-such-program-sockjail"}, Sockjail: "/s"}, PartProgram},
		{"no program", Request{Sockjail: "/s"}, PartProgram},
		{"missing policy", Request{Program: []string{"/bin/true"}, Sockjail: "/s", PolicyPath: "missing.toml"}, PartPolicy},
	} {
		_, err := Prepare(tc.r)
		var pe *PrepareError
		if !errors.As(err, &pe) || pe.Part != tc.part {
			t.Errorf("%s: %v, want a PrepareError about the %s", tc.name, err, tc.part)
		}
	}
}

// TestInstall writes each file whole, mode 0644, with no temporary file
// left, and reports what it wrote before a failure.
func TestInstall(t *testing.T) {
	dir := t.TempDir()
	files := []File{{Name: "a.socket", Content: "[Socket]\n"}, {Name: "a@.service", Content: "[Service]\n"}}
	written, err := Install(dir, files)
	if err != nil || len(written) != 2 {
		t.Fatalf("Install = %v, %v", written, err)
	}
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(dir, f.Name))
		if err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: %v %v", f.Name, fi, err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, f.Name)); string(b) != f.Content {
			t.Errorf("%s holds %q", f.Name, b)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("the directory holds %d entries, want the 2 units", len(ents))
	}
	if written, err := Install(filepath.Join(dir, "missing"), files); err == nil || len(written) != 0 {
		t.Errorf("Install into a missing directory = %v, %v", written, err)
	}
}
