// Package runstart sets the Go runtime's start-up for `sockjail run`, the
// short-lived process that serves one connection, before the rest of the
// program's package inits run.
//
// `sockjail run` lives for one connection and runs one goroutine's work at a
// time: parallel Ps only cost it. Each P has its own allocation cache, so a
// second P makes a second set of fresh heap spans (every page of them is a
// page fault in a new process), and an idle P makes the scheduler start
// spinning threads whenever a goroutine wakes. On a host where faults and
// thread switches are dear, GOMAXPROCS=1 took about 30 page faults and 20
// to 40 context switches off every connection when set here, and about 70
// faults when given in the environment, where the runtime reads it before it
// starts (docs/design.md, "Issue 18"). The unit files `sockjail unit` writes
// give it in the environment for that reason.
//
// It does nothing for any other subcommand (serve runs many sessions at
// once), nor when GOMAXPROCS is in the environment: an operator's value
// wins. Import it from package main, and import nothing else here, so that
// its init runs as early as Go's init order allows.
package runstart

import (
	"os"
	"runtime"
)

func init() {
	if n := procs(os.Args, os.Getenv("GOMAXPROCS")); n > 0 {
		runtime.GOMAXPROCS(n)
	}
}

// procs returns the GOMAXPROCS to set for a process started with args and
// the environment's GOMAXPROCS value, or 0 to leave the runtime's choice.
func procs(args []string, env string) int {
	if env != "" || len(args) < 2 || args[1] != "run" {
		return 0
	}
	return 1
}
