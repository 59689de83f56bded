// Package exitcode names the exit codes of the sockjail binary.
//
// When the served program ran, sockjail exits with the program's own status
// (128+N when a signal N killed it), so that systemd's ExecStart=- and
// SuccessExitStatus= see the program. The codes below report sockjail's own
// failures; they follow sysexits(3) and the shell's 126/127 so that they are
// easy to tell apart in a journal. The README documents them.
package exitcode

const (
	// OK: the program exited 0, or a subcommand succeeded.
	OK = 0
	// Invalid: `sockjail check` found an invalid policy file.
	Invalid = 1
	// Usage: bad command line (unknown flag, no "--" before the program).
	Usage = 64
	// NoConnection: fd 0 is closed or is not something a connection can be.
	NoConnection = 66
	// Refused: enforce = "strict" and the kernel cannot give a protection
	// the policy asks for, or a serve access rule refused the peer. The
	// program was not started.
	Refused = 69
	// Internal: an unexpected failure inside sockjail.
	Internal = 70
	// OSError: a system call needed to start the program failed.
	OSError = 71
	// CantCreate: an output file could not be created or written
	// (sysexits' EX_CANTCREAT).
	CantCreate = 73
	// Config: the policy file could not be read or is invalid.
	Config = 78
	// NotExecutable: the program exists but cannot be executed.
	NotExecutable = 126
	// NotFound: the program does not exist.
	NotFound = 127
	// SignalBase is added to a signal number when a signal killed the
	// program.
	SignalBase = 128
)
