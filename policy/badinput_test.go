package policy

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestBadInput feeds Load files that are not policies. Each must give a
// clear error naming the file, never a panic and never a policy.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	loop := filepath.Join(dir, "loop.toml")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("# padding padding padding padding padding padding\n"), 10<<20/50)
	tests := []struct {
		name  string
		path  string
		want  string // the full error text
		errno syscall.Errno
	}{
		{"binary", write("bin.toml", []byte("\x7fELF\x02\x01\x01\x00\x00")), "bin.toml:1:8: not a text file: a NUL byte here; a policy is UTF-8 TOML", 0},
		{"latin1", write("latin1.toml", []byte("[program]\nuser = \"j\xf6rg\"\n")), "latin1.toml:2:10: not a text file: a byte that is not UTF-8 here; a policy is UTF-8 TOML", 0},
		{"10 MiB", write("big.toml", big), "big.toml: policy file is larger than 1048576 bytes: is this the right file?", 0},
		{"duplicate key", write("dup.toml", []byte("[connection]\nnodelay = true\nnodelay = false\n")), "dup.toml:3:1: key nodelay is already defined", 0},
		{"wrong type", write("type.toml", []byte("[filesystem]\nprivate_tmp = \"yes\"\n")), `type.toml:2:15: expected true or false, got the string "yes"`, 0},
		{"symlink loop", loop, "loop.toml: can't read policy: open: too many levels of symbolic links", syscall.ELOOP},
		{"missing", filepath.Join(dir, "missing.toml"), "missing.toml: can't read policy: open: no such file or directory", syscall.ENOENT},
		{"directory", dir, ": can't read policy: read: is a directory", syscall.EISDIR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Load(tt.path)
			if err == nil || p != nil {
				t.Fatalf("Load = %v, %v; want an error", p, err)
			}
			got := strings.TrimPrefix(err.Error(), dir+"/")
			if tt.name == "directory" {
				got = strings.TrimPrefix(err.Error(), dir)
			}
			if got != tt.want {
				t.Errorf("error:\n%s\nwant:\n%s", got, tt.want)
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) != 1 || list[0].File != tt.path {
				t.Errorf("error %#v does not name the file", err)
			}
			if tt.errno != 0 {
				var pe *fs.PathError
				if !errors.Is(err, tt.errno) || !errors.As(err, &pe) {
					t.Errorf("error does not wrap %v in a *fs.PathError", tt.errno)
				}
			}
		})
	}
}

// TestEmptyAndBOM checks inputs that are valid: an empty file (or only
// comments) is the default policy, and a byte order mark is ignored.
func TestEmptyAndBOM(t *testing.T) {
	for _, in := range []string{"", "\n\n", "# nothing set\n", utf8BOM, utf8BOM + "version = 1\n"} {
		p, err := Parse("e.toml", []byte(in))
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if !p.Equal(Default()) || p.Source != "e.toml" {
			t.Errorf("%q: not the default policy", in)
		}
	}
	_, err := Parse("e.toml", []byte(utf8BOM+"verzion = 1\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "e.toml:1:4: unknown key") {
		t.Errorf("column after a BOM: %v", err)
	}
}

// TestLoadReadsFile checks the normal path through Load.
func TestLoadReadsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "svc.toml")
	if err := os.WriteFile(path, []byte("[network]\nconnect_tcp = [5432]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Source != path || len(p.Network.ConnectTCP) != 1 || !p.Network.ConnectTCP[0].Contains(5432) {
		t.Errorf("Load = %+v", p)
	}
}
