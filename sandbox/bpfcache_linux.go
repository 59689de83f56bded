package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// BPFCacheDir holds compiled seccomp programs by the hash of their inputs
// (filterInput.key), so that `sockjail run`, which prepares a Sandbox per
// connection, does not pay libseccomp's compilation (about 1 ms for the
// default policy) every time. Only root uses it: the directory and files
// must be root's and not writable by anyone else, since a planted program
// would loosen the filter. Unprivileged sockjail compiles every time.
const BPFCacheDir = "/run/sockjail/bpf"

// bpfCacheDir is BPFCacheDir; tests point it elsewhere, or set it to ""
// for no disk cache.
var bpfCacheDir = BPFCacheDir

// maxBPFBytes is the kernel's limit, BPF_MAXINSNS instructions.
const maxBPFBytes = 4096 * 8

var memCache sync.Map // key → []byte

// cachedFilter returns in compiled, from memory, from BPFCacheDir, or from
// libseccomp (then stored in both).
func cachedFilter(in filterInput) ([]byte, error) {
	key := in.key()
	if b, ok := memCache.Load(key); ok {
		return b.([]byte), nil
	}
	useDisk := os.Geteuid() == 0 && bpfCacheDir != "" && trustedDir(bpfCacheDir)
	if useDisk {
		if b := readTrusted(filepath.Join(bpfCacheDir, key)); b != nil {
			memCache.Store(key, b)
			return b, nil
		}
	}
	b, err := in.compile()
	if err != nil {
		return nil, err
	}
	memCache.Store(key, b)
	if useDisk {
		writeCache(key, b) // best effort: a failure only costs the next run a compile
	}
	return b, nil
}

// trustedDir creates dir (mode 0700) if needed and reports whether it is a
// directory owned by root that nobody else can write.
func trustedDir(dir string) bool {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false
	}
	var st unix.Stat_t
	if unix.Lstat(dir, &st) != nil {
		return false
	}
	return st.Mode&unix.S_IFMT == unix.S_IFDIR && st.Uid == 0 && st.Mode&0o022 == 0
}

// readTrusted returns the content of a regular root-owned file that only
// root can write and whose size is a BPF program's, or nil.
func readTrusted(path string) []byte {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Uid != 0 || st.Mode&0o022 != 0 {
		return nil
	}
	if st.Size <= 0 || st.Size%8 != 0 || st.Size > maxBPFBytes {
		return nil
	}
	// One read of one byte more than the size: a file that changed
	// since the fstat is not a whole program, whatever it holds.
	buf := make([]byte, st.Size+1)
	n, err := unix.Read(fd, buf)
	if err != nil || int64(n) != st.Size {
		return nil
	}
	return buf[:n]
}

func writeCache(key string, b []byte) error {
	tmp, err := os.CreateTemp(bpfCacheDir, key+".tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(bpfCacheDir, key)); err != nil {
		return fmt.Errorf("caching the seccomp filter: %w", err)
	}
	return nil
}
