package policy

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a policy file, at a 1-based line and column
// (bytes, as go-toml counts them). Line is 0 when the problem is with the
// file as a whole, such as a file that can't be read.
type Error struct {
	File   string
	Line   int
	Column int
	Msg    string
	// Err is the underlying error, if any (an *fs.PathError for a file that
	// can't be read).
	Err error
}

// Error returns "file:line:column: message", or "file: message" when the
// problem has no position.
func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// ErrorList is every problem found in a policy file, in file order. Load
// and Parse return an ErrorList, never a bare *Error, so that callers can
// print every problem at once.
type ErrorList []*Error

// Error returns one "file:line:column: message" per line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the individual errors, for errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// sort orders l by position and drops exact duplicates (the same message at
// the same place, which contradictions found from both sides would give).
func (l ErrorList) sorted() ErrorList {
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].Line != l[j].Line {
			return l[i].Line < l[j].Line
		}
		return l[i].Column < l[j].Column
	})
	out := l[:0]
	for i, e := range l {
		if i > 0 && *e == *l[i-1] {
			continue
		}
		out = append(out, e)
	}
	return out
}
