package sandbox

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

// elfInterpreter returns the PT_INTERP of an ELF file, or "".
func elfInterpreter(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, min(p.Filesz, 4096))
		n, _ := p.ReadAt(b, 0)
		return strings.TrimRight(string(b[:n]), "\x00")
	}
	return ""
}

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
