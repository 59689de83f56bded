package main

// The compatibility suite (issue 15): real programs from Debian packages,
// each served by the real `sockjail run` on a real TCP connection under the
// default policy, with no policy edits, in the escape suite's three modes.
// Each case asserts the program's actual output. Where a program can't work
// in a mode, the case says so by asserting the failure the program reports,
// and README.md ("Recipes") says what to change.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sockjail/sockjail/internal/escapetest"
	"github.com/sockjail/sockjail/internal/relay/termtest"
	"github.com/sockjail/sockjail/internal/testenv"
)

// compatEnv is the suite's setup: sockjail, and the programs installed
// into a fresh directory under /srv (outside /tmp, which the sandbox
// replaces) that every uid may read and run. The default policy doesn't
// name that directory: each program is the session's own program (or its
// #! script), which every policy lets run.
type compatEnv struct {
	*escapetest.Env
	dir string
}

func compatSetup(t *testing.T) *compatEnv {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.LookTool(t, "setpriv")
	e := &escapetest.Env{Sockjail: testenv.Sockjail(t)}
	if err := os.Chmod(filepath.Dir(e.Sockjail), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/srv", 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/srv", "sockjail-compat-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// e.start hands every session an extra fd 3 on this file (see
	// escapetest.Session), which sockjail must not pass on.
	e.Vars = map[string]string{"secret": filepath.Join(dir, "fd3.txt")}
	escapetest.WriteFile(t, e.Vars["secret"], "not for the program\n", 0o644)
	e.Policies = map[string]string{}
	return &compatEnv{Env: e, dir: dir}
}

// install copies testdata/compat/NAME into the directory, executable.
func (c *compatEnv) install(t *testing.T, name string) string {
	t.Helper()
	to := filepath.Join(c.dir, name)
	escapetest.WriteFile(t, to, compatRead(t, name), 0o755)
	return to
}

func compatRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "compat", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// build compiles a program of testdata/compat into the directory with cmd
// (gcc, or go build), which "-o NAME" follows.
func (c *compatEnv) build(t *testing.T, name string, cmd ...string) string {
	t.Helper()
	out := filepath.Join(c.dir, name)
	b := exec.Command(cmd[0], append(append(cmd[1:len(cmd)-1:len(cmd)-1], "-o", out), cmd[len(cmd)-1])...)
	b.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := b.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", b.Args, err, msg)
	}
	if err := os.Chmod(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// session runs argv in mode m under the default policy, writes input to
// the connection, half-closes it and returns what came back.
func (c *compatEnv) session(t *testing.T, m escapetest.Mode, input string, argv ...string) (out, log string, code int) {
	t.Helper()
	s := c.Start(t, m, "default", nil, argv)
	s.Send(input)
	out, code = s.Finish()
	return out, s.Stderr.String(), code
}

// compatCase is one program of the suite.
type compatCase struct {
	name  string
	tool  string // a command the case needs on the host (from TEST_DEPS)
	argv  func(t *testing.T, c *compatEnv) []string
	input string
	// want is the program's exact output in mode m; code its exit.
	want func(m escapetest.Mode, h compatHost) (out string, code int)
}

// compatHost is what the expected outputs depend on, learned from this
// host: the uid the program runs as, and what the same programs print
// unconfined.
type compatHost struct {
	uid      int
	cpus     string // python3's os.cpu_count() outside the sandbox
	hostname string
}

func compatNoNS(m escapetest.Mode) bool { return m.Name == "unprivileged-no-userns" }

func compatCases() []compatCase {
	script := func(name string) func(t *testing.T, c *compatEnv) []string {
		return func(t *testing.T, c *compatEnv) []string { return []string{c.install(t, name)} }
	}
	return []compatCase{
		{name: "python3", tool: "/usr/bin/python3", argv: script("python.py"), input: "hello\n",
			want: func(m escapetest.Mode, h compatHost) (string, int) {
				fd, pool := "0,1,2,3", "[1, 4, 9]"
				if compatNoNS(m) {
					// No fresh /proc, no private /dev/shm: the
					// host's are denied.
					fd, pool = "PermissionError 13", "PermissionError 13"
				}
				return "stdin=hello\nfd=" + fd + "\ncpus=" + h.cpus + "\nsubprocess=child\ntempfile=written\nsqlite=42\npool=" + pool + "\n", 0
			}},
		{name: "perl", tool: "/usr/bin/perl", argv: script("perl.pl"), input: "hello world\n",
			want: func(escapetest.Mode, compatHost) (string, int) {
				return "perl=WORLD HELLO len=11\nchild=child\n", 0
			}},
		{name: "bash", tool: "/usr/bin/ps", argv: script("bash.sh"), input: "hello\n",
			want: func(m escapetest.Mode, h compatHost) (string, int) {
				if compatNoNS(m) {
					// ps finds no usable /proc (the host's is
					// denied) and says how to get one.
					// Process substitution still works: its
					// /dev/fd/63 resolves to a pipe, which
					// Landlock doesn't mediate.
					return "cmdsubst=HELLO\nprocsubst=6\n" +
						"Error, do this: mount -t proc proc /proc\n" +
						"ps=47\n", 0
				}
				// Only the session's processes: its init (a clone
				// of sockjail, with sockjail's command line), the
				// script, and ps.
				return "cmdsubst=HELLO\nprocsubst=6\n" +
					"1 {sockjail}\n" +
					"2 /bin/bash {script}\n" +
					"{ps} ps ax -o pid=,args=\n" +
					"ps=0\n", 0
			}},
		{name: "tools", tool: "/usr/bin/awk", argv: script("tools.sh"), input: "hello world\n",
			want: func(m escapetest.Mode, h compatHost) (string, int) {
				return "sed=hello sandbox\ngrep=2\nawk=6\nsort=a b c \nseq=1,2,3\nwc=3\ndate=1970-01-02\n" +
					"id=" + strconv.Itoa(h.uid) + "\nhostname=" + h.hostname + "\ntmp=x\ngone\n", 0
			}},
		{name: "node", tool: "/usr/bin/node", argv: script("node.js"), input: "one\ntwo\n",
			want: func(m escapetest.Mode, h compatHost) (string, int) {
				pid := "2"
				if compatNoNS(m) {
					pid = "{pid}"
				}
				return "node=ONE\nnode=TWO\nbye pid=" + pid + "\n", 0
			}},
		{name: "go", tool: "go", input: "hello\n",
			argv: func(t *testing.T, c *compatEnv) []string {
				return []string{c.build(t, "goprog", "go", "build", "./testdata/compat/goprog")}
			},
			want: func(m escapetest.Mode, h compatHost) (string, int) {
				status, fds := "goprog", "0,1,2"
				if compatNoNS(m) {
					status, fds = "open /proc/self/status: permission denied", "open /proc/self/fd: permission denied"
				}
				return "stdin=hello\nexec=child\ntimer=true\nstatus=" + status + "\nfds=" + fds + "\nexe={exe}\n", 0
			}},
		{name: "c-static", tool: "/usr/lib/x86_64-linux-gnu/libc.a", input: "static\n",
			argv: func(t *testing.T, c *compatEnv) []string {
				return []string{c.build(t, "hello-static", "gcc", "-static", "-O1", "testdata/compat/hello.c")}
			},
			want: func(escapetest.Mode, compatHost) (string, int) { return "c=static\n", 0 }},
		{name: "c-dynamic", tool: "gcc", input: "dynamic\n",
			argv: func(t *testing.T, c *compatEnv) []string {
				return []string{c.build(t, "hello-dynamic", "gcc", "-O1", "testdata/compat/hello.c")}
			},
			want: func(escapetest.Mode, compatHost) (string, int) { return "c=dynamic\n", 0 }},
	}
}

// compatLearnHost runs the control: what the programs print unconfined.
func compatLearnHost(t *testing.T) compatHost {
	t.Helper()
	var h compatHost
	out, err := exec.Command("/usr/bin/python3", "-c", "import os; print(os.cpu_count())").Output()
	if err != nil {
		testenv.SkipOrFail(t, "python3 (Debian's python3 package) can't run: "+err.Error())
	}
	h.cpus = strings.TrimSpace(string(out))
	if h.hostname, err = os.Hostname(); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestCompat runs every program in every mode.
func TestCompat(t *testing.T) {
	c := compatSetup(t)
	host := compatLearnHost(t)
	for _, tc := range compatCases() {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasPrefix(tc.tool, "/") {
				if _, err := os.Stat(tc.tool); err != nil {
					testenv.SkipOrFail(t, tc.tool+" is not installed (make deps-test installs it)")
				}
			} else {
				testenv.LookTool(t, tc.tool)
			}
			argv := tc.argv(t, c)
			for _, m := range escapetest.Modes {
				t.Run(m.Name, func(t *testing.T) {
					h := host
					out, log, code := c.session(t, m, tc.input, argv...)
					h.uid = escapetest.ProgramUID(m.Name, "default")
					if h.uid == escapetest.DynamicUID {
						// The session's own uid, from its log line.
						h.uid = compatLoggedUID(log)
						if !escapetest.IsProgramUID(m.Name, "default", h.uid) {
							t.Errorf("the log line names uid %d, not one of the default dynamic_uids\n%s", h.uid, log)
						}
					}
					want, wantCode := tc.want(m, h)
					want = compatFill(want, out, argv)
					if out != want || code != wantCode {
						t.Errorf("%s in mode %s:\ngot exit %d:\n%s\nwant exit %d:\n%s\nsockjail's log:\n%s", tc.name, m.Name, code, out, wantCode, want, log)
					}
				})
			}
		})
	}
}

// compatLoggedUID is the uid= of a session's log line, or -1.
func compatLoggedUID(log string) int {
	for _, f := range strings.Fields(log) {
		if v, ok := strings.CutPrefix(f, "uid="); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return -1
}

// compatFill fills in the parts of a wanted output that only the run
// knows: {sockjail} the init's command line (sockjail's own), {script} and
// {exe} the program, {ps} and {pid} a pid. Each placeholder matches only
// its own shape, so a wrong output still fails.
func compatFill(want, got string, argv []string) string {
	want = strings.ReplaceAll(want, "{script}", argv[0])
	want = strings.ReplaceAll(want, "{exe}", argv[0])
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range wl {
		if i >= len(gl) {
			break
		}
		switch {
		case strings.Contains(wl[i], "{sockjail}"):
			// "1 /path/to/sockjail run -- PROGRAM"
			if f := strings.Fields(gl[i]); len(f) >= 3 && filepath.Base(f[1]) == "sockjail" && f[2] == "run" {
				wl[i] = strings.Replace(wl[i], "{sockjail}", strings.Join(f[1:], " "), 1)
			}
		case strings.Contains(wl[i], "{ps}"):
			if f := strings.Fields(gl[i]); len(f) > 0 {
				if n, err := strconv.Atoi(f[0]); err == nil && n > 2 && n < 100 {
					wl[i] = strings.Replace(wl[i], "{ps}", f[0], 1)
				}
			}
		case strings.Contains(wl[i], "{pid}"):
			if _, v, ok := strings.Cut(gl[i], "pid="); ok {
				if n, err := strconv.Atoi(v); err == nil && n > 2 {
					wl[i] = strings.Replace(wl[i], "{pid}", v, 1)
				}
			}
		}
	}
	return strings.Join(wl, "\n")
}

// compatMenuPolicy is the one setting an interactive service needs: the
// program on a pty. Everything else is the default policy.
const compatMenuPolicy = "[terminal]\npty = true\n"

// TestCompatMenu drives the interactive menu of the interactive tests
// through the pty, in every mode: prompts, the line discipline's echo, and
// the program's own view of its terminal.
func TestCompatMenu(t *testing.T) {
	c := compatSetup(t)
	menu := termtest.BuildMenu(t, c.dir)
	c.Policies["menu"] = filepath.Join(c.dir, "menu.toml")
	escapetest.WriteFile(t, c.Policies["menu"], compatMenuPolicy, 0o644)
	const prompt = "\r\n[n] your name  [t] terminal  [h] hex input  [q] quit\r\nChoice: "
	tty := regexp.MustCompile(`^t\r\nTERM=vt100 size=\d+x\d+\r\ntty=/dev/pts/\d+\r\n` + regexp.QuoteMeta(prompt) + `$`)
	for _, m := range escapetest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			s := c.Start(t, m, "menu", nil, []string{menu})
			steps := []struct{ send, want string }{
				{"", "Welcome to the sockjail test BBS.\r\n" + prompt},
				{"n\n", "n\r\nName: "},
				{"sockjail\n", "sockjail\r\nHello, sockjail!\r\n" + prompt},
			}
			for _, st := range steps {
				s.Send(st.send)
				if got := s.ReadUntil(st.want[len(st.want)-2:]); got != st.want {
					t.Fatalf("%s: after %q got %q, want %q", s.Desc, st.send, got, st.want)
				}
			}
			s.Send("t\n")
			if got := s.ReadUntil("Choice: "); !tty.MatchString(got) {
				t.Errorf("%s: the terminal: got %q", s.Desc, got)
			}
			s.Send("q\n")
			out, code := s.Finish()
			if out != "q\r\nBye.\r\n" || code != 0 {
				t.Errorf("%s: got exit %d and %q, want exit 0 and \"q\\r\\nBye.\\r\\n\"\n%s", s.Desc, code, out, s.Stderr.String())
			}
		})
	}
}

