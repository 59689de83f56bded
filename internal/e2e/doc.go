// Package e2e holds sockjail's end-to-end test under real systemd: systemd
// 252 boots as PID 1 in a container (systemd-nspawn on a Debian root made by
// debootstrap), runs the units that `sockjail unit` writes, and a client on
// the host's loopback checks what callers and operators see.
//
// The test is slow and needs root, so it only runs when SOCKJAIL_E2E_SYSTEMD
// is set; `make e2e-systemd` sets it. It does not cover systemd versions
// other than the container's, nor user (systemd --user) units.
package e2e
