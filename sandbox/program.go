package sandbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultPath is the search path for the program when the policy's
// environment sets no PATH.
const DefaultPath = "/usr/local/bin:/usr/bin:/bin"

// maxShebangDepth bounds #! chains (a script whose interpreter is a script);
// Linux itself allows 4 levels (BINPRM_MAX_RECURSION).
const maxShebangDepth = 4

// resolveProgram finds name the way execvp(3) would with searchPath, and
// returns its absolute path.
//
// It reports a *ProgramError for a missing or non-executable program. It
// does not check that the sandboxed user may execute the file; execve in the
// child is the final word and its EACCES also becomes NotExecutable.
func resolveProgram(name, searchPath string) (string, error) {
	if name == "" {
		return "", &ProgramError{Kind: NotFound, Name: name, Err: errors.New("empty program name")}
	}
	if strings.Contains(name, "/") {
		p, err := filepath.Abs(name)
		if err != nil {
			return "", &ProgramError{Kind: NotFound, Name: name, Err: err}
		}
		if err := checkExecutable(p); err != nil {
			return "", programError(name, err)
		}
		return p, nil
	}
	var firstErr error
	for _, dir := range filepath.SplitList(searchPath) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue // a relative PATH entry would depend on sockjail's cwd
		}
		p := filepath.Join(dir, name)
		err := checkExecutable(p)
		if err == nil {
			return p, nil
		}
		if firstErr == nil && !errors.Is(err, fs.ErrNotExist) {
			firstErr = err
		}
	}
	if firstErr != nil {
		return "", programError(name, firstErr)
	}
	return "", &ProgramError{Kind: NotFound, Name: name, Err: fmt.Errorf("not in PATH %q", searchPath)}
}

func programError(name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &ProgramError{Kind: NotFound, Name: name, Err: err}
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && errors.Is(err, fs.ErrPermission) {
		err = explainDenied(pe.Path, err)
	}
	return &ProgramError{Kind: NotExecutable, Name: name, Err: err}
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file: %w", p, fs.ErrPermission)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s has no execute permission: %w", p, fs.ErrPermission)
	}
	return nil
}

// interpreters returns the files the kernel needs to execute to run path:
// a script's #! interpreter, recursively, for "#!/usr/bin/env NAME" the NAME
// found in searchPath, and the ELF interpreter (the dynamic loader, which
// the kernel opens for execution) of each binary among them. The program
// itself is not included. Shared libraries are not included either: the
// loader only reads them, and the policy's read_only covers them. Errors
// reading a file are ignored: execve reports them precisely.
func interpreters(path, searchPath string) []string {
	var out []string
	for _, p := range scriptInterpreters(path, searchPath) {
		out = append(out, p)
	}
	for _, p := range append([]string{path}, out...) {
		if ld := elfInterpreter(p); ld != "" && !slices.Contains(out, ld) {
			out = append(out, ld)
		}
	}
	return out
}

// elfInterpreter returns the PT_INTERP of an ELF file (the dynamic loader
// the kernel opens for execution), or "". It reads the ELF header and the
// program headers, as the kernel's binfmt_elf does, and nothing else:
// debug/elf would parse the section headers too, which cost more than the
// rest of the check on every run. Little-endian ELF32 and ELF64 files are
// read, the only kinds an amd64 kernel executes.
func elfInterpreter(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var hdr [64]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil || string(hdr[:4]) != "\x7fELF" || hdr[5] != elfData2LSB {
		return ""
	}
	le := binary.LittleEndian
	var phoff int64
	var phentsize, phnum int
	switch hdr[4] {
	case elfClass32:
		phoff, phentsize, phnum = int64(le.Uint32(hdr[0x1c:])), int(le.Uint16(hdr[0x2a:])), int(le.Uint16(hdr[0x2c:]))
	case elfClass64:
		phoff, phentsize, phnum = int64(le.Uint64(hdr[0x20:])), int(le.Uint16(hdr[0x36:])), int(le.Uint16(hdr[0x38:]))
	default:
		return ""
	}
	if phentsize < 32 || phnum > maxELFProgs || phoff < 0 {
		return ""
	}
	ph := make([]byte, phentsize)
	for i := range phnum {
		if _, err := f.ReadAt(ph, phoff+int64(i*phentsize)); err != nil {
			return ""
		}
		if le.Uint32(ph) != elfPTInterp {
			continue
		}
		var off, size uint64
		if hdr[4] == elfClass32 {
			off, size = uint64(le.Uint32(ph[4:])), uint64(le.Uint32(ph[16:]))
		} else if phentsize >= 56 {
			off, size = le.Uint64(ph[8:]), le.Uint64(ph[32:])
		} else {
			return ""
		}
		if off > math.MaxInt64 {
			return ""
		}
		b := make([]byte, min(size, 4096))
		n, _ := f.ReadAt(b, int64(off))
		name, _, _ := strings.Cut(string(b[:n]), "\x00")
		return name
	}
	return ""
}

// The ELF constants elfInterpreter needs (elf(5)).
const (
	elfClass32  = 1
	elfClass64  = 2
	elfData2LSB = 1
	elfPTInterp = 3
	maxELFProgs = 1 << 12 // far more than any real file; the kernel caps the table at 64 KiB
)

func scriptInterpreters(path, searchPath string) []string {
	var out []string
	for depth := 0; depth < maxShebangDepth; depth++ {
		interp, arg, ok := readShebang(path)
		if !ok {
			break
		}
		out = append(out, interp)
		if filepath.Base(interp) == "env" && arg != "" {
			// "#!/usr/bin/env NAME" or "#!/usr/bin/env -S NAME ARGS".
			fields := strings.Fields(arg)
			for len(fields) > 0 && strings.HasPrefix(fields[0], "-") {
				fields = fields[1:]
			}
			if len(fields) > 0 && !strings.Contains(fields[0], "=") {
				if p, err := resolveProgram(fields[0], searchPath); err == nil {
					out = append(out, p)
					out = append(out, scriptInterpreters(p, searchPath)...)
				}
			}
			break
		}
		path = interp
	}
	return out
}

// readShebang parses the "#!interp [arg]" line of path.
func readShebang(path string) (interp, arg string, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", false
	}
	defer f.Close()
	buf := make([]byte, shebangMax)
	n, _ := io.ReadFull(f, buf)
	return parseShebang(buf[:n])
}

// shebangMax is how much of a script Linux reads for its #! line
// (BINPRM_BUF_SIZE).
const shebangMax = 256

// parseShebang parses a #! line as Linux's binfmt_script does: at most the
// first 256 bytes, the interpreter up to the first blank, and the rest of
// the line, trimmed, as one optional argument. It reports false for
// anything that is not a #! line naming an absolute interpreter.
func parseShebang(buf []byte) (interp, arg string, ok bool) {
	if len(buf) > shebangMax {
		buf = buf[:shebangMax]
	}
	line, found := bytes.CutPrefix(buf, []byte("#!"))
	if !found {
		return "", "", false
	}
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	if bytes.IndexByte(line, 0) >= 0 {
		return "", "", false
	}
	s := strings.Trim(string(line), " \t")
	interp, arg, _ = strings.Cut(s, " ")
	if i := strings.IndexByte(interp, '\t'); i >= 0 {
		interp, arg = interp[:i], interp[i+1:]+" "+arg
	}
	if !filepath.IsAbs(interp) {
		return "", "", false
	}
	return interp, strings.Trim(arg, " \t"), true
}
