package main

// `sockjail version` (and `sockjail --version`): what to quote in a bug
// report. The facts come from internal/version and sandbox; this file
// only prints.

import (
	"fmt"
	"io"
	"os"

	"github.com/sockjail/sockjail/internal/exitcode"
	"github.com/sockjail/sockjail/internal/version"
	"github.com/sockjail/sockjail/sandbox"
)

func init() {
	register(command{
		name:    "version",
		summary: "print sockjail's version, its Go toolchain, and the Landlock and libseccomp versions it was built for",
		run:     runVersion,
	})
}

const versionDescription = `Prints the version (from the git tag or commit sockjail was built from), the
Go toolchain, the newest Landlock ABI this build can use, the libseccomp
version linked in, and the Landlock ABI of the running kernel.`

func runVersion(args []string) int {
	c := newCLI("version", []string{"sockjail version", "sockjail --version"}, versionDescription)
	operands, _, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(operands) != 0 {
		return c.usageError("version takes no arguments")
	}
	writeVersion(os.Stdout)
	return exitcode.OK
}

func writeVersion(w io.Writer) {
	v := version.Read()
	fmt.Fprintf(w, "sockjail %s\n", v.Version)
	if v.Revision != "" {
		dirty := ""
		if v.Modified {
			dirty = " (with uncommitted changes)"
		}
		fmt.Fprintf(w, "commit:      %s %s%s\n", v.Revision, v.Time, dirty)
	}
	fmt.Fprintf(w, "go:          %s\n", v.Go)
	fmt.Fprintf(w, "landlock:    ABI %d and older (this kernel: ABI %d)\n", sandbox.BuildLandlockABI(), sandbox.KernelLandlockABI())
	fmt.Fprintf(w, "libseccomp:  %s\n", sandbox.BuildLibseccomp())
}
