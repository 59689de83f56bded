package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// DynamicJournalDir holds, for each dynamic uid whose sessions could write
// files, the writable paths ([filesystem] read_write) of those sessions:
// written before the program runs, removed once every file the uid owns
// there has been handed to root. It is on disk, not under /run, so that a
// session's files survive a crash and a reboot only together with the
// record that says where to look for them.
const DynamicJournalDir = "/var/lib/sockjail/dynamic"

// maxSweepDepth bounds how deep the sweep descends. A deeper tree fails the
// sweep, which keeps the uid out of use (fail-closed) until a sweep
// succeeds; it also bounds the descriptors the sweep holds open.
const maxSweepDepth = 256

// sweepRetries bounds how often a sweep walks a tree again when one of the
// uid's directories vanished while it walked (renamed by another session).
const sweepRetries = 3

// A dynamic uid must carry nothing from one caller to the next. The
// program runs in a private /tmp, IPC and PID namespace that go with the
// session; what outlives it is only what it wrote where the policy lets it
// write. So a session's writable paths are recorded before its program
// starts (claimDynamicFiles), and when it ends, every file and directory
// there that the uid or its gid owns is given to root:root
// (sweepDynamicFiles): kept for the operator, out of reach of any later
// session with the same uid. A chown also clears set-ID bits. A sweep that
// cannot finish (a crash, an error) leaves the record behind, and the next
// session that takes the uid sweeps first, or takes another uid.

// writableRoots are the paths where a session of s can create files that
// outlive it: [filesystem] read_write. The private /tmp goes with the
// session, and Landlock grants nothing else that can create files.
func (s *Sandbox) writableRoots() []string {
	var roots []string
	for _, p := range s.policy.Filesystem.ReadWrite {
		roots = append(roots, p.Name)
	}
	return roots
}

// journalPath is the record of uid.
func journalPath(uid uint32) string {
	return filepath.Join(DynamicJournalDir, strconv.FormatUint(uint64(uid), 10))
}

// readJournal returns the paths recorded for uid; none when there is no
// record.
func readJournal(uid uint32) ([]string, error) {
	b, err := os.ReadFile(journalPath(uid))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the record of dynamic uid %d: %w", uid, err)
	}
	var paths []string
	for _, p := range bytes.Split(b, []byte{0}) {
		if len(p) > 0 {
			paths = append(paths, string(p))
		}
	}
	return paths, nil
}

// writeJournal records paths for uid, replacing the record whole (a
// rename), so that a crash leaves the old record or the new one.
func writeJournal(uid uint32, paths []string) error {
	if err := os.MkdirAll(DynamicJournalDir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", DynamicJournalDir, err)
	}
	var b []byte
	for _, p := range paths {
		b = append(append(b, p...), 0)
	}
	final := journalPath(uid)
	tmp := final + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("recording the writable paths of dynamic uid %d: %w", uid, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("recording the writable paths of dynamic uid %d: %w", uid, err)
	}
	return nil
}

func removeJournal(uid uint32) error {
	if err := os.Remove(journalPath(uid)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the record of dynamic uid %d: %w", uid, err)
	}
	return nil
}

// claimDynamicFiles makes uid fit to hand to a new session that may write
// roots: files that an earlier session left behind without a finished sweep
// are swept first (after killing anything still running as uid), then roots
// are recorded. The caller holds uid's lock.
func claimDynamicFiles(uid uint32, roots []string) error {
	left, err := readJournal(uid)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		if err := killUID(int(uid)); err != nil {
			return err
		}
		if err := sweepDynamicFiles(uid, left); err != nil {
			return err
		}
	}
	if len(roots) > 0 {
		return writeJournal(uid, roots)
	}
	if len(left) > 0 {
		return removeJournal(uid)
	}
	return nil
}

// releaseDynamicFiles sweeps the paths recorded for uid and removes the
// record. No process of uid may be left. On error the record stays, and
// the uid is swept again before its next use.
func releaseDynamicFiles(uid uint32) error {
	paths, err := readJournal(uid)
	if err != nil || len(paths) == 0 {
		return err
	}
	if err := sweepDynamicFiles(uid, paths); err != nil {
		return err
	}
	return removeJournal(uid)
}

