package policy

import (
	"fmt"
	"math"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Parsers for the value types of a policy. Each takes the decoded TOML
// value (string, int64, float64, bool, []any or map[string]any, as
// go-toml produces them) and returns the typed value or an error message
// that names what is expected; the caller adds the position.

// typeName describes v's TOML type for an error message.
func typeName(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", v)
	case int64:
		return fmt.Sprintf("the integer %d", v)
	case float64:
		return fmt.Sprintf("the float %v", v)
	case bool:
		return fmt.Sprintf("the boolean %v", v)
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return "a date or time"
	}
}

// parseDuration accepts "0", a Go duration string ("30s", "1h30m",
// "250ms") or the integer 0.
func parseDuration(v any) (Duration, error) {
	switch v := v.(type) {
	case string:
		if v == "0" {
			return 0, nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || strings.ContainsAny(v, "+") {
			return 0, fmt.Errorf("invalid duration %q: write a number with a unit (h, m, s, ms), such as \"30s\" or \"1h30m\"", v)
		}
		if d < 0 {
			return 0, fmt.Errorf("invalid duration %q: must not be negative", v)
		}
		return Duration(d), nil
	case int64:
		if v == 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("a duration needs a unit: write \"%ds\" for seconds", v)
	}
	return 0, fmt.Errorf("expected a duration such as \"30s\", got %s", typeName(v))
}

// formatDuration writes d in the shortest form parseDuration reads back:
// "0", "30s", "1h30m", "2s500ms".
func formatDuration(d Duration) string {
	if d == 0 {
		return "0"
	}
	var b strings.Builder
	rest := time.Duration(d)
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}, {time.Microsecond, "us"}, {time.Nanosecond, "ns"}} {
		if n := rest / u.d; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.name)
			rest -= n * u.d
		}
	}
	return b.String()
}

var sizeUnits = map[string]uint64{
	"": 1, "B": 1,
	"K": 1 << 10, "KiB": 1 << 10,
	"M": 1 << 20, "MiB": 1 << 20,
	"G": 1 << 30, "GiB": 1 << 30,
	"T": 1 << 40, "TiB": 1 << 40,
}

// splitSize splits "64MiB" or "64 MiB" into its digits and its unit (the
// unit may be empty), and reports whether s has that shape: digits, at
// most one space, then letters only.
func splitSize(s string) (digits, unit string, ok bool) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == 0 {
		return "", "", false
	}
	digits, unit = s[:i], strings.TrimPrefix(s[i:], " ")
	for j := 0; j < len(unit); j++ {
		if !isLetter(unit[j]) {
			return "", "", false
		}
	}
	return digits, unit, true
}

func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// parseSize accepts a non-negative integer (bytes) or a string such as
// "64MiB".
func parseSize(v any) (uint64, error) {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return 0, fmt.Errorf("a size must not be negative, got %d", v)
		}
		return uint64(v), nil
	case string:
		digits, unit, ok := splitSize(v)
		if !ok {
			return 0, fmt.Errorf("invalid size %q: write a whole number with a unit (B, KiB, MiB, GiB, TiB), such as \"64MiB\"", v)
		}
		mult, ok := sizeUnits[unit]
		if !ok {
			return 0, fmt.Errorf("invalid size %q: unknown unit %q (use B, KiB, MiB, GiB or TiB; sizes are binary)", v, unit)
		}
		n, err := strconv.ParseUint(digits, 10, 64)
		if err != nil || n > math.MaxUint64/mult {
			return 0, fmt.Errorf("invalid size %q: too large", v)
		}
		return n * mult, nil
	}
	return 0, fmt.Errorf("expected a size such as \"64MiB\", got %s", typeName(v))
}

