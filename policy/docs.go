package policy

import (
	"bytes"
	"fmt"
	"strings"
)

// The two generated documents. docs_test.go fails when the committed files
// in docs/ differ from these, and rewrites them with -update.

const generatedNote = "<!-- Generated from package policy; do not edit. Regenerate with: go test ./policy -run TestDocsCurrent -update -->\n"

// ReferenceIntro is the reference's opening: how a policy file is written,
// in markdown (paragraphs, "- " lists and `code`). The man page
// sockjail.toml(5) opens with the same text.
const ReferenceIntro = `A policy is a TOML file, one per service (for example
/etc/sockjail/hello.toml), given to ` + "`sockjail run --policy FILE`" + ` or
` + "`sockjail serve --policy FILE`" + `. Without ` + "`--policy`" + `, the embedded default
applies; ` + "`sockjail policy show`" + ` prints it.

- Every key is optional. A key left out takes the default below. A list or
  table you write replaces the default entirely (it is not merged), so a
  policy that adds a path to ` + "`read_only`" + ` lists the default paths too.
- Unknown keys, wrong types, bad values and contradictions are errors,
  reported as ` + "`FILE:LINE:COLUMN: message`" + ` by ` + "`sockjail check`" + `. Nothing is
  silently ignored or widened.
- Durations are written with a unit: ` + "`\"30s\"`, `\"5m\"`, `\"1h30m\"`, `\"250ms\"`" + `, or
  ` + "`\"0\"`" + `. Sizes are bytes, or binary units: ` + "`\"64MiB\"`" + ` (B, KiB, MiB, GiB, TiB).
- Paths are absolute and clean. A leading ` + "`-`" + ` (` + "`\"-/lib64\"`" + `) ignores a path
  that doesn't exist; without it, a missing path refuses the connection.
- A file has at most 1 MiB of UTF-8 text. An empty file is the default
  policy.
`

// ReferenceTable is one table of the schema, as the reference documents
// present it; Name is "" for the top-level keys.
type ReferenceTable struct {
	Name string
	Doc  string
	Keys []ReferenceKey
}

// ReferenceKey is one key: its name within its table, its type, its
// default as TOML, and what it means (markdown with `code`).
type ReferenceKey struct {
	Name, Type, Default, Doc string
}

// Reference returns every table and key of the schema in file order, from
// the same table that Parse and Marshal use, with the embedded default's
// values.
func Reference() []ReferenceTable {
	def := Default()
	out := make([]ReferenceTable, 0, len(tables))
	for _, t := range tables {
		rt := ReferenceTable{Name: t.name, Doc: t.doc}
		for _, k := range keys {
			table, name := tableOf(k.path)
			if table == t.name {
				rt.Keys = append(rt.Keys, ReferenceKey{Name: name, Type: k.typ, Default: k.format(def), Doc: k.doc})
			}
		}
		out = append(out, rt)
	}
	return out
}

// ReferenceMarkdown returns docs/policy.md: the intro, then every table of
// Reference with its keys, then the embedded default.
func ReferenceMarkdown() []byte {
	var b bytes.Buffer
	b.WriteString("# Policy reference\n\n" + generatedNote + "\n")
	b.WriteString(ReferenceIntro + "\n")
	for _, t := range Reference() {
		if t.Name == "" {
			b.WriteString("## Top-level keys\n\n")
		} else {
			fmt.Fprintf(&b, "## [%s]\n\n", t.Name)
		}
		b.WriteString(t.Doc + "\n\n")
		b.WriteString("| Key | Type | Default | Meaning |\n|---|---|---|---|\n")
		for _, k := range t.Keys {
			fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s |\n", k.Name, mdCell(k.Type), mdCell(k.Default), mdCell(k.Doc))
		}
		b.WriteString("\n")
	}
	b.WriteString("## The default policy\n\nThe embedded default, as `sockjail policy show` prints it with its comments:\n\n```toml\n")
	b.Write(defaultTOML)
	b.WriteString("```\n")
	return b.Bytes()
}

// SyscallsMarkdown returns docs/syscalls.md: every group, its description,
// the groups it includes and its own syscalls, then the syscalls in no
// group, then what the default policy allows.
func SyscallsMarkdown() []byte {
	var b bytes.Buffer
	b.WriteString("# Syscall groups\n\n" + generatedNote + "\n")
	b.WriteString(`A policy's ` + "`[syscalls]`" + ` allow and deny lists take syscall names and these
groups. The groups have systemd's names and, as of systemd 252, its
members (` + "`systemd-analyze syscall-filter`" + `), limited to the x86-64 syscall
table; ` + "`@sandbox`" + ` follows later systemd versions. Syscalls newer than systemd
252 are placed with their nearest relatives: futex2, ` + "`mseal`" + ` and
` + "`map_shadow_stack`" + ` in ` + "`@default`" + `; the ` + "`*xattrat`" + `, ` + "`file_getattr`" + `,
` + "`file_setattr`" + ` and ` + "`cachestat`" + ` calls in ` + "`@file-system`" + `; ` + "`open_tree_attr`" + `,
` + "`statmount`" + ` and ` + "`listmount`" + ` in ` + "`@mount`" + `.

` + "`sockjail policy syscalls`" + ` lists the groups, and ` + "`sockjail policy syscalls @GROUP`" + `
prints one group's syscalls with its included groups expanded.

| Group | Description | Includes | Syscalls |
|---|---|---|---|
`)
	grouped := map[string]bool{}
	for _, g := range SyscallGroups() {
		def, _ := lookupSyscallGroup(g)
		var inc, own []string
		for _, m := range def.members {
			if strings.HasPrefix(m, "@") {
				inc = append(inc, "`"+m+"`")
			} else {
				own = append(own, m)
				grouped[m] = true
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", g, mdCell(def.help), strings.Join(inc, ", "), strings.Join(own, ", "))
	}
	var none []string
	for _, s := range SyscallNames() {
		if !grouped[s] {
			none = append(none, s)
		}
	}
	fmt.Fprintf(&b, "\n## Syscalls in no group\n\nThese %d are allowed only when a policy names them:\n\n%s\n", len(none), strings.Join(none, ", "))

	allowed, _ := Default().Syscalls.Resolve()
	names := make([]string, len(allowed))
	for i, s := range allowed {
		names[i] = s.Name
	}
	d := Default().Syscalls
	fmt.Fprintf(&b, "\n## The default policy\n\nallow %s, deny %s: these %d syscalls.\n\n%s\n", mdCell(quoteList(d.Allow)), mdCell(quoteList(d.Deny)), len(names), strings.Join(names, ", "))
	return b.Bytes()
}

// mdCell escapes text for a markdown table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