// TestCompatRecipes proves the README's recipes for what the default policy
// can't give: each program fails under the default (as asserted) and works
// with the recipe's policy, in the modes the recipe is for.
func TestCompatRecipes(t *testing.T) {
	c := compatSetup(t)
	python := c.install(t, "python.py")
	host := compatLearnHost(t)
	for _, tt := range []struct {
		recipe  string
		mode    string
		argv    []string
		input   string
		without string // what the program prints under the default
		with    *regexp.Regexp
	}{
		{"recipe-host-proc", "root", []string{"/usr/bin/free", "-b"}, "", "",
			regexp.MustCompile(`^ +total +used +free +shared +buff/cache +available\nMem: +\d+`)},
		{"recipe-no-userns", "unprivileged-no-userns", []string{python}, "hello\n",
			"stdin=hello\nfd=PermissionError 13\ncpus=" + host.cpus + "\nsubprocess=child\ntempfile=written\nsqlite=42\npool=PermissionError 13\n",
			regexp.MustCompile(`^stdin=hello\nfd=0,1,2,3\ncpus=` + host.cpus + `\nsubprocess=child\ntempfile=written\nsqlite=42\npool=\[1, 4, 9\]\n$`)},
	} {
		t.Run(tt.recipe, func(t *testing.T) {
			pol := filepath.Join(c.dir, tt.recipe+".toml")
			escapetest.WriteFile(t, pol, compatRead(t, tt.recipe+".toml"), 0o644)
			c.Policies[tt.recipe] = pol
			var m escapetest.Mode
			for _, mm := range escapetest.Modes {
				if mm.Name == tt.mode {
					m = mm
				}
			}
			s := c.Start(t, m, "default", nil, tt.argv)
			s.Send(tt.input)
			out, _ := s.Finish()
			if out != tt.without {
				t.Errorf("%s: under the default got %q, want %q\n%s", s.Desc, out, tt.without, s.Stderr.String())
			}
			s = c.Start(t, m, tt.recipe, nil, tt.argv)
			s.Send(tt.input)
			out, code := s.Finish()
			if code != 0 || !tt.with.MatchString(out) {
				t.Errorf("%s: got exit %d and %q, want exit 0 and %q\n%s", s.Desc, code, out, tt.with, s.Stderr.String())
			}
		})
	}
}
