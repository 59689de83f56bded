package main

// The manual page sockjail(1) and the bash completion are generated from
// the commands' own --help, so that they can't drift from it; these tests
// fail when the committed copies in docs/ are out of date, and rewrite
// them with -update.

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sockjail/sockjail/internal/manpage"
	"github.com/sockjail/sockjail/internal/manpage/mantest"
	"github.com/sockjail/sockjail/internal/testenv"
)

var updateMan = flag.Bool("update", false, "rewrite docs/man/sockjail.1 and docs/completion/sockjail.bash from the commands' help")

const regenMan = "go test ./cmd/sockjail -run 'TestManPage|TestBashCompletion' -update"

// help is one command's --help, split into its parts.
type help struct {
	synopsis    []string
	description string
	flags       []flagHelp
}

// flagHelp is one flag as the flag package prints it: "-name VALUE" and
// its doc.
type flagHelp struct {
	name, value, doc string
}

// commandHelp runs `sockjail NAME --help` in-process and parses what it
// prints on stdout: "Usage:" and the indented synopsis lines, the
// description, and "Flags:" with the flag package's defaults.
func commandHelp(t *testing.T, name string) help {
	t.Helper()
	out := captureStdout(t, func() {
		if code := dispatch([]string{name, "--help"}); code != 0 {
			t.Errorf("sockjail %s --help exited %d", name, code)
		}
	})
	text, ok := strings.CutPrefix(out, "Usage:\n")
	if !ok {
		t.Fatalf("sockjail %s --help does not start with \"Usage:\":\n%s", name, out)
	}
	var h help
	lines := strings.Split(text, "\n")
	i := 0
	for ; i < len(lines) && strings.HasPrefix(lines[i], "  "); i++ {
		h.synopsis = append(h.synopsis, strings.TrimSpace(lines[i]))
	}
	rest := strings.Join(lines[i:], "\n")
	desc, flags, _ := strings.Cut(rest, "\nFlags:\n")
	h.description = strings.TrimSpace(desc)
	for _, l := range strings.Split(flags, "\n") {
		switch {
		case strings.HasPrefix(l, "  -"):
			head := strings.TrimPrefix(l, "  ")
			var f flagHelp
			// A short flag's doc follows on the same line after a tab.
			head, doc, _ := strings.Cut(head, "\t")
			f.name, f.value, _ = strings.Cut(strings.TrimSpace(head), " ")
			f.doc = strings.TrimSpace(doc)
			h.flags = append(h.flags, f)
		case strings.HasPrefix(l, "    \t") && len(h.flags) > 0:
			f := &h.flags[len(h.flags)-1]
			f.doc = strings.TrimSpace(f.doc + " " + strings.TrimSpace(l))
		}
	}
	return h
}

// captureStdout returns what f writes to os.Stdout.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	defer func() { os.Stdout = saved }()
	f()
	w.Close()
	return <-done
}

func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// exitCodes reads internal/exitcode's constants with their doc comments,
// the one source of the exit codes' meanings.
func exitCodes(t *testing.T) [][2]string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join("..", "..", "internal", "exitcode", "exitcode.go"), nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var codes [][2]string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			lit, ok := v.Values[0].(*ast.BasicLit)
			if !ok {
				continue
			}
			doc := strings.Join(strings.Fields(v.Doc.Text()), " ")
			// "Usage: bad command line …": the name is for Go readers.
			if _, after, ok := strings.Cut(doc, ": "); ok {
				doc = after
			}
			if v.Names[0].Name == "SignalBase" {
				codes = append(codes, [2]string{"128+N", "The program was killed by signal N."})
				continue
			}
			codes = append(codes, [2]string{lit.Value, doc})
		}
	}
	return codes
}

