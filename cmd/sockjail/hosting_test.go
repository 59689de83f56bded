package main

// docs/hosting.md's CTF recipe, run as written: its policy, its check and
// serve commands and its unit command, with the challenge's directory moved
// to a scratch place and the port to a free one.

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/testenv"
)

// recipeSection returns the part of a Markdown file under the level-2
// heading heading, up to the next level-2 heading.
func recipeSection(t *testing.T, file, heading string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## "+heading+"\n")
	if !ok {
		t.Fatalf("%s has no section %q", file, heading)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// recipeBlocks returns the fenced code blocks of lang in a recipe's text.
func recipeBlocks(text, lang string) []string {
	re := regexp.MustCompile("(?s)```" + lang + "\n(.*?)```")
	var blocks []string
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

// recipeCommand returns the sockjail command line of the recipe that
// starts with prefix, split into words.
func recipeCommand(t *testing.T, blocks []string, prefix string) []string {
	t.Helper()
	for _, b := range blocks {
		for _, line := range strings.Split(b, "\n") {
			if strings.HasPrefix(line, prefix) {
				return strings.Fields(line)[1:]
			}
		}
	}
	t.Fatalf("docs/hosting.md has no %q command", prefix)
	return nil
}

func TestHostingCTFRecipe(t *testing.T) {
	hashcash := testenv.LookTool(t, "hashcash")
	const doc = "../../docs/hosting.md"
	const recipeDir = "/srv/ctf/pwn1"
	dir := srvDir(t, "sockjail-ctf-")
	moved := func(s string) string { return strings.ReplaceAll(s, recipeDir, dir) }

	recipe := recipeSection(t, doc, "A CTF challenge")
	policies := recipeBlocks(recipe, "toml")
	if len(policies) != 1 {
		t.Fatalf("docs/hosting.md's CTF recipe has %d toml blocks, want the policy alone", len(policies))
	}
	files := map[string]string{
		"pwn1.toml": moved(policies[0]),
		"chall":     "#!/bin/sh\necho 'pwn1 ready'\nread name\necho \"hello $name, $(cat flag.txt)\"\n",
		"flag.txt":  "flag{recipe-tested}\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	commands := recipeBlocks(recipe, "sh")

	recipeCheck(t, commands, moved)
	s := recipeServe(t, commands, moved)

	// A player: the hashcash line, the stamp, then the challenge.
	c := dialFrom(t, "127.0.0.1", s.addr)
	defer c.Close()
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the challenge: %v (have %q)", err, line)
	}
	words := strings.Fields(line)
	if len(words) != 3 || words[0] != "hashcash" || words[1] != "-mb16" {
		t.Fatalf("challenge line %q, want `hashcash -mb16 RESOURCE` as the recipe says", line)
	}
	stamp, err := exec.Command(hashcash, "-q", words[1], words[2]).Output()
	if err != nil {
		t.Fatalf("%s: %v", strings.TrimSpace(line), err)
	}
	c.Write(stamp)
	bc := &bufConn{c, br}
	if got := readLine(t, bc); got != "pwn1 ready" {
		t.Fatalf("after the stamp: %q, want the challenge's greeting", got)
	}
	c.Write([]byte("player\n"))
	if got := readLine(t, bc); got != "hello player, flag{recipe-tested}" {
		t.Fatalf("the challenge answered %q", got)
	}
	end := s.logs.wait(t, 20*time.Second, msgIs("connection"))
	if end["pow"] != "solved" {
		t.Fatalf("connection line without pow=solved: %v", end)
	}

	socket, service := recipeUnit(t, commands, moved, "pwn1")
	if !strings.Contains(socket, "ListenStream=31337\n") || !strings.Contains(socket, "Accept=no\n") {
		t.Fatalf("pwn1.socket:\n%s", socket)
	}
	if !strings.Contains(service, "serve --policy "+dir+"/pwn1.toml -- "+dir+"/chall") {
		t.Fatalf("pwn1.service:\n%s", service)
	}
}

// recipeScript returns the recipe's shell script (the sh block that starts
// with #!/bin/sh), with moved applied.
func recipeScript(t *testing.T, blocks []string, moved func(string) string, recipe string) string {
	t.Helper()
	for _, b := range blocks {
		if strings.HasPrefix(b, "#!/bin/sh\n") {
			return moved(b)
		}
	}
	t.Fatalf("docs/hosting.md's %s has no script", recipe)
	return ""
}

// recipeCheck runs the recipe's `sockjail check` command, with moved
// applied to its words, and fails unless the policy is ok.
func recipeCheck(t *testing.T, commands []string, moved func(string) string) {
	t.Helper()
	check := recipeCommand(t, commands, "sockjail check")
	for i := range check {
		check[i] = moved(check[i])
	}
	if out, err := exec.Command(testenv.Sockjail(t), check...).CombinedOutput(); err != nil || !strings.Contains(string(out), ": ok") {
		t.Fatalf("sockjail %s: %v\n%s", strings.Join(check, " "), err, out)
	}
}

// recipeServe starts the recipe's `sockjail serve --listen PORT --policy
// POLICY -- PROGRAM`, with moved applied to its words and the port moved to
// a free loopback one.
func recipeServe(t *testing.T, commands []string, moved func(string) string) *serveProc {
	t.Helper()
	serveArgs := recipeCommand(t, commands, "sockjail serve")[1:]
	var args, argv []string
	for i, a := range serveArgs {
		if a == "--" {
			argv = serveArgs[i+1:]
			break
		}
		if i > 0 && serveArgs[i-1] == "--listen" {
			a = "127.0.0.1:0"
		}
		args = append(args, moved(a))
	}
	for i := range argv {
		argv[i] = moved(argv[i])
	}
	return startServe(t, args, argv...)
}

// recipeUnit runs the recipe's `sockjail unit` command, with moved applied
// to its words and --dir moved to a scratch directory, and returns the
// socket and service units it wrote for name.
func recipeUnit(t *testing.T, commands []string, moved func(string) string, name string) (socket, service string) {
	t.Helper()
	unitArgs := recipeCommand(t, commands, "sockjail unit")
	unitDir := t.TempDir()
	for i := range unitArgs {
		unitArgs[i] = moved(unitArgs[i])
		if i > 0 && unitArgs[i-1] == "--dir" {
			unitArgs[i] = unitDir
		}
	}
	if out, err := exec.Command(testenv.Sockjail(t), unitArgs...).CombinedOutput(); err != nil {
		t.Fatalf("sockjail %s: %v\n%s", strings.Join(unitArgs, " "), err, out)
	}
	sock, err := os.ReadFile(filepath.Join(unitDir, name+".socket"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := os.ReadFile(filepath.Join(unitDir, name+".service"))
	if err != nil {
		t.Fatal(err)
	}
	return string(sock), string(svc)
}

// TestHostingBBSRecipe runs docs/hosting.md's telnet BBS as written: its
// board, policy, check, serve and unit commands, with /srv/bbs moved to a
// scratch place, the port to a free one, and two settings shortened so
// that a test can see them act: 2 lines instead of 16, and a 5 s idle
// kick instead of 10 minutes. Callers are telnet clients that agree to
// BINARY (internal/telnet/telnettest), and the download is lrzsz's rz
// against the board's sz.
func TestHostingBBSRecipe(t *testing.T) {
	testenv.LookTool(t, "sz")
	rz := testenv.LookTool(t, "rz")
	const doc = "../../docs/hosting.md"
	const recipeDir = "/srv/bbs"
	dir := srvDir(t, "sockjail-bbs-")
	moved := func(s string) string { return strings.ReplaceAll(s, recipeDir, dir) }

	recipe, _, _ := strings.Cut(recipeSection(t, doc, "A telnet BBS"), rloginDoorsHeading)
	policies := recipeBlocks(recipe, "toml")
	if len(policies) != 1 {
		t.Fatalf("docs/hosting.md's BBS recipe has %d toml blocks, want the policy alone", len(policies))
	}
	policy := moved(policies[0])
	for _, r := range []struct{ old, new string }{
		{"\nmax_connections = 16\n", "\nmax_connections = 2\n"},
		{"\nidle_timeout = \"10m\"\n", "\nidle_timeout = \"5s\"\n"},
	} {
		if !strings.Contains(policy, r.old) {
			t.Fatalf("the BBS policy has no %q line to shorten", strings.TrimSpace(r.old))
		}
		policy = strings.Replace(policy, r.old, r.new, 1)
	}
	commands := recipeBlocks(recipe, "sh")
	board := recipeScript(t, commands, moved, "BBS recipe")
	files := filepath.Join(dir, "files")
	if err := os.Mkdir(files, 0o755); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<20)
	rand.Read(data)
	for name, body := range map[string][]byte{"bbs.toml": []byte(policy), "board": []byte(board), "files/door.zip": data} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	recipeCheck(t, commands, moved)
	s := recipeServe(t, commands, moved)

	// Two callers take both lines: nodes 1 and 2. A third is told the
	// lines are busy.
	first := newCaller(t, dialFrom(t, "127.0.0.1", s.addr))
	first.expect("You are on node 1.\r\n")
	second := newCaller(t, dialFrom(t, "127.0.0.2", s.addr))
	second.expect("You are on node 2.\r\n")
	third := dialFrom(t, "127.0.0.3", s.addr)
	if got := readLine(t, third); got != "All lines are busy. Please call back later.\r" && got != "All lines are busy. Please call back later." {
		t.Fatalf("a caller past the lines got %q", got)
	}
	third.Close()

	// The first downloads the file by ZMODEM and says goodbye.
	first.expect("[F]iles, [G]oodbye: ")
	first.send("f\r")
	first.expect("Start your ZMODEM download now.\r\n")
	got := t.TempDir()
	first.transfer(got, rz, "-q", "-y")
	if b, err := os.ReadFile(filepath.Join(got, "door.zip")); err != nil || sha256.Sum256(b) != sha256.Sum256(data) {
		t.Fatalf("downloaded door.zip: %v, %d bytes, or its sha256 differs", err, len(b))
	}
	first.expect("[F]iles, [G]oodbye: ")
	first.send("g\r")
	first.expect("Thanks for calling.")
	first.hangUp()

	// Node 1 is free again for the next caller once the first hung up.
	s.logs.wait(t, 20*time.Second, func(m map[string]any) bool {
		return m["msg"] == "connection" && m["node"] == float64(1)
	})
	next := newCaller(t, dialFrom(t, "127.0.0.4", s.addr))
	next.expect("You are on node 1.\r\n")
	next.send("g\r")
	next.expect("Thanks for calling.")
	next.hangUp()

	// The second never typed: the idle kick.
	if rest := second.hangUp(); !strings.HasSuffix(rest, "You have been idle too long. The line is free for the next caller.\r\n") {
		t.Fatalf("the idle caller's session ended with %q", rest)
	}
	s.logs.wait(t, 20*time.Second, func(m map[string]any) bool {
		return m["msg"] == "connection" && m["node"] == float64(2) && m["killed"] == "idle-timeout"
	})

	socket, service := recipeUnit(t, commands, moved, "bbs")
	if !strings.Contains(socket, "ListenStream=23\n") || !strings.Contains(service, "serve --policy "+dir+"/bbs.toml -- "+dir+"/board") {
		t.Fatalf("bbs.socket:\n%s\nbbs.service:\n%s", socket, service)
	}
}
