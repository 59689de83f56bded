package policy

import (
	"bytes"
	"sort"
	"strconv"

	"github.com/pelletier/go-toml/v2/unstable"
)

// position is a 1-based line and column.
type position struct{ Line, Column int }

// posIndex maps a key path to where its key and its value are written in
// the file. A path is the dotted key ("connection.flush_timeout"); array
// elements add "[i]" ("filesystem.read_only[2]") and inline-table entries
// add ".key" ("program.env.LANG").
//
// go-toml's decoder reports positions only for syntax and type errors, so
// semantic errors (a relative path, a port out of range) take their
// position from this index, built from go-toml's own parser.
type posIndex struct {
	keys   map[string]position
	values map[string]position
	lines  []int // byte offset of each line start
}

// newPosIndex parses data, which must already have decoded without error.
func newPosIndex(data []byte) *posIndex {
	ix := &posIndex{keys: map[string]position{}, values: map[string]position{}}
	ix.lines = append(ix.lines, 0)
	for i, c := range data {
		if c == '\n' {
			ix.lines = append(ix.lines, i+1)
		}
	}
	var p unstable.Parser
	p.Reset(data)
	var table string // the current [table] header's path
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			path, first := ix.keyPath("", e.Key())
			table = path
			ix.keys[path] = first
			ix.values[path] = first
		case unstable.KeyValue:
			path, first := ix.keyPath(table, e.Key())
			ix.keys[path] = first
			ix.value(path, e.Value())
		}
	}
	// A parse error here can't happen for data that decoded; if it did, the
	// index is merely incomplete and positions fall back to the table's.
	return ix
}

// keyPath joins the parts of a dotted key onto prefix, records the
// position of each part under its own prefix path (so that an unknown key
// in "program.shell = 1" points at "shell"), and returns the full path and
// the position of its last part.
func (ix *posIndex) keyPath(prefix string, it unstable.Iterator) (string, position) {
	path := prefix
	var last position
	for it.Next() {
		n := it.Node()
		last = ix.at(n.Raw)
		if path != "" {
			path += "."
		}
		path += string(n.Data)
		if _, ok := ix.keys[path]; !ok {
			ix.keys[path] = last
		}
	}
	return path, last
}

// value records v at path, and its elements or entries below it.
func (ix *posIndex) value(path string, v *unstable.Node) {
	ix.values[path] = ix.at(v.Raw)
	switch v.Kind {
	case unstable.Array:
		it := v.Children()
		for i := 0; it.Next(); i++ {
			ix.value(path+"["+strconv.Itoa(i)+"]", it.Node())
		}
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			kv := it.Node()
			sub, first := ix.keyPath(path, kv.Key())
			ix.keys[sub] = first
			ix.value(sub, kv.Value())
		}
	}
	// Arrays and inline tables have no Raw range of their own in go-toml;
	// give them their first element's position, or the key's.
	if p := ix.values[path]; p.Line == 0 {
		if first, ok := ix.values[path+"[0]"]; ok {
			ix.values[path] = first
		} else {
			ix.values[path] = ix.keys[path]
		}
	}
}

// at converts a byte range to the position of its start. A zero range (a
// node go-toml gave no range) gives the zero position.
func (ix *posIndex) at(r unstable.Range) position {
	if r.Offset == 0 && r.Length == 0 {
		return position{}
	}
	return ix.offset(int(r.Offset))
}

// offset converts a byte offset to a position.
func (ix *posIndex) offset(off int) position {
	line := sort.Search(len(ix.lines), func(i int) bool { return ix.lines[i] > off }) - 1
	return position{Line: line + 1, Column: off - ix.lines[line] + 1}
}

// Value returns the position of the value at path, or of the nearest
// enclosing key that is written (a table header), or 1:1.
func (ix *posIndex) Value(path string) position {
	for {
		if p, ok := ix.values[path]; ok && p.Line != 0 {
			return p
		}
		if p, ok := ix.keys[path]; ok && p.Line != 0 {
			return p
		}
		i := lastSep(path)
		if i < 0 {
			return position{1, 1}
		}
		path = path[:i]
	}
}

// Key returns the position of the key at path, falling back like Value.
func (ix *posIndex) Key(path string) position {
	if p, ok := ix.keys[path]; ok && p.Line != 0 {
		return p
	}
	return ix.Value(path)
}

// Has reports whether path is written in the file.
func (ix *posIndex) Has(path string) bool {
	_, ok := ix.keys[path]
	return ok
}

// lastSep returns the index of the last "." or "[" in path, or -1.
func lastSep(path string) int {
	return bytes.LastIndexAny([]byte(path), ".[")
}
