package policy

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2"
)

// MaxFileSize is the largest policy file Load and Parse accept. Real
// policies are a few KiB; the limit keeps a wrong path (a log file, a
// device) from being read whole.
const MaxFileSize = 1 << 20

const utf8BOM = "\xef\xbb\xbf"

// DefaultSource is the Source of the embedded default policy.
const DefaultSource = "(default)"

//go:embed default.toml
var defaultTOML []byte

// DefaultTOML returns the text of the embedded default policy, comments
// included.
func DefaultTOML() []byte { return bytes.Clone(defaultTOML) }

var defaultPolicy = sync.OnceValue(func() *Policy {
	p, err := parse(DefaultSource, defaultTOML, &Policy{})
	if err != nil {
		// The embedded file is part of the program and tested; this is a
		// build defect, not bad input.
		panic("the embedded default policy is invalid: " + err.Error())
	}
	// The default's bounds apply where they can; only a policy file
	// that writes one requires it.
	p.Limits.Written = SessionBounds{}
	// The default asks for /proc where the kernel allows it, not at any
	// price: only a file that writes proc itself makes it a requirement.
	p.Filesystem.ProcExplicit = false
	return p
})

// Default returns the embedded default policy, a fresh copy that the
// caller may change. Its Source is [DefaultSource].
func Default() *Policy { return defaultPolicy().Clone() }

// Load reads and parses the policy file at path. A file that can't be read
// (missing, a directory, a symlink loop, over [MaxFileSize]) gives an
// [ErrorList] with one [*Error] naming the file and the OS error.
func Load(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, ErrorList{{File: path, Msg: fmt.Sprintf("can't read policy: %v", unwrapPath(err)), Err: err}}
	}
	defer f.Close()
	// Read one byte past the limit, so that a file that grows or a device
	// without a size is caught too.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, ErrorList{{File: path, Msg: fmt.Sprintf("can't read policy: %v", unwrapPath(err)), Err: err}}
	}
	return Parse(path, data)
}

// unwrapPath drops the *fs.PathError wrapper, whose text repeats the file
// name that the Error already starts with.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// Parse parses a policy file's contents. name is used in error messages
// and as the policy's Source. Keys that data doesn't set take their values
// from [Default]. An empty file is valid and gives the default policy.
//
// On error, Parse returns an [ErrorList] with every problem it found.
// Semantic checks that depend on the machine (users, groups, the uid range
// of user = "dynamic" against /etc/passwd) are done here too, so a policy
// that parsed on one machine may be rejected on another.
func Parse(name string, data []byte) (*Policy, error) {
	return parse(name, data, defaultPolicy())
}

func parse(name string, data []byte, base *Policy) (*Policy, error) {
	if err := checkText(name, data); err != nil {
		return nil, ErrorList{err}
	}
	// A byte order mark, which some editors write, becomes three spaces:
	// TOML allows leading blanks, and columns on line 1 stay right.
	if bytes.HasPrefix(data, []byte(utf8BOM)) {
		data = append([]byte("   "), data[len(utf8BOM):]...)
	}
	var m map[string]any
	if err := toml.Unmarshal(data, &m); err != nil {
		return nil, ErrorList{decodeError(name, err)}
	}
	d := &decoder{file: name, data: data, failedPaths: map[string]bool{}, written: map[string]bool{}}
	p := base.Clone()
	p.Source = name
	p.text = data
	p.Terminal.PTYExplicit = false
	p.Limits.Written = SessionBounds{}
	p.Filesystem.ProcExplicit = false
	d.decode(p, m)
	// Cross-key checks run even after errors, so that one run of `check`
	// shows every problem; a key with a bad value kept its default.
	d.validate(p)
	if len(d.errs) > 0 {
		return nil, d.errs.sorted()
	}
	return p, nil
}

