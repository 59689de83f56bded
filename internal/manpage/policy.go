package manpage

import (
	"fmt"

	"github.com/sockjail/sockjail/policy"
)

// PolicyPage returns sockjail.toml(5): the policy file format, every key
// with its type, default and meaning, and the embedded default, from the
// same table that docs/policy.md is generated from.
func PolicyPage() []byte {
	p := New("sockjail.toml", "5", "sockjail policy files", "File Formats")
	p.Section("Synopsis")
	p.Literal("/etc/sockjail/SERVICE.toml")
	p.Section("Description")
	p.Text(policy.ReferenceIntro)
	for _, t := range policy.Reference() {
		if t.Name == "" {
			p.Section("Top-level keys")
		} else {
			p.Section(fmt.Sprintf("[%s]", t.Name))
		}
		p.Text(t.Doc)
		for _, k := range t.Keys {
			p.Tagged(k.Name, fmt.Sprintf("(%s, default `%s`)", k.Type, k.Default), k.Doc)
		}
	}
	p.Section("The default policy")
	p.Text("The embedded default, as `sockjail policy show` prints it:")
	p.Literal(string(policy.DefaultTOML()))
	p.Section("See also")
	p.Text("sockjail(1), systemd.exec(5), landlock(7), seccomp(2). The same reference, with the syscall groups, is in docs/policy.md and docs/syscalls.md of sockjail's sources.")
	return p.Bytes()
}