// manPage builds sockjail(1).
func manPage(t *testing.T) []byte {
	p := manpage.New("sockjail", "1", "serve programs on TCP sockets, confined, with a correct flush-then-close", "User Commands")
	p.Section("Synopsis")
	var syn []string
	for _, n := range commandNames() {
		syn = append(syn, commandHelp(t, n).synopsis...)
	}
	p.Literal(strings.Join(syn, "\n"))

	p.Section("Description")
	p.Text(`sockjail wraps a program that talks to one client on its stdin and stdout. For every connection it confines the program by a per-service policy file (see sockjail.toml(5)): a private /tmp, Landlock rules for files and TCP ports, a seccomp syscall filter, dropped privileges and resource limits. It hands the program the socket directly, and when the program ends it waits until the client has acknowledged every byte and closes without a TCP reset.

It runs as systemd's ` + "`ExecStart=`" + ` helper for ` + "`Accept=yes`" + ` socket units, under inetd or socat (` + "`sockjail run`" + `), or accepts the connections itself (` + "`sockjail serve`" + `). sockjail writes one line per connection to its stderr, and never writes log text to the client.`)

	p.Section("Commands")
	for _, n := range commandNames() {
		h := commandHelp(t, n)
		p.Subsection("sockjail " + n)
		p.Literal(strings.Join(h.synopsis, "\n"))
		p.Text(h.description)
		for _, f := range h.flags {
			tag := "-" + strings.TrimLeft(f.name, "-")
			if len(tag) > 2 {
				tag = "-" + tag
			}
			p.Tagged(tag, f.value, f.doc)
		}
	}

	p.Section("Exit status")
	p.Text("When the program ran, sockjail exits with the program's own status, so that systemd's `ExecStart=-` and `SuccessExitStatus=` see the program. Its own failures have these codes:")
	for _, c := range exitCodes(t) {
		p.Tagged(c[0], "", c[1])
	}

	p.Section("Environment")
	p.Text("sockjail passes none of its own environment to the program except what the policy's `env` sets and `pass_env` names, and adds the connection's variables. It reads:")
	for _, e := range [][2]string{
		{"LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES", "systemd's socket activation (sd_listen_fds(3)): `run --accept` and `serve` take their sockets from them."},
		{"REMOTE_ADDR, REMOTE_PORT", "the client's address, as systemd sets it for `Accept=yes` services."},
		{"SOCAT_PEERADDR, SOCAT_PEERPORT, SOCAT_SOCKADDR, SOCAT_SOCKPORT", "the addresses socat sets for an `EXEC:` child, whose stdin has no address of its own."},
		{"NOTIFY_SOCKET", "`serve` reports readiness, reloads and stopping to systemd (sd_notify(3))."},
	} {
		p.Tagged(e[0], "", e[1])
	}
	p.Text("The program gets `REMOTE_ADDR` and `REMOTE_PORT`, and the UCSPI variables `PROTO`, `TCPREMOTEIP`, `TCPREMOTEPORT`, `TCPLOCALIP` and `TCPLOCALPORT`.")

	p.Section("Files")
	p.Tagged("/etc/sockjail/SERVICE.toml", "", "A service's policy, by convention; see sockjail.toml(5). Without `--policy`, the embedded default applies (`sockjail policy show`).")
	p.Tagged("/etc/systemd/system/NAME.socket, NAME@.service, NAME.service", "", "The units `sockjail unit --dir /etc/systemd/system` writes.")
	p.Tagged("/usr/share/doc/sockjail/examples", "", "Example policies.")

	p.Section("Examples")
	p.Text("Serve a script on a port, with the embedded default policy:")
	p.Literal("sockjail serve --listen 127.0.0.1:31337 -- /usr/local/bin/helloworld")
	p.Text("The same under systemd, one service instance per connection:")
	p.Literal(`sockjail check /etc/sockjail/helloworld.toml
sockjail unit --name helloworld --listen 31337 \
    --policy /etc/sockjail/helloworld.toml --dir /etc/systemd/system \
    -- /usr/local/bin/helloworld
systemctl daemon-reload
systemctl enable --now helloworld.socket`)
	p.Text("Under socat or systemd-socket-activate:")
	p.Literal(`socat TCP-LISTEN:31337,reuseaddr,fork EXEC:"sockjail run -- /usr/local/bin/helloworld"
systemd-socket-activate -l 127.0.0.1:31337 --accept --inetd \
    sockjail run -- /usr/local/bin/helloworld`)

	p.Section("See also")
	p.Text("sockjail.toml(5), systemd.socket(5), systemd.exec(5), socat(1), landlock(7), seccomp(2). The README and docs/ of sockjail's sources (in /usr/share/doc/sockjail when installed from the package) explain each mode and the design.")
	return p.Bytes()
}