// checkText rejects what is not a small UTF-8 text file, with the position
// of the first bad byte. go-toml would reject it too, with a less helpful
// message.
func checkText(name string, data []byte) *Error {
	if len(data) > MaxFileSize {
		return &Error{File: name, Msg: fmt.Sprintf("policy file is larger than %d bytes: is this the right file?", MaxFileSize)}
	}
	bad := bytes.IndexByte(data, 0)
	what := "a NUL byte"
	if bad < 0 && !utf8.Valid(data) {
		for i := 0; i < len(data); {
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				bad = i
				break
			}
			i += size
		}
		what = "a byte that is not UTF-8"
	}
	if bad < 0 {
		return nil
	}
	line := bytes.Count(data[:bad], []byte{'\n'}) + 1
	col := bad - (bytes.LastIndexByte(data[:bad], '\n') + 1) + 1
	return &Error{File: name, Line: line, Column: col, Msg: "not a text file: " + what + " here; a policy is UTF-8 TOML"}
}

// decodeError turns go-toml's error into an *Error with its position.
func decodeError(name string, err error) *Error {
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		return &Error{File: name, Line: row, Column: col, Msg: msg, Err: err}
	}
	return &Error{File: name, Msg: strings.TrimPrefix(err.Error(), "toml: "), Err: err}
}

// decoder turns the decoded TOML into a Policy, collecting errors with
// positions from the file's index.
type decoder struct {
	file        string
	data        []byte
	ix          *posIndex       // built on the first error: a valid file needs none
	written     map[string]bool // the paths of the keys the file writes
	errs        ErrorList
	failedPaths map[string]bool
}

// index returns the position index of the file, parsing it the first time.
// Only errors need positions, and building the index is a second parse of
// the file, as long as the decoding itself; a good policy skips it on
// every connection.
func (d *decoder) index() *posIndex {
	if d.ix == nil {
		d.ix = newPosIndex(d.data)
	}
	return d.ix
}

func (d *decoder) add(pos position, path, format string, args ...any) {
	d.failedPaths[path] = true
	d.errs = append(d.errs, &Error{File: d.file, Line: pos.Line, Column: pos.Column, Msg: fmt.Sprintf(format, args...)})
}

// errorf reports a problem with the value at path.
func (d *decoder) errorf(path, format string, args ...any) {
	d.add(d.index().Value(path), path, format, args...)
}

// keyErrorf reports a problem with the key at path (an unknown key).
func (d *decoder) keyErrorf(path, format string, args ...any) {
	d.add(d.index().Key(path), path, format, args...)
}

// check reports err, if any, at path, and reports whether there was none.
func (d *decoder) check(path string, err error) bool {
	if err != nil {
		d.errorf(path, "%s", err)
		return false
	}
	return true
}

// failed reports whether an error was reported at path.
func (d *decoder) failed(path string) bool { return d.failedPaths[path] }

// str returns v as a string, or reports an error. Strings with NUL are
// refused: TOML can write them as "\u0000", and a C program would see a
// different string from the one that was checked.
func (d *decoder) str(path string, v any) string {
	s, ok := v.(string)
	if !ok {
		d.errorf(path, "expected a string, got %s", typeName(v))
		return ""
	}
	if strings.ContainsRune(s, 0) {
		d.errorf(path, "string contains a NUL character")
		return ""
	}
	return s
}

// enum returns v when it is one of allowed, or reports an error.
func (d *decoder) enum(path string, v any, allowed ...string) string {
	s, ok := v.(string)
	if !ok || !slices.Contains(allowed, s) {
		d.errorf(path, "expected one of %s, got %s", quoteList(allowed), typeName(v))
		return ""
	}
	return s
}

// list returns v as an array, or reports an error.
func (d *decoder) list(path string, v any) ([]any, bool) {
	l, ok := v.([]any)
	if !ok {
		d.errorf(path, "expected an array, got %s", typeName(v))
	}
	return l, ok
}

