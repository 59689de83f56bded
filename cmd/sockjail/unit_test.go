package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sockjail/sockjail/internal/exitcode"
	"github.com/sockjail/sockjail/internal/testenv"
)

// runSockjail runs the built binary with args and returns stdout, stderr
// and the exit code.
func runSockjail(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(testenv.Sockjail(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code, err := testenv.ExitStatus(cmd.Run())
	if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// TestUnitVerify writes units with the real binary for both modes and has
// systemd's own checker, systemd-analyze verify, load them. ExecStart=
// names the built binary, so verify also finds it executable.
func TestUnitVerify(t *testing.T) {
	analyze := testenv.LookTool(t, "systemd-analyze")
	pol := filepath.Join(t.TempDir(), "hello.toml")
	if err := os.WriteFile(pol, []byte("version = 1\n[serve]\nmax_per_source = 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		args    []string
		service string
	}{
		{"accept-yes", []string{"--accept=yes", "--listen", "127.0.0.1:31337"}, "hello@.service"},
		{"accept-no", []string{"--accept=no", "--listen", "[::1]:31337", "--listen", "31338"}, "hello.service"},
		{"accept-yes-default-policy", []string{"--listen", "31337"}, "hello@.service"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"unit", "--name", "hello", "--dir", dir}, tc.args...)
			if tc.name != "accept-yes-default-policy" {
				args = append(args, "--policy", pol)
			}
			args = append(args, "--", "/bin/sh", "-c", "echo 'Hello World'; echo $HOME 100%")
			stdout, stderr, code := runSockjail(t, args...)
			if code != 0 {
				t.Fatalf("sockjail %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
			}
			if stdout != "" {
				t.Errorf("with --dir, stdout should be empty, got %q", stdout)
			}
			sock, svc := filepath.Join(dir, "hello.socket"), filepath.Join(dir, tc.service)
			out, err := exec.Command(analyze, "verify", sock, svc).CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Errorf("systemd-analyze verify: %v\n%s", err, out)
			}
			for _, f := range []string{sock, svc} {
				fi, err := os.Stat(f)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o644 {
					t.Errorf("%s has mode %v, want 0644", f, fi.Mode().Perm())
				}
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 2 {
				t.Errorf("--dir holds %d entries, want the 2 units (no temporary files left)", len(entries))
			}
		})
	}
}

// TestUnitPrint checks the printed form: each file after a "# ---- NAME ----"
// line, and the same content as --dir writes.
func TestUnitPrint(t *testing.T) {
	dir := t.TempDir()
	args := []string{"unit", "--name", "hello", "--listen", "31337", "--systemd-version", "252", "--", "/usr/local/bin/hello"}
	stdout, stderr, code := runSockjail(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, stderr, code := runSockjail(t, append([]string{"unit", "--dir", dir}, args[1:]...)...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var want strings.Builder
	for _, name := range []string{"hello.socket", "hello@.service"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		// The header quotes the command, which differs by --dir and the
		// verify hint's directory; compare the units below the header.
		want.WriteString("# ---- " + name + " ----\n")
		want.Write(data)
	}
	strip := func(s string) string {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, "#   ") {
				continue
			}
			keep = append(keep, l)
		}
		return strings.Join(keep, "\n")
	}
	if strip(stdout) != strip(want.String()) {
		t.Errorf("printed units differ from the written ones:\n--- printed ---\n%s\n--- written ---\n%s", stdout, want.String())
	}
	if !strings.Contains(stdout, "#   sockjail unit --name hello --listen 31337 --systemd-version 252 -- /usr/local/bin/hello\n") {
		t.Errorf("the header does not quote the command:\n%s", stdout)
	}
}

func TestUnitHelp(t *testing.T) {
	stdout, stderr, code := runSockjail(t, "unit", "--help")
	if code != exitcode.OK || stderr != "" {
		t.Fatalf("--help: exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
	for _, want := range []string{"Usage:", "--accept=yes", "--accept=no", "-name NAME", "-listen PORT", "-policy FILE", "-dir DIR", "-sockjail PATH", "-systemd-version N", "systemctl enable --now hello.socket"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("unit --help lacks %q:\n%s", want, stdout)
		}
	}
	if top, _, _ := runSockjail(t, "--help"); !strings.Contains(top, "unit ") {
		t.Errorf("sockjail --help does not list unit:\n%s", top)
	}
}

// TestUnitErrors checks that bad input gets a clear message and a
// documented exit code, and writes nothing.
func TestUnitErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("version = 1\n[program]\nusr = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no args", nil, exitcode.Usage, "no program given"},
		{"no dash", []string{"--name", "a", "--listen", "1", "/bin/true"}, exitcode.Usage, `unexpected argument "/bin/true"`},
		{"no program", []string{"--name", "a", "--listen", "1", "--"}, exitcode.Usage, "no program given"},
		{"no name", []string{"--listen", "1", "--", "/bin/true"}, exitcode.Usage, "--name is required"},
		{"no listen", []string{"--name", "a", "--", "/bin/true"}, exitcode.Usage, "--listen is required"},
		{"bad name", []string{"--name", "a/b", "--listen", "1", "--", "/bin/true"}, exitcode.Usage, "systemd-escape"},
		{"host name", []string{"--name", "a", "--listen", "localhost:80", "--", "/bin/true"}, exitcode.Usage, "host names"},
		{"bad accept", []string{"--name", "a", "--listen", "1", "--accept=maybe", "--", "/bin/true"}, exitcode.Usage, "want yes or no"},
		{"unknown flag", []string{"--nme", "a", "--", "/bin/true"}, exitcode.Usage, "Usage:"},
		{"missing policy", []string{"--name", "a", "--listen", "1", "--policy", "/nonexistent/p.toml", "--", "/bin/true"}, exitcode.Config, "/nonexistent/p.toml"},
		{"invalid policy", []string{"--name", "a", "--listen", "1", "--policy", bad, "--", "/bin/true"}, exitcode.Config, bad + ":3:"},
		{"program not in PATH", []string{"--name", "a", "--listen", "1", "--", "no-such-program-sockjail"}, exitcode.Usage, "absolute path"},
		{"missing dir", []string{"--name", "a", "--listen", "1", "--dir", "/nonexistent/dir", "--", "/bin/true"}, exitcode.OSError, "/nonexistent/dir"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runSockjail(t, append([]string{"unit"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout should be empty on error, got %q", stdout)
			}
			if strings.Contains(stderr, "panic") {
				t.Errorf("panicked:\n%s", stderr)
			}
		})
	}
}

// TestUnitProgramPath checks that ExecStart= names the program by an
// absolute path however it was given.
func TestUnitProgramPath(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "hello")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ given, want string }{
		{"sh", sh},
		{"./hello", prog},
		{"/usr/local/bin/not-here-yet", "/usr/local/bin/not-here-yet"},
	}
	for _, tc := range cases {
		cmd := exec.Command(testenv.Sockjail(t), "unit", "--name", "x", "--listen", "1", "--", tc.given, "arg")
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", tc.given, err)
		}
		want := " -- " + tc.want + " arg\n"
		if !strings.Contains(string(out), want) {
			t.Errorf("program %q: ExecStart= lacks %q:\n%s", tc.given, want, out)
		}
	}
}

// TestUnitHelpMatchesDocs checks that docs/systemd.md describes every flag
// that `sockjail unit --help` lists, so that the two can't drift apart.
func TestUnitHelpMatchesDocs(t *testing.T) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "systemd.md"))
	if err != nil {
		t.Fatal(err)
	}
	help, _, _ := runSockjail(t, "unit", "--help")
	flags := regexp.MustCompile(`(?m)^  -([a-z][a-z-]*)`).FindAllStringSubmatch(help, -1)
	if len(flags) < 7 {
		t.Fatalf("found only %d flags in unit --help:\n%s", len(flags), help)
	}
	for _, f := range flags {
		if !bytes.Contains(doc, []byte("`--"+f[1])) {
			t.Errorf("docs/systemd.md does not describe --%s", f[1])
		}
	}
}