func TestManPage(t *testing.T) {
	page := manPage(t)
	mantest.CheckCurrent(t, filepath.Join("..", "..", "docs", "man", "sockjail.1"), page, *updateMan, regenMan)
	mantest.CheckRenders(t, page)
	// Every command and each of its flags is in the page.
	for _, n := range commandNames() {
		if !strings.Contains(string(page), ".SS \"sockjail "+n+"\"") {
			t.Errorf("sockjail(1) has no section for %s", n)
		}
	}
}

// bashCompletion builds the completion script: the commands, and each
// command's flags.
func bashCompletion(t *testing.T) []byte {
	var b strings.Builder
	b.WriteString("# bash completion for sockjail. Generated from the commands' --help by\n# " + regenMan + "; do not edit.\n\n")
	b.WriteString("_sockjail() {\n\tlocal cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]} i\n")
	b.WriteString("\t# After \"--\" comes the program and its arguments: complete files.\n")
	b.WriteString("\tfor ((i = 2; i < COMP_CWORD; i++)); do\n\t\tif [[ ${COMP_WORDS[i]} == -- ]]; then\n\t\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n\t\t\treturn\n\t\tfi\n\tdone\n")
	fmt.Fprintf(&b, "\tif ((COMP_CWORD == 1)); then\n\t\tCOMPREPLY=($(compgen -W %q -- \"$cur\"))\n\t\treturn\n\tfi\n", strings.Join(append(commandNames(), "--help", "--version"), " "))
	b.WriteString("\tlocal flags\n\tcase $cmd in\n")
	for _, n := range commandNames() {
		var flags []string
		for _, f := range commandHelp(t, n).flags {
			flags = append(flags, "--"+strings.TrimLeft(f.name, "-"))
		}
		flags = append(flags, "--help")
		fmt.Fprintf(&b, "\t%s) flags=%q ;;\n", n, strings.Join(flags, " "))
	}
	b.WriteString("\thelp) COMPREPLY=($(compgen -W " + fmt.Sprintf("%q", strings.Join(commandNames(), " ")) + " -- \"$cur\")); return ;;\n")
	b.WriteString("\t*) flags=--help ;;\n\tesac\n")
	b.WriteString("\tif [[ $cur == -* ]]; then\n\t\tCOMPREPLY=($(compgen -W \"$flags\" -- \"$cur\"))\n\telse\n\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n\tfi\n}\ncomplete -o filenames -F _sockjail sockjail\n")
	return []byte(b.String())
}

func TestBashCompletion(t *testing.T) {
	script := bashCompletion(t)
	mantest.CheckCurrent(t, filepath.Join("..", "..", "docs", "completion", "sockjail.bash"), script, *updateMan, regenMan)
}

// TestBashCompletionWorks loads the generated script into a real bash and
// completes a command name, a flag, and a file after "--".
func TestBashCompletionWorks(t *testing.T) {
	bash := testenv.LookTool(t, "bash")
	script := filepath.Join(t.TempDir(), "sockjail.bash")
	if err := os.WriteFile(script, bashCompletion(t), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.sh"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		words string
		want  string
	}{
		{"sockjail ser", "serve"},
		{"sockjail run --pol", "--policy"},
		{"sockjail help pro", "probe"},
		{"sockjail run -- hel", "hello.sh"},
	} {
		words := strings.Fields(tc.words)
		cmd := exec.Command(bash, "-c", `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _sockjail; printf '%s\n' "${COMPREPLY[@]}"`, "bash", script)
		cmd.Args = append(cmd.Args, words...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("completing %q: %v\n%s", tc.words, err, out)
		}
		if got := strings.Fields(string(out)); !slices.Contains(got, tc.want) {
			t.Errorf("completing %q gave %q, want %q among them", tc.words, got, tc.want)
		}
	}
}
