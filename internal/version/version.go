// Package version says which sockjail this is: the version the Go toolchain
// stamped into the binary from the git checkout it was built in (a tag, or a
// pseudo-version naming the commit, "+dirty" when the tree had changes).
//
// It does not cover builds from a tree without git metadata: those report
// "(devel)" unless the build sets Override with
// -ldflags "-X github.com/sockjail/sockjail/internal/version.Override=1.2.3".
package version

import (
	"runtime"
	"runtime/debug"
)

// Override, when set at link time, is reported instead of the module version.
var Override string

// Info is what `sockjail version` reports about the build.
type Info struct {
	Version  string // module version, e.g. v0.0.0-20261204152342-c5e6660abcde+dirty
	Revision string // the git commit, when the toolchain recorded it
	Time     string // the commit's time, RFC 3339
	Modified bool   // the tree had uncommitted changes
	Go       string // the Go toolchain that built the binary
}

// Read returns the build's Info.
func Read() Info {
	info := Info{Version: "(devel)", Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" {
			info.Version = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.time":
				info.Time = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if Override != "" {
		info.Version = Override
	}
	return info
}
