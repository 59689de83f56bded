package main

// docs/hosting.md's CTF recipe, run as written: its policy, its check and
// serve commands and its unit command, with the challenge's directory moved
// to a scratch place and the port to a free one.

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/testenv"
)

// recipeBlocks returns the fenced code blocks of lang in a Markdown file.
func recipeBlocks(t *testing.T, file, lang string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)```" + lang + "\n(.*?)```")
	var blocks []string
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
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
	testenv.RequireRoot(t)
	const doc = "../../docs/hosting.md"
	const recipeDir = "/srv/ctf/pwn1"
	dir, err := os.MkdirTemp("/srv", "sockjail-ctf-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	moved := func(s string) string { return strings.ReplaceAll(s, recipeDir, dir) }

	policies := recipeBlocks(t, doc, "toml")
	if len(policies) != 1 {
		t.Fatalf("docs/hosting.md has %d toml blocks, want the CTF policy alone", len(policies))
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
	commands := recipeBlocks(t, doc, "sh")
	bin := testenv.Sockjail(t)

	// sockjail check -v POLICY
	check := recipeCommand(t, commands, "sockjail check")
	for i := range check {
		check[i] = moved(check[i])
	}
	if out, err := exec.Command(bin, check...).CombinedOutput(); err != nil || !strings.Contains(string(out), ": ok") {
		t.Fatalf("sockjail %s: %v\n%s", strings.Join(check, " "), err, out)
	}

	// sockjail serve --listen PORT --policy POLICY -- PROGRAM, on a free
	// loopback port.
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
	s := startServe(t, args, argv...)

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

	// sockjail unit --accept=no --name pwn1 ... --dir DIR -- PROGRAM
	unitArgs := recipeCommand(t, commands, "sockjail unit")
	unitDir := t.TempDir()
	for i := range unitArgs {
		unitArgs[i] = moved(unitArgs[i])
		if i > 0 && unitArgs[i-1] == "--dir" {
			unitArgs[i] = unitDir
		}
	}
	if out, err := exec.Command(bin, unitArgs...).CombinedOutput(); err != nil {
		t.Fatalf("sockjail %s: %v\n%s", strings.Join(unitArgs, " "), err, out)
	}
	socket, err := os.ReadFile(filepath.Join(unitDir, "pwn1.socket"))
	if err != nil {
		t.Fatal(err)
	}
	service, err := os.ReadFile(filepath.Join(unitDir, "pwn1.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(socket), "ListenStream=31337\n") || !strings.Contains(string(socket), "Accept=no\n") {
		t.Fatalf("pwn1.socket:\n%s", socket)
	}
	if !strings.Contains(string(service), "serve --policy "+dir+"/pwn1.toml -- "+dir+"/chall") {
		t.Fatalf("pwn1.service:\n%s", service)
	}
}