// formatSize writes n with the largest binary unit that divides it.
func formatSize(n uint64) string {
	if n == 0 {
		return "0"
	}
	for _, u := range []struct {
		mult uint64
		name string
	}{{1 << 40, "TiB"}, {1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n%u.mult == 0 {
			return strconv.FormatUint(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatUint(n, 10) + "B"
}

// limitUnit is what a [Limit] counts.
type limitUnit int

const (
	unitCount   limitUnit = iota // nofile, nproc
	unitSeconds                  // cpu
	unitBytes                    // address_space, file_size, core
	unitPercent                  // cpu_quota: a share of one CPU
)

// maxCPUPercent is the largest cpu_quota, a thousand CPUs.
const maxCPUPercent = 100000

const unlimited = "unlimited"

// parseLimit accepts "unlimited" or a value in u's unit: an integer count,
// seconds as an integer or a duration string, bytes as a size.
func parseLimit(v any, u limitUnit) (Limit, error) {
	if s, ok := v.(string); ok && s == unlimited {
		return Limit{Unlimited: true}, nil
	}
	switch u {
	case unitCount:
		n, ok := v.(int64)
		if !ok || n < 0 {
			return Limit{}, fmt.Errorf("expected a non-negative integer or \"unlimited\", got %s", typeName(v))
		}
		return Limit{Value: uint64(n)}, nil
	case unitSeconds:
		if n, ok := v.(int64); ok {
			if n < 0 {
				return Limit{}, fmt.Errorf("expected a non-negative number of seconds, got %d", n)
			}
			return Limit{Value: uint64(n)}, nil
		}
		d, err := parseDuration(v)
		if err != nil {
			return Limit{}, fmt.Errorf("%v, or \"unlimited\"", err)
		}
		if time.Duration(d)%time.Second != 0 {
			return Limit{}, fmt.Errorf("CPU time is counted in whole seconds, got %q", v)
		}
		return Limit{Value: uint64(time.Duration(d) / time.Second)}, nil
	case unitPercent:
		s, ok := v.(string)
		digits, found := strings.CutSuffix(s, "%")
		n, err := strconv.ParseUint(digits, 10, 32)
		if !ok || !found || err != nil || digits == "" || digits[0] == '+' {
			return Limit{}, fmt.Errorf("expected a share of one CPU such as \"100%%\" or \"250%%\", or \"unlimited\", got %s", typeName(v))
		}
		if n < 1 || n > maxCPUPercent {
			return Limit{}, fmt.Errorf("cpu_quota %q is out of range: write from \"1%%\" to \"%d%%\", or \"unlimited\"", s, maxCPUPercent)
		}
		return Limit{Value: n}, nil
	default:
		n, err := parseSize(v)
		if err != nil {
			return Limit{}, fmt.Errorf("%v, or \"unlimited\"", err)
		}
		return Limit{Value: n}, nil
	}
}

// formatLimit writes l as a TOML value in u's unit.
func formatLimit(l Limit, u limitUnit) string {
	if l.Unlimited {
		return quote(unlimited)
	}
	if l.Value == 0 {
		return "0"
	}
	switch u {
	case unitSeconds:
		if l.Value > uint64(math.MaxInt64/int64(time.Second)) {
			return strconv.FormatUint(l.Value, 10)
		}
		return quote(formatDuration(Duration(time.Duration(l.Value) * time.Second)))
	case unitBytes:
		return quote(formatSize(l.Value))
	case unitPercent:
		return quote(strconv.FormatUint(l.Value, 10) + "%")
	}
	return strconv.FormatUint(l.Value, 10)
}

// parsePath accepts an absolute, clean path, optionally prefixed by "-".
func parsePath(v any) (Path, error) {
	s, ok := v.(string)
	if !ok {
		return Path{}, fmt.Errorf("expected a path string, got %s", typeName(v))
	}
	var p Path
	if strings.HasPrefix(s, "-") {
		p.Optional = true
		s = s[1:]
	}
	switch {
	case s == "":
		return Path{}, fmt.Errorf("empty path")
	case strings.ContainsRune(s, 0):
		return Path{}, fmt.Errorf("path contains a NUL character")
	case !strings.HasPrefix(s, "/"):
		return Path{}, fmt.Errorf("path %q is not absolute: it must start with \"/\"", s)
	case filepath.Clean(s) != s:
		return Path{}, fmt.Errorf("path %q is not clean: write %q", s, filepath.Clean(s))
	}
	p.Name = s
	return p, nil
}

// parsePort accepts a port 1–65535 as an integer or string, or a range
// "lo-hi" with lo <= hi.
func parsePort(v any) (PortRange, error) {
	one := func(s string) (uint16, error) {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil || n < 1 || n > 65535 {
			return 0, fmt.Errorf("port %q is not a number from 1 to 65535", s)
		}
		return uint16(n), nil
	}
	switch v := v.(type) {
	case int64:
		if v < 1 || v > 65535 {
			return PortRange{}, fmt.Errorf("port %d is not from 1 to 65535", v)
		}
		return PortRange{uint16(v), uint16(v)}, nil
	case string:
		lo, hi, isRange := strings.Cut(v, "-")
		l, err := one(lo)
		if err != nil {
			return PortRange{}, err
		}
		if !isRange {
			return PortRange{l, l}, nil
		}
		h, err := one(hi)
		if err != nil {
			return PortRange{}, err
		}
		if l > h {
			return PortRange{}, fmt.Errorf("port range %q is reversed: write \"%d-%d\"", v, h, l)
		}
		return PortRange{l, h}, nil
	}
	return PortRange{}, fmt.Errorf("expected a port number or a \"lo-hi\" range string, got %s", typeName(v))
}

// formatPort writes a single port as an integer and a range as a string.
func formatPort(r PortRange) string {
	if r.Lo == r.Hi {
		return r.String()
	}
	return quote(r.String())
}

// parseIDRange accepts "lo-hi" with 0 < lo <= hi < 2^32-1.
func parseIDRange(v any) (IDRange, error) {
	s, ok := v.(string)
	if !ok {
		return IDRange{}, fmt.Errorf("expected a \"lo-hi\" uid range string, got %s", typeName(v))
	}
	lo, hi, found := strings.Cut(s, "-")
	l, err1 := strconv.ParseUint(lo, 10, 32)
	h, err2 := strconv.ParseUint(hi, 10, 32)
	switch {
	case !found || err1 != nil || err2 != nil:
		return IDRange{}, fmt.Errorf("invalid uid range %q: write \"lo-hi\", such as \"400000-409999\"", s)
	case l == 0:
		return IDRange{}, fmt.Errorf("uid range %q includes root (0)", s)
	case h >= math.MaxUint32:
		return IDRange{}, fmt.Errorf("uid range %q includes %d, which is (uid_t)-1", s, uint32(math.MaxUint32))
	case l > h:
		return IDRange{}, fmt.Errorf("uid range %q is reversed: write \"%d-%d\"", s, h, l)
	}
	return IDRange{uint32(l), uint32(h)}, nil
}

// quote writes s as a TOML basic string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// formatFloat writes f so that TOML reads it back as the same float.
func formatFloat(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") { // "n" for NaN/Inf, rejected earlier
		s += ".0"
	}
	return s
}

// CheckListenAddr checks a listen address written HOST:PORT ("127.0.0.1:9100",
// "[::1]:9100", ":9100"), with a numeric port. It does not resolve HOST.
func CheckListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT (such as 127.0.0.1:9100, [::1]:9100 or :9100): %v", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}
