package sandbox

import (
	"fmt"

	seccomp "github.com/seccomp/libseccomp-golang"
)

// BuildLandlockABI reports the newest Landlock ABI this build knows how to
// use: a kernel with a newer one is used at this ABI.
func BuildLandlockABI() int { return len(landlockPresets) - 1 }

// BuildLibseccomp reports the libseccomp version linked into this binary,
// which decides the syscalls the filter compiler knows by name.
func BuildLibseccomp() string {
	maj, mnr, mic := seccomp.GetLibraryVersion()
	return fmt.Sprintf("%d.%d.%d", maj, mnr, mic)
}

// KernelLandlockABI reports the running kernel's Landlock ABI (0: none).
func KernelLandlockABI() int { return kernelLandlockABI(Options{}) }
