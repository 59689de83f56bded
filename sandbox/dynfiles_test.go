package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sockjail/sockjail/internal/testenv"
)

// TestSweepDynamicFiles: the sweep gives root whatever the uid (or its
// gid) owns under a root, files, directories and symlinks alike, follows no
// symlink (the target outside keeps its owner), leaves others' files alone,
// skips a root that is gone, and fails (so that the uid stays out of use)
// on a tree deeper than it descends.
func TestSweepDynamicFiles(t *testing.T) {
	testenv.RequireRoot(t)
	const uid, other = 4242440, 4242441
	type entry struct {
		path     string // relative to the tree; a trailing "/" makes a directory
		link     string // a symlink to this target
		uid, gid int
		wantRoot bool // owned by 0:0 afterwards
		wantGID0 bool // only the group becomes 0
	}
	tests := []struct {
		name    string
		entries []entry
		roots   func(dir string) []string
		wantErr string
	}{
		{name: "tree", entries: []entry{
			{path: "a/", uid: uid, gid: uid, wantRoot: true},
			{path: "a/secret", uid: uid, gid: uid, wantRoot: true},
			{path: "a/b/", uid: uid, gid: uid, wantRoot: true},
			{path: "a/b/c", uid: uid, gid: uid, wantRoot: true},
			{path: "others", uid: other, gid: other},
			{path: "group-only", uid: other, gid: uid, wantGID0: true},
			{path: "d/", uid: other, gid: other},
			{path: "d/mine", uid: uid, gid: uid, wantRoot: true},
		}},
		{name: "symlink-not-followed", entries: []entry{
			{path: "outside/", uid: other, gid: other},
			{path: "outside/target", uid: uid, gid: uid},
			{path: "root/", uid: 0, gid: 0},
			{path: "root/link", link: "../outside/target", uid: uid, gid: uid, wantRoot: true},
			{path: "root/dirlink", link: "../outside", uid: uid, gid: uid, wantRoot: true},
		}, roots: func(dir string) []string { return []string{filepath.Join(dir, "root")} }},
		{name: "file-root-and-missing-root", entries: []entry{
			{path: "f", uid: uid, gid: uid, wantRoot: true},
		}, roots: func(dir string) []string { return []string{filepath.Join(dir, "f"), filepath.Join(dir, "gone")} }},
		{name: "too-deep", entries: []entry{
			{path: strings.Repeat("d/", maxSweepDepth+2), uid: uid, gid: uid, wantRoot: true},
		}, wantErr: "directories deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, e := range tt.entries {
				p := filepath.Join(dir, e.path)
				switch {
				case e.link != "":
					must(t, os.Symlink(e.link, p))
				case strings.HasSuffix(e.path, "/"):
					must(t, os.MkdirAll(p, 0o700))
				default:
					must(t, os.WriteFile(p, []byte("data"), 0o600))
				}
				must(t, os.Lchown(p, e.uid, e.gid))
			}
			roots := []string{dir}
			if tt.roots != nil {
				roots = tt.roots(dir)
			}
			err := sweepDynamicFiles(uid, roots)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("sweep: %v, want an error about %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range tt.entries {
				fi, err := os.Lstat(filepath.Join(dir, e.path))
				must(t, err)
				st := fi.Sys().(*syscall.Stat_t)
				wantUID, wantGID := e.uid, e.gid
				if e.wantRoot {
					wantUID, wantGID = 0, 0
				} else if e.wantGID0 {
					wantGID = 0
				}
				if int(st.Uid) != wantUID || int(st.Gid) != wantGID {
					t.Errorf("%s: owned by %d:%d, want %d:%d", e.path, st.Uid, st.Gid, wantUID, wantGID)
				}
			}
		})
	}
}