// sweepDynamicFiles gives every file, directory, symlink, socket and fifo
// under roots that uid (or its equal gid) owns to root:root. It never
// follows a symlink below a root, so a tree that sessions write cannot lead
// it elsewhere, and it touches nothing that uid does not own. A root that no
// longer exists is skipped.
func sweepDynamicFiles(uid uint32, roots []string) error {
	var errs []error
	for _, root := range roots {
		if !filepath.IsAbs(root) {
			continue
		}
		// Other live sessions may rename directories while the walk
		// goes on, and so move the uid's files from where the walk has
		// not been to where it has been. The walk is over when one
		// pass finds nothing of the uid and nothing that vanished.
		var err error
		for try := 0; ; try++ {
			var changed bool
			changed, err = sweepRoot(uid, root)
			if err != nil || !changed {
				break
			}
			if try == sweepRetries {
				err = fmt.Errorf("sweeping %s for dynamic uid %d: its files kept moving while it was swept", root, uid)
				break
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sweepRoot sweeps one root (which may be a file). changed reports that it
// gave something to root, or that a directory disappeared between listing
// and opening it: then another pass must make sure that nothing is left.
func sweepRoot(uid uint32, root string) (changed bool, err error) {
	// The root is the operator's path, followed as the Landlock rule
	// followed it when the sandbox was planned.
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sweeping %s for dynamic uid %d: %w", root, uid, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return false, fmt.Errorf("sweeping %s for dynamic uid %d: %w", root, uid, err)
	}
	if owned(&st, uid) {
		changed = true
		newUID, newGID := -1, -1
		if st.Uid == uid {
			newUID = 0
		}
		if st.Gid == uid {
			newGID = 0
		}
		if err := unix.Fchown(fd, newUID, newGID); err != nil {
			unix.Close(fd)
			return false, fmt.Errorf("sweeping %s for dynamic uid %d: chown: %w", root, uid, err)
		}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		unix.Close(fd)
		return changed, nil
	}
	s := sweeper{uid: uid, changed: changed}
	err = s.dir(fd, root, 0)
	return s.changed, err
}

type sweeper struct {
	uid     uint32
	changed bool
}

func owned(st *unix.Stat_t, uid uint32) bool { return st.Uid == uid || st.Gid == uid }

// dir sweeps the entries of the open directory fd (named name in errors)
// and closes it.
func (s *sweeper) dir(fd int, name string, depth int) error {
	d := os.NewFile(uintptr(fd), name)
	defer d.Close()
	if depth > maxSweepDepth {
		return fmt.Errorf("sweeping for dynamic uid %d: %s is more than %d directories deep", s.uid, name, maxSweepDepth)
	}
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("sweeping for dynamic uid %d: %w", s.uid, err)
	}
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // removed since the listing: nothing left to own
			}
			return fmt.Errorf("sweeping %s/%s for dynamic uid %d: %w", name, n, s.uid, err)
		}
		if owned(&st, s.uid) {
			s.changed = true
			newUID, newGID := -1, -1
			if st.Uid == s.uid {
				newUID = 0
			}
			if st.Gid == s.uid {
				newGID = 0
			}
			if err := unix.Fchownat(fd, n, newUID, newGID, unix.AT_SYMLINK_NOFOLLOW); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("sweeping %s/%s for dynamic uid %d: chown: %w", name, n, s.uid, err)
			}
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		child, err := unix.Openat(fd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
				// Renamed or replaced since the listing: it, or
				// the uid's files in it, may now sit where the walk
				// has been.
				s.changed = true
				continue
			}
			return fmt.Errorf("sweeping %s/%s for dynamic uid %d: %w", name, n, s.uid, err)
		}
		if err := s.dir(child, name+"/"+n, depth+1); err != nil {
			return err
		}
	}
	return nil
}
