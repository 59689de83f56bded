package sandbox

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseShebang(t *testing.T) {
	tests := []struct {
		in          string
		interp, arg string
		ok          bool
	}{
		{"#!/bin/sh\necho", "/bin/sh", "", true},
		{"#! /bin/bash -e\n", "/bin/bash", "-e", true},
		{"#!/usr/bin/env python3\n", "/usr/bin/env", "python3", true},
		{"#!/usr/bin/env -S perl -w\n", "/usr/bin/env", "-S perl -w", true},
		{"#!/bin/sh\t-x\n", "/bin/sh", "-x", true},
		{"#!sh\n", "", "", false},
		{"\x7fELF", "", "", false},
		{"#!", "", "", false},
		{"#!/bin/s\x00h\n", "", "", false},
	}
	for _, tt := range tests {
		interp, arg, ok := parseShebang([]byte(tt.in))
		if interp != tt.interp || arg != tt.arg || ok != tt.ok {
			t.Errorf("parseShebang(%q) = %q, %q, %v; want %q, %q, %v", tt.in, interp, arg, ok, tt.interp, tt.arg, tt.ok)
		}
	}
}

func FuzzShebang(f *testing.F) {
	f.Add([]byte("#!/bin/sh\n"))
	f.Add([]byte("#! /usr/bin/env -S bash -e\n"))
	f.Add([]byte("#!/bin/sh\t-x \t\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		interp, arg, ok := parseShebang(b)
		if !ok {
			return
		}
		if !filepath.IsAbs(interp) || strings.ContainsAny(interp, " \t\n\x00") || strings.ContainsAny(arg, "\n\x00") {
			t.Errorf("parseShebang(%q) = %q, %q", b, interp, arg)
		}
	})
}

// TestInterpreters checks that a script's whole chain of interpreters is
// found: its #! interpreter, env's target, and their ELF loader.
func TestInterpreters(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "s")
	os.WriteFile(script, []byte("#!/usr/bin/env bash\necho\n"), 0o755)
	got := interpreters(script, DefaultPath)
	bash, err := resolveProgram("bash", DefaultPath)
	if err != nil {
		t.Skip("no bash")
	}
	ld := elfInterpreter(bash)
	for _, want := range []string{"/usr/bin/env", bash, ld} {
		if want != "" && !slices.Contains(got, want) {
			t.Errorf("interpreters(%s) = %q, missing %q", script, got, want)
		}
	}
}
