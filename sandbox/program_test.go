package sandbox

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
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

// TestELFInterpreterAgreesWithDebugELF reads the interpreter of real
// binaries and libraries with elfInterpreter and with the standard
// library's full ELF parser, which must agree.
func TestELFInterpreterAgreesWithDebugELF(t *testing.T) {
	var files []string
	for _, pattern := range []string{"/usr/bin/*", "/usr/sbin/*", "/usr/lib/x86_64-linux-gnu/*.so*", "/usr/lib/systemd/*"} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	checked, withInterp := 0, 0
	for _, path := range files {
		f, err := elf.Open(path)
		if err != nil {
			if got := elfInterpreter(path); got != "" && !strings.Contains(err.Error(), "section") {
				t.Errorf("%s: debug/elf says %v, elfInterpreter found %q", path, err, got)
			}
			continue
		}
		want := ""
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				b := make([]byte, p.Filesz)
				p.ReadAt(b, 0)
				want = strings.TrimRight(string(b), "\x00")
				break
			}
		}
		f.Close()
		if got := elfInterpreter(path); got != want {
			t.Errorf("elfInterpreter(%s) = %q, debug/elf says %q", path, got, want)
		}
		checked++
		if want != "" {
			withInterp++
		}
	}
	if checked < 20 || withInterp < 10 {
		t.Fatalf("only %d ELF files (%d with an interpreter) found to compare", checked, withInterp)
	}
}

// TestELFInterpreterBadFiles feeds elfInterpreter files that are not
// whole ELF files; none has an interpreter.
func TestELFInterpreterBadFiles(t *testing.T) {
	bash, err := resolveProgram("bash", DefaultPath)
	if err != nil {
		t.Fatal(err)
	}
	real, err := os.ReadFile(bash)
	if err != nil {
		t.Fatal(err)
	}
	hugePhnum := bytes.Clone(real[:64])
	binary.LittleEndian.PutUint16(hugePhnum[0x38:], 0xffff)
	badClass := bytes.Clone(real[:4096])
	badClass[4] = 9
	bigEndian := bytes.Clone(real[:4096])
	bigEndian[5] = 2
	for name, data := range map[string][]byte{
		"empty":            {},
		"magic only":       []byte("\x7fELF"),
		"header only":      real[:64],
		"cut in the phdrs": real[:80],
		"huge phnum":       hugePhnum,
		"unknown class":    badClass,
		"big endian":       bigEndian,
		"script":           []byte("#!/bin/sh\n"),
	} {
		path := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(path, data, 0o755); err != nil {
			t.Fatal(err)
		}
		if got := elfInterpreter(path); got != "" {
			t.Errorf("%s: elfInterpreter = %q, want none", name, got)
		}
	}
}

// FuzzELFInterpreter feeds elfInterpreter arbitrary files: it must not
// panic, must return a loader path without NUL of at most a page, and
// must agree with debug/elf wherever debug/elf reads the file and finds
// an interpreter.
func FuzzELFInterpreter(f *testing.F) {
	if bash, err := resolveProgram("bash", DefaultPath); err == nil {
		if b, err := os.ReadFile(bash); err == nil {
			f.Add(b[:min(len(b), 4096)])
		}
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Add([]byte("#!/bin/sh\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "f")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		got := elfInterpreter(path)
		if strings.IndexByte(got, 0) >= 0 || len(got) > 4096 {
			t.Fatalf("elfInterpreter = %q", got)
		}
		ef, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, p := range ef.Progs {
			if p.Type != elf.PT_INTERP || p.Filesz > 4096 {
				continue
			}
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return
			}
			want, _, _ := strings.Cut(string(b), "\x00")
			if got != want {
				t.Fatalf("elfInterpreter = %q, debug/elf's PT_INTERP says %q", got, want)
			}
			return
		}
	})
}
