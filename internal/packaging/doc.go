// Package packaging holds what installs sockjail as a system tool: the
// Debian package's metadata and its build script (build-deb), and the
// tests of `make install`, `make uninstall` and the package.
//
// It has no Go code of its own: the binary, the man pages (docs/man) and
// the bash completion (docs/completion) are built elsewhere, and the files
// the package holds are exactly what the Makefile's install-files target
// installs with PREFIX=/usr. The end-to-end test under real systemd
// (internal/e2e) installs and purges the package.
package packaging
