package packaging

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sockjail/sockjail/internal/testenv"
)

// installed lists, below PREFIX, what `make install-files` installs and
// `make uninstall` removes.
var installed = []struct {
	path string
	mode fs.FileMode
}{
	{"bin/sockjail", 0o755},
	{"share/man/man1/sockjail.1", 0o644},
	{"share/man/man5/sockjail.toml.5", 0o644},
	{"share/bash-completion/completions/sockjail", 0o644},
	{"share/doc/sockjail/examples/hello.toml", 0o644},
	{"share/doc/sockjail/examples/interactive.toml", 0o644},
	{"share/doc/sockjail/examples/outbound-tcp.toml", 0o644},
	{"share/doc/sockjail/examples/python-data.toml", 0o644},
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func run(t *testing.T, dir string, argv ...string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// files lists the regular files below dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestInstallUninstall installs into a DESTDIR beside a file that was
// there before, and uninstalls: install puts each file in place with its
// mode, and uninstall removes exactly those, leaving the other file.
func TestInstallUninstall(t *testing.T) {
	testenv.LookTool(t, "make")
	root := moduleRoot(t)
	bin := testenv.Sockjail(t)
	dest := t.TempDir()
	const prefix = "/opt/sj"
	other := filepath.Join(dest, prefix, "bin", "other")
	if err := os.MkdirAll(filepath.Dir(other), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, []byte("not sockjail's"), 0o755); err != nil {
		t.Fatal(err)
	}

	run(t, root, "make", "-s", "install-files", "DESTDIR="+dest, "PREFIX="+prefix, "BIN="+bin)
	var want []string
	for _, f := range installed {
		p := filepath.Join(dest, prefix, f.path)
		st, err := os.Stat(p)
		if err != nil {
			t.Errorf("make install did not install %s: %v", f.path, err)
			continue
		}
		if st.Mode().Perm() != f.mode {
			t.Errorf("%s has mode %v, want %v", f.path, st.Mode().Perm(), f.mode)
		}
		want = append(want, filepath.Join(prefix[1:], f.path))
	}
	want = append(want, filepath.Join(prefix[1:], "bin", "other"))
	slices.Sort(want)
	if got := files(t, dest); !slices.Equal(got, want) {
		t.Errorf("make install installed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	out := run(t, filepath.Join(dest, prefix, "bin"), "./sockjail", "--version")
	if !strings.HasPrefix(out, "sockjail ") {
		t.Errorf("the installed sockjail --version printed %q", out)
	}

	run(t, root, "make", "-s", "uninstall", "DESTDIR="+dest, "PREFIX="+prefix)
	if got := files(t, dest); !slices.Equal(got, []string{filepath.Join(prefix[1:], "bin", "other")}) {
		t.Errorf("after make uninstall, these files are left: %v (want only bin/other)", got)
	}
	if _, err := os.Stat(filepath.Join(dest, prefix, "share/doc/sockjail")); !os.IsNotExist(err) {
		t.Errorf("make uninstall left share/doc/sockjail: %v", err)
	}
}

// TestDeb builds the Debian package from the test's binary and checks it
// with lintian, then checks its metadata and contents.
func TestDeb(t *testing.T) {
	for _, tool := range []string{"make", "dpkg-deb", "lintian", "strip", "gzip"} {
		testenv.LookTool(t, tool)
	}
	root := moduleRoot(t)
	deb := testenv.SockjailDeb(t)

	// lintian: no errors and no warnings, with the overrides the package
	// ships (each one explained in lintian-overrides).
	cmd := exec.Command("lintian", "--fail-on", "error,warning", deb)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("lintian %s: %v\n%s", filepath.Base(deb), err, out)
	}

	fields := run(t, root, "dpkg-deb", "--field", deb, "Package", "Depends", "Recommends", "Section")
	for _, want := range []string{"Package: sockjail\n", "Recommends: systemd\n", "Section: admin\n"} {
		if !strings.Contains(fields, want) {
			t.Errorf("the package's control fields lack %q:\n%s", strings.TrimSpace(want), fields)
		}
	}
	if strings.Contains(fields, "Depends:") {
		t.Errorf("the package depends on something, but the binary is static:\n%s", fields)
	}

	contents := run(t, root, "dpkg-deb", "--contents", deb)
	for _, want := range []string{
		"./usr/bin/sockjail", "./usr/share/man/man1/sockjail.1.gz", "./usr/share/man/man5/sockjail.toml.5.gz",
		"./usr/share/bash-completion/completions/sockjail", "./usr/share/doc/sockjail/examples/hello.toml",
		"./usr/share/doc/sockjail/copyright", "./usr/share/doc/sockjail/changelog.gz",
		"./usr/share/doc/sockjail/README.md.gz", "./usr/share/doc/sockjail/docs/policy.md.gz",
	} {
		if !strings.Contains(contents, " "+want+"\n") {
			t.Errorf("the package lacks %s:\n%s", want, contents)
		}
	}
	if strings.Contains(contents, "./usr/local") || strings.Contains(contents, "./etc/") {
		t.Errorf("the package installs outside /usr:\n%s", contents)
	}
}