// strList returns v as a list of strings that pass check, reporting each
// bad element at its own position. Duplicates are errors.
func (d *decoder) strList(path string, v any, check func(string) error) []string {
	l, ok := d.list(path, v)
	if !ok {
		return nil
	}
	out := []string{}
	seen := map[string]int{}
	for i, e := range l {
		el := fmt.Sprintf("%s[%d]", path, i)
		s, ok := e.(string)
		if !ok {
			d.errorf(el, "expected a string, got %s", typeName(e))
			continue
		}
		if strings.ContainsRune(s, 0) {
			d.errorf(el, "string contains a NUL character")
			continue
		}
		if check != nil && !d.check(el, check(s)) {
			continue
		}
		if j, dup := seen[s]; dup {
			d.errorf(el, "%q is listed twice (also at index %d)", s, j)
			continue
		}
		seen[s] = i
		out = append(out, s)
	}
	return out
}

// decode applies every key of m to p. Keys are visited in sorted order so
// that the result never depends on map order; errors are sorted by
// position afterwards.
func (d *decoder) decode(p *Policy, m map[string]any) {
	for _, k := range sortedKeys(m) {
		v := m[k]
		if def, ok := keyIndex[k]; ok {
			d.written[k] = true
			def.parse(p, v, d)
			continue
		}
		if k == "" || !tableIndex[k] {
			d.keyErrorf(k, "unknown key %q%s", k, suggest(k, ""))
			continue
		}
		t, ok := v.(map[string]any)
		if !ok {
			d.errorf(k, "%q must be a table ([%s]), got %s", k, k, typeName(v))
			continue
		}
		for _, kk := range sortedKeys(t) {
			path := k + "." + kk
			def, ok := keyIndex[path]
			if !ok {
				d.keyErrorf(path, "unknown key %q in [%s]%s", kk, k, suggest(kk, k))
				continue
			}
			d.written[path] = true
			def.parse(p, t[kk], d)
		}
	}
}

// suggest returns ` (did you mean "x"?)` for the known key in table closest
// to k, or where k belongs when it is a key of another table.
func suggest(k, table string) string {
	if len(k) > 64 {
		// No key is that long; and the edit distance is quadratic.
		return ""
	}
	for _, def := range keys {
		t, name := tableOf(def.path)
		if name == k && t != table {
			if t == "" {
				return fmt.Sprintf(" (%q is a top-level key, before any [table])", k)
			}
			return fmt.Sprintf(" (%q belongs in [%s])", k, t)
		}
	}
	best, bestDist := "", 3
	for _, def := range keys {
		t, name := tableOf(def.path)
		if t != table {
			continue
		}
		if dist := editDistance(k, name); dist < bestDist {
			best, bestDist = name, dist
		}
	}
	if table == "" {
		for _, t := range tables {
			if dist := editDistance(k, t.name); t.name != "" && dist < bestDist {
				best, bestDist = t.name, dist
			}
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Clone returns a deep copy of p.
func (p *Policy) Clone() *Policy {
	q := *p
	q.Program.Env = maps.Clone(p.Program.Env)
	if q.Program.Env == nil {
		q.Program.Env = map[string]string{}
	}
	q.Program.PassEnv = cloneSlice(p.Program.PassEnv)
	q.Filesystem.ReadOnly = cloneSlice(p.Filesystem.ReadOnly)
	q.Filesystem.ReadWrite = cloneSlice(p.Filesystem.ReadWrite)
	q.Filesystem.Exec = cloneSlice(p.Filesystem.Exec)
	q.Filesystem.Devices = cloneSlice(p.Filesystem.Devices)
	q.Network.BindTCP = cloneSlice(p.Network.BindTCP)
	q.Network.ConnectTCP = cloneSlice(p.Network.ConnectTCP)
	q.Syscalls.Allow = cloneSlice(p.Syscalls.Allow)
	q.Syscalls.Deny = cloneSlice(p.Syscalls.Deny)
	q.Serve.AllowFrom = cloneSlice(p.Serve.AllowFrom)
	q.Serve.DenyFrom = cloneSlice(p.Serve.DenyFrom)
	return &q
}

// cloneSlice copies s, giving an empty, non-nil slice for nil, so that a
// parsed policy never holds nil lists and compares equal to its round trip.
func cloneSlice[T any](s []T) []T {
	out := make([]T, len(s))
	copy(out, s)
	return out
}
