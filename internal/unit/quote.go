package unit

import (
	"fmt"
	"strings"
)

// ExecLine returns argv as the value of a systemd ExecStart= line, so that
// systemd hands the process exactly argv (see "Command lines" in
// systemd.service(5)). Each argument that needs it is double-quoted with C
// escapes; "%" is written "%%" (specifiers are expanded on the whole line
// before it is split), "$" is written "$$" (environment variables are
// expanded in each argument), and an argument that is a lone ";" is written
// "\;" (a bare ";" separates commands). It does not add the "-", "@", "+"
// or "!" prefixes; the caller puts them before the first word.
func ExecLine(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = execArg(a)
	}
	return strings.Join(q, " ")
}

func execArg(s string) string {
	switch {
	case s == "":
		return `""`
	case s == ";":
		return `\;`
	case isSafe(s, "_@+=:,./-"):
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '%':
			b.WriteString("%%")
		case '$':
			b.WriteString("$$")
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 || c == 0x7f {
				fmt.Fprintf(&b, `\x%02x`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// isSafe reports whether s consists of ASCII letters, digits and bytes of
// extra only.
func isSafe(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

// ShellQuote returns argv as one line that a POSIX shell (bash, dash) splits
// back into argv. Arguments holding control characters (a newline would end
// the comment line it is written into) use bash's $'...' form.
func ShellQuote(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellArg(a)
	}
	return strings.Join(q, " ")
}

func shellArg(s string) string {
	if s != "" && isSafe(s, "_@%+=:,./-") {
		return s
	}
	ctl := false
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			ctl = true
			break
		}
	}
	if !ctl {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	var b strings.Builder
	b.WriteString("$'")
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}
