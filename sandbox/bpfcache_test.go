package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/sockjail/sockjail/internal/testenv"
	"github.com/sockjail/sockjail/policy"
)

// TestBPFCache checks that the on-disk cache returns exactly what
// libseccomp compiles, is keyed by the inputs, and ignores a file that
// someone other than root could have written.
func TestBPFCache(t *testing.T) {
	testenv.RequireRoot(t)
	dir := filepath.Join(t.TempDir(), "bpf")
	old := bpfCacheDir
	bpfCacheDir = dir
	t.Cleanup(func() { bpfCacheDir = old })

	in := filterInput{action: policy.ActionErrno, errno: 1, allow: []int{0, 1, 60, 231}, clone3ENOSYS: true}
	want, err := in.compile()
	if err != nil {
		t.Fatal(err)
	}
	memCache.Delete(in.key())
	got, err := cachedFilter(in)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("first cachedFilter = %d bytes, %v; want the compiled %d bytes", len(got), err, len(want))
	}
	path := filepath.Join(dir, in.key())
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, want) {
		t.Fatalf("cache file: %v", err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("cache dir mode %v, want 0700", fi.Mode().Perm())
	}

	other := in
	other.errno = 13
	if other.key() == in.key() {
		t.Errorf("the errno is not part of the key")
	}

	// A file anyone could have written is not trusted.
	bogus := []byte("12345678")
	os.WriteFile(path, bogus, 0o666)
	os.Chmod(path, 0o666)
	if readTrusted(path) != nil {
		t.Errorf("a world-writable cache file was trusted")
	}
	memCache.Delete(in.key())
	got, err = cachedFilter(in)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("cachedFilter used the untrusted file")
	}
	// …and was replaced by the compiled program.
	if b := readTrusted(path); !bytes.Equal(b, want) {
		t.Errorf("the untrusted cache file was not replaced")
	}
}

// TestBPFCacheKeyFormat pins the key's input bytes, which key builds
// without fmt: the same key for the same filter across versions keeps
// the disk cache valid.
func TestBPFCacheKeyFormat(t *testing.T) {
	in := filterInput{action: policy.ActionErrno, errno: unix.EPERM, allow: []int{0, 1, 60, 231}, eacces: []int{90}, clone3ENOSYS: true}
	maj, mnr, mic := seccomp.GetLibraryVersion()
	want := fmt.Sprintf("sockjail-bpf 1\nlibseccomp %d.%d.%d\naction %s\nerrno %d\nclone3 %v\n", maj, mnr, mic, in.action, in.errno, in.clone3ENOSYS)
	want += "0\n1\n60\n231\neacces 90\n"
	sum := sha256.Sum256([]byte(want))
	if got := in.key(); got != hex.EncodeToString(sum[:]) {
		t.Errorf("key() = %s, want the hash of %q", got, want)
	}
}
