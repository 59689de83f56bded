package main

import (
	"fmt"
	"github.com/sockjail/sockjail/internal/buildflags"
	"os/exec"
	"path/filepath"
	"strings"
)

// programs are the C programs the benchmark serves, from bench/*.c. All are
// linked statically so that their own start is as cheap as a program's can
// be; what remains is the launcher's cost.
var programs = []string{"hello", "exitstamp", "bigreply", "idle", "rsswrap"}

// buildPrograms compiles bench/NAME.c into b.bin/NAME with gcc -static.
func (b *bench) buildPrograms() error {
	for _, name := range programs {
		src := filepath.Join(b.root, "bench", name+".c")
		out := filepath.Join(b.bin, name)
		cmd := exec.Command("gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-static", "-o", out, src)
		if msg, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("gcc -static %s: %v\n%s\nsjbench: hint: install gcc and libc6-dev", src, err, msg)
		}
	}
	return nil
}

// buildForkwait builds bench/cmd/forkwait into b.bin, with the default
// build settings (no cgo: it imports nothing that needs it).
func (b *bench) buildForkwait() error {
	cmd := exec.Command("go", "build", "-o", filepath.Join(b.bin, "forkwait"), "./bench/cmd/forkwait")
	cmd.Dir = b.root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./bench/cmd/forkwait: %v\n%s", err, msg)
	}
	return nil
}

// buildSockjail builds ./cmd/sockjail into b.bin the way `go build` does by
// default. A failure is recorded, not fatal: the other targets still run.
func (b *bench) buildSockjail() {
	out := filepath.Join(b.bin, "sockjail")
	cmd := exec.Command("go", append(append([]string{"build"}, buildflags.Release...), "-o", out, "./cmd/sockjail")...)
	cmd.Dir = b.root
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.sockjailErr = fmt.Errorf("go build ./cmd/sockjail: %v: %s", err, strings.TrimSpace(firstLines(string(msg), 5)))
		return
	}
	b.sockjail = out
}

// checkSubcommands records which of sockjail's subcommands the binary
// lacks: a binary that builds but has no `serve` still measures `run`.
func (b *bench) checkSubcommands() {
	b.subErr = map[string]error{}
	if b.sockjail == "" {
		return
	}
	for _, sub := range []string{"run", "serve"} {
		msg, err := exec.Command(b.sockjail, sub, "--help").CombinedOutput()
		if err != nil && strings.Contains(string(msg), "unknown command") {
			b.subErr[sub] = fmt.Errorf("sockjail has no %q subcommand yet", sub)
		}
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
