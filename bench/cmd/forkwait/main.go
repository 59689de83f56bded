// Command forkwait is the benchmark's floor for any Go launcher shaped like
// `sockjail run`: it starts the Go runtime, forks and execs its arguments
// with fd 0/1/2 inherited, waits, and exits with the child's status. It
// applies no confinement and does no flush-then-close; the difference
// between it and `sockjail run` is what sockjail's own work costs, and the
// difference between it and the bare program is what a Go process start
// costs.
package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: forkwait PROGRAM [ARGS...]")
		os.Exit(64)
	}
	pid, err := syscall.ForkExec(os.Args[1], os.Args[1:], &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "forkwait:", err)
		os.Exit(127)
	}
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	if ws.Signaled() {
		os.Exit(128 + int(ws.Signal()))
	}
	os.Exit(ws.ExitStatus())
}
