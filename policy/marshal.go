package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strings"
)

// Marshal returns p as a policy file with every key written, in schema
// order: the effective policy, which Parse reads back to an equal policy
// (see [Policy.Equal]). It has no comments, so that [Policy.Hash] changes
// only when the policy does. Source is not written.
func (p *Policy) Marshal() ([]byte, error) {
	var b strings.Builder
	cur := ""
	for _, k := range keys {
		t, name := tableOf(k.path)
		if t != cur {
			b.WriteString("\n[" + t + "]\n")
			cur = t
		}
		b.WriteString(name + " = " + k.format(p) + "\n")
	}
	return []byte(b.String()), nil
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
