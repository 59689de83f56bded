package testenv

import "testing"

// TestForeignSyscallWant covers both kinds of host: one where the
// unconfined `int 0x80` reaches the i386 syscall table (or the x32 number
// gets ENOSYS) and the sandbox must kill with SIGSYS, and one where the
// instruction faults before any syscall and the sandboxed program must die
// of the same fault. Controls that can't be a premise are errors.
func TestForeignSyscallWant(t *testing.T) {
	for _, tt := range []struct {
		control, want string
		err           bool
	}{
		{control: "ok", want: "SIGSYS"},       // int 0x80 reached the i386 table
		{control: "ENOSYS", want: "SIGSYS"},   // no x32 ABI in this kernel
		{control: "EPERM", want: "SIGSYS"},    // any answer means the entry ran
		{control: "SIGSEGV", want: "SIGSEGV"}, // no i386 entry on this host
		{control: "SIGILL", want: "SIGILL"},
		{control: "SIGSYS", err: true}, // already filtered around the test
		{control: "", err: true},
		{control: "SIGNOPE", err: true},
		{control: "pid=12", err: true},
	} {
		got, err := ForeignSyscallWant(tt.control)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ForeignSyscallWant(%q) = %q, %v; want %q, error %v", tt.control, got, err, tt.want, tt.err)
		}
	}
}
