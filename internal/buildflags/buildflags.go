// Package buildflags holds the flags the sockjail binary is built with, so
// that `make build`, the tests (which drive the real binary) and the
// benchmark all build the same binary.
//
// The binary is linked statically (-extldflags=-static, with libc.a and
// libseccomp.a): a dynamically linked one spends about 0.35 ms of every
// `sockjail run` in the loader, a third of what stood between run and
// bubblewrap (docs/design.md, "Performance"). netgo keeps glibc's NSS
// resolver out of the binary, since a static glibc can only load NSS
// modules of its own exact version; hostnames in --listen resolve through
// /etc/hosts and DNS, and users through internal/users.
//
// `go build ./cmd/sockjail` without these flags still works: it gives a
// dynamically linked binary that behaves the same and starts slower.
package buildflags

// Tags and LinkerFlags are the build tags and the -ldflags of the shipped
// binary. The Makefile's GO_TAGS and GO_LDFLAGS must say the same; a test
// checks it. (`make build` adds the version to the linker flags.)
const (
	Tags        = "netgo"
	LinkerFlags = "-extldflags=-static"
)

// Release is what `go build` needs, before the package, to build sockjail
// as shipped.
var Release = []string{"-tags=" + Tags, "-ldflags=" + LinkerFlags}
