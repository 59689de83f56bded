package unit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sockjail/sockjail/policy"
)

// This file is the part of `sockjail unit` that looks at the machine it
// runs on: it turns a Request, as a command line gives it, into the Config
// that Generate writes units from, and writes the units into a directory.
// It reads the policy file but no users or groups (the units may be for
// another host), and runs only `systemctl --version`.

// Request is what `sockjail unit` is asked for. Paths may be relative, the
// program a bare name found in PATH, the systemd version unknown.
type Request struct {
	Name   string
	Listen []string
	Accept bool
	// Sockjail is sockjail's path; "" is this binary.
	Sockjail string
	// PolicyPath is the policy file; "" is the embedded default policy.
	PolicyPath string
	// Program is the program and its arguments.
	Program []string
	// Command is the command line that asked, for the units' header.
	Command []string
	// Dir is where the units go; "" prints them.
	Dir string
	// SystemdVersion is the target systemd; 0 asks the installed one
	// (at least MinSystemdVersion).
	SystemdVersion int
}

// PrepareError is an error of Prepare, with the part of the Request it is
// about, so that the caller can say what to change.
type PrepareError struct {
	Part Part
	Err  error
}

func (e *PrepareError) Error() string { return e.Err.Error() }
func (e *PrepareError) Unwrap() error { return e.Err }

// Part names a part of a Request.
type Part string

const (
	PartProgram  Part = "program"  // can't be named by an absolute path
	PartSockjail Part = "sockjail" // this binary's path is unknown
	PartPolicy   Part = "policy"   // the policy file is missing or invalid
	PartPath     Part = "path"     // a path can't be made absolute
)

// Prepare resolves r on this machine: it names the program and sockjail
// by absolute paths (ExecStart= runs with systemd's PATH and working
// directory, not the shell's; an absolute path is kept as it is, since
// units are often written for another machine), loads the policy, and
// finds the systemd version.
func Prepare(r Request) (Config, error) {
	program, err := absProgram(r.Program)
	if err != nil {
		return Config{}, &PrepareError{PartProgram, err}
	}
	sockjail := r.Sockjail
	if sockjail == "" {
		if sockjail, err = os.Executable(); err != nil {
			return Config{}, &PrepareError{PartSockjail, fmt.Errorf("finding this binary's path: %w", err)}
		}
	}
	if sockjail, err = filepath.Abs(sockjail); err != nil {
		return Config{}, &PrepareError{PartPath, err}
	}
	pol, policyPath := policy.Default(), ""
	if r.PolicyPath != "" {
		if policyPath, err = filepath.Abs(r.PolicyPath); err != nil {
			return Config{}, &PrepareError{PartPath, err}
		}
		if pol, err = policy.Load(policyPath); err != nil {
			return Config{}, &PrepareError{PartPolicy, err}
		}
	}
	dir := ""
	if r.Dir != "" {
		if dir, err = filepath.Abs(r.Dir); err != nil {
			return Config{}, &PrepareError{PartPath, err}
		}
	}
	version := r.SystemdVersion
	if version == 0 {
		version = InstalledSystemdVersion()
	}
	return Config{
		Name:           r.Name,
		Listen:         r.Listen,
		Accept:         r.Accept,
		Sockjail:       sockjail,
		PolicyPath:     policyPath,
		Policy:         pol,
		Program:        program,
		Command:        r.Command,
		Dir:            dir,
		SystemdVersion: max(version, MinSystemdVersion),
	}, nil
}

// absProgram returns argv with its program named by an absolute path: a
// bare name looked up in PATH, a relative path made absolute.
func absProgram(argv []string) ([]string, error) {
	if len(argv) == 0 {
		return nil, errors.New("no program given")
	}
	p := argv[0]
	if filepath.IsAbs(p) {
		return argv, nil
	}
	var abs string
	var err error
	if strings.Contains(p, "/") {
		abs, err = filepath.Abs(p)
	} else if abs, err = exec.LookPath(p); err == nil {
		abs, err = filepath.Abs(abs)
	}
	if err != nil {
		return nil, fmt.Errorf("program %q: %v", p, err)
	}
	return append([]string{abs}, argv[1:]...), nil
}

// InstalledSystemdVersion returns the version `systemctl --version`
// reports, or 0 when systemctl is missing or says something else.
func InstalledSystemdVersion() int {
	out, err := exec.Command("systemctl", "--version").Output()
	if err != nil {
		return 0
	}
	return parseSystemdVersion(string(out))
}

// parseSystemdVersion reads the version from `systemctl --version`'s
// first line, "systemd 252 (252.36-1~deb12u1)", or gives 0.
func parseSystemdVersion(out string) int {
	rest, ok := strings.CutPrefix(out, "systemd ")
	if !ok {
		return 0
	}
	end := 0
	for end < len(rest) && '0' <= rest[end] && rest[end] <= '9' {
		end++
	}
	n, _ := strconv.Atoi(rest[:end])
	return n
}

// Install writes files into dir, each through a temporary file and a
// rename so that systemd never reads half a unit, and returns the paths
// it wrote (those before a failure, too). It does not reload systemd.
func Install(dir string, files []File) ([]string, error) {
	var written []string
	for _, f := range files {
		p := filepath.Join(dir, f.Name)
		if err := writeFileAtomic(p, []byte(f.Content)); err != nil {
			return written, err
		}
		written = append(written, p)
	}
	return written, nil
}

// writeFileAtomic writes data to path, mode 0644, through a temporary file
// in the same directory and a rename.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err != nil {
		return fmt.Errorf("writing %q: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %q: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %q: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %q: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %q: %w", path, err)
	}
	return nil
}
