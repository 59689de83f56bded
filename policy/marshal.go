package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Marshal returns p as a policy file with every key written, in schema
// order: the effective policy, which Parse reads back to an equal policy
// (see [Policy.Equal]). It has no comments, so that [Policy.Hash] changes
// only when the policy does. Source is not written.
func (p *Policy) Marshal() ([]byte, error) { return p.MarshalCommented(Comments{}) }

// Comments are the comments [Policy.MarshalCommented] writes into a policy
// file, for a file that explains itself (what `sockjail learn` writes).
type Comments struct {
	// Header is written at the top of the file.
	Header []string
	// Keys maps a key's path ("filesystem.read_only", "version") or a list
	// element's path ("filesystem.read_only[2]", as in Parse's errors) to
	// the lines written above it. A list with a commented element is
	// written one element per line.
	Keys map[string][]string
	// KeepImplicit writes the keys whose value p's file did not write and
	// whose meaning changes once written (filesystem.proc, terminal.pty,
	// and the session bounds memory, tasks and cpu_quota, which a written
	// key enforces even where sockjail can't make a cgroup) as comments,
	// so that the file read back keeps them implicit.
	KeepImplicit bool
}

// MarshalCommented returns what Marshal does, with comments: c.Header
// first, then each key's and each list element's lines of c.Keys above
// it, "# " before each line. A line break in a comment starts a new
// comment line, and control characters are written escaped ("\x1b"), so
// no comment can change what the file says. With no comments the output
// is Marshal's. A key in c.Keys that the schema doesn't have, or an element
// past the end of its list, is an error: the comment would be lost.
func (p *Policy) MarshalCommented(c Comments) ([]byte, error) {
	commentedLists, err := c.check(p)
	if err != nil {
		return nil, err
	}
	// A key is left implicit only where reading the file back gives it
	// the same value (a proc = false set by a caller, say, is written):
	// read it back and write again those keys that came out differently.
	implicit := map[string]bool{}
	if c.KeepImplicit {
		for _, k := range keys {
			if k.implicit != nil && k.implicit(p) {
				implicit[k.path] = true
			}
		}
	}
	for {
		text := p.marshal(c, commentedLists, implicit)
		// A file too large to read back is refused by Parse whatever
		// its keys say: return it as it is, for the caller to report.
		if len(implicit) == 0 || len(text) > MaxFileSize {
			return text, nil
		}
		back, err := Parse("", text)
		if err != nil {
			return nil, fmt.Errorf("reading back the policy with implicit keys: %w", err)
		}
		changed := false
		for path := range implicit {
			if k := keyIndex[path]; k.format(back) != k.format(p) {
				delete(implicit, path)
				changed = true
			}
		}
		if !changed {
			return text, nil
		}
	}
}

// marshal writes p with c's comments, the lists in commentedLists one
// element per line, and the keys in implicit as comments.
func (p *Policy) marshal(c Comments, commentedLists, implicit map[string]bool) []byte {
	var b strings.Builder
	writeComment(&b, "", c.Header)
	cur := ""
	for _, k := range keys {
		t, name := tableOf(k.path)
		if t != cur {
			b.WriteString("\n")
			writeComment(&b, "", c.Keys[t])
			b.WriteString("[" + t + "]\n")
			cur = t
		}
		writeComment(&b, "", c.Keys[k.path])
		if implicit[k.path] {
			b.WriteString("# " + name + " = " + k.format(p) + "  (left implicit: see docs/policy.md)\n")
			continue
		}
		if !commentedLists[k.path] {
			b.WriteString(name + " = " + k.format(p) + "\n")
			continue
		}
		b.WriteString(name + " = [\n")
		for i, e := range k.elems(p) {
			writeComment(&b, "  ", c.Keys[elementPath(k.path, i)])
			b.WriteString("  " + e + ",\n")
		}
		b.WriteString("]\n")
	}
	return []byte(b.String())
}

// check reports a comment for a key or element that doesn't exist, and
// returns the list keys with a commented element.
func (c Comments) check(p *Policy) (commentedLists map[string]bool, err error) {
	commentedLists = map[string]bool{}
	lengths := map[string]int{}
	for path := range c.Keys {
		if tableIndex[path] && path != "" {
			continue
		}
		key, i, isElem := splitElementPath(path)
		k, ok := keyIndex[key]
		if !ok {
			return nil, fmt.Errorf("comment for %q: no such key", path)
		}
		if !isElem {
			continue
		}
		if k.elems == nil {
			return nil, fmt.Errorf("comment for %q: %s is not a list", path, key)
		}
		n, ok := lengths[key]
		if !ok {
			n = len(k.elems(p))
			lengths[key] = n
		}
		if i < 0 || i >= n {
			return nil, fmt.Errorf("comment for %q: %s has %d elements", path, key, n)
		}
		commentedLists[key] = true
	}
	return commentedLists, nil
}

func elementPath(key string, i int) string { return key + "[" + strconv.Itoa(i) + "]" }

// splitElementPath splits "table.key[i]" into "table.key" and i.
func splitElementPath(path string) (key string, i int, isElem bool) {
	open := strings.LastIndexByte(path, '[')
	if open < 0 || !strings.HasSuffix(path, "]") {
		return path, 0, false
	}
	i, err := strconv.Atoi(path[open+1 : len(path)-1])
	if err != nil {
		return path, 0, false
	}
	return path[:open], i, true
}

// writeComment writes lines as comment lines, indented by indent.
func writeComment(b *strings.Builder, indent string, lines []string) {
	for _, l := range lines {
		for _, part := range strings.Split(l, "\n") {
			b.WriteString(indent)
			b.WriteString(strings.TrimRight("# "+escapeComment(part), " "))
			b.WriteString("\n")
		}
	}
}

// escapeComment makes s safe in a TOML comment, which may hold no control
// character but tab and must be UTF-8: others are written as \xNN, and
// invalid UTF-8 as the replacement character.
func escapeComment(s string) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if (r < 0x20 && r != '\t') || r == 0x7f {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Hash returns the SHA-256 of p's Marshal output, in hex: equal policies
// have equal hashes, whatever file they came from.
func (p *Policy) Hash() string {
	data, _ := p.Marshal()
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Equal reports whether p and q are the same policy: every setting equal.
// Source, Terminal.PTYExplicit, Filesystem.ProcExplicit, Limits.Written and
// the file's text, which record how the policy was written, are not
// compared.
func (p *Policy) Equal(q *Policy) bool {
	a, b := p.Clone(), q.Clone()
	a.Source, b.Source = "", ""
	a.text, b.text = nil, nil
	a.Terminal.PTYExplicit, b.Terminal.PTYExplicit = false, false
	a.Limits.Written, b.Limits.Written = SessionBounds{}, SessionBounds{}
	a.Filesystem.ProcExplicit, b.Filesystem.ProcExplicit = false, false
	return reflect.DeepEqual(a, b)
}
