package gate

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockjail/sockjail/internal/testenv"
)

// fixed is a challenge with a known resource, and mint finds a stamp for
// it the way hashcash does, so that the table needs no external tool.
var fixed = Challenge{Bits: 12, Resource: [32]byte([]byte("0123456789abcdef0123456789abcdef"))}

func mint(t testing.TB, c Challenge, ext string) string {
	t.Helper()
	for i := 0; ; i++ {
		s := "1:" + strconv.Itoa(c.Bits) + ":261204:" + string(c.Resource[:]) + ":" + ext + ":sockjailtest:" + strconv.Itoa(i)
		if zeroBits(sha1.Sum([]byte(s))) >= c.Bits {
			return s
		}
	}
}

func TestCheck(t *testing.T) {
	good := mint(t, fixed, "")
	// A stamp that claims enough bits but whose hash has too few.
	var weak string
	for i := 0; ; i++ {
		weak = "1:12:261204:" + string(fixed.Resource[:]) + "::x:" + strconv.Itoa(i)
		if zeroBits(sha1.Sum([]byte(weak))) < 12 {
			break
		}
	}
	other := fixed
	copy(other.Resource[:], "ffffffffffffffffffffffffffffffff")
	for _, tc := range []struct {
		name  string
		stamp string
		want  error
	}{
		{"good", good, nil},
		{"good with an extension", mint(t, fixed, "a=b"), nil},
		{"another challenge's stamp", mint(t, other, ""), ErrResource},
		{"too few zero bits", weak, ErrBits},
		{"claims fewer bits", strings.Replace(mint(t, Challenge{Bits: 8, Resource: fixed.Resource}, ""), "1:8:", "1:8:", 1), ErrBits},
		{"version 0", "0" + good[1:], ErrMalformed},
		{"no counter", good[:strings.LastIndexByte(good, ':')+1], ErrMalformed},
		{"too many fields", good + ":x", ErrMalformed},
		{"too few fields", "1:12:261204:" + string(fixed.Resource[:]), ErrMalformed},
		{"bad date", strings.Replace(good, ":261204:", ":26120x:", 1), ErrMalformed},
		{"bits not a number", strings.Replace(good, "1:12:", "1:1x:", 1), ErrMalformed},
		{"empty", "", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := fixed.Check([]byte(tc.stamp)); !errors.Is(err, tc.want) {
				t.Errorf("Check(%q) = %v, want %v", tc.stamp, err, tc.want)
			}
		})
	}
}

func TestZeroBits(t *testing.T) {
	for _, tc := range []struct {
		prefix []byte
		want   int
	}{
		{[]byte{0x80}, 0}, {[]byte{0x01}, 7}, {[]byte{0, 0x40}, 9}, {[]byte{0, 0, 0, 0x0f}, 28},
		{[]byte{0x00, 0xff, 0x00}, 8},
	} {
		var sum [sha1.Size]byte
		for i := range sum {
			sum[i] = 0xff
		}
		copy(sum[:], tc.prefix)
		if got := zeroBits(sum); got != tc.want {
			t.Errorf("zeroBits(%x…) = %d, want %d", tc.prefix, got, tc.want)
		}
	}
}

// TestHashcashTool: a stamp minted by Debian's hashcash(1), run as the
// challenge line says, passes.
func TestHashcashTool(t *testing.T) {
	tool := testenv.LookTool(t, "hashcash")
	c, err := NewChallenge(14)
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Fields(strings.TrimSpace(string(c.Line())))
	if args[0] != "hashcash" {
		t.Fatalf("the challenge line %q is not a hashcash command", c.Line())
	}
	out, err := exec.Command(tool, append([]string{"-q"}, args[1:]...)...).Output()
	if err != nil {
		t.Fatalf("%s: %v", c.Line(), err)
	}
	if err := c.Check(bytes.TrimSpace(out)); err != nil {
		t.Errorf("hashcash's stamp %q: %v", out, err)
	}
}

func socketPair(t *testing.T) (int, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

// TestRun drives Run over a socketpair and over pipes: the client gets the
// challenge line, and each answer ends as expected, with what follows the
// answer left for the program.
func TestRun(t *testing.T) {
	type transport struct {
		name string
		// open returns sockjail's in and out, and the client's ends.
		open func(t *testing.T) (in, out int, client *os.File, clientIn *os.File)
	}
	transports := []transport{
		{"socket", func(t *testing.T) (int, int, *os.File, *os.File) {
			a, b := socketPair(t)
			f := os.NewFile(uintptr(b), "client")
			return a, a, f, f
		}},
		{"pipes", func(t *testing.T) (int, int, *os.File, *os.File) {
			inR, inW, _ := os.Pipe()
			outR, outW, _ := os.Pipe()
			t.Cleanup(func() { inR.Close(); inW.Close(); outR.Close(); outW.Close() })
			return int(inR.Fd()), int(outW.Fd()), inW, outR
		}},
	}
	for _, tr := range transports {
		for _, tc := range []struct {
			name   string
			answer func(c Challenge) string // "" sends nothing
			close  bool
			want   Result
		}{
			{"solved", func(c Challenge) string { return mint(t, c, "") + "\r\nnext input" }, false, Solved},
			{"wrong", func(c Challenge) string { return "1:12:261204:nope::x:1\nnext input" }, false, Failed},
			{"too long", func(c Challenge) string { return strings.Repeat("1", MaxAnswer+10) }, false, Failed},
			{"silent", func(c Challenge) string { return "" }, false, TimedOut},
			{"closed", func(c Challenge) string { return "1:12" }, true, Closed},
		} {
			t.Run(tr.name+"/"+tc.name, func(t *testing.T) {
				in, out, client, clientIn := tr.open(t)
				c, err := NewChallenge(10)
				if err != nil {
					t.Fatal(err)
				}
				if a := tc.answer(c); a != "" {
					client.Write([]byte(a))
				}
				if tc.close {
					client.Close()
				}
				res, err := Run(in, out, c, 300*time.Millisecond)
				if res != tc.want {
					t.Fatalf("Run = %v (%v), want %v", res, err, tc.want)
				}
				if tc.close {
					return
				}
				line := make([]byte, 100)
				n, _ := clientIn.Read(line)
				if string(line[:n]) != string(c.Line()) {
					t.Errorf("the client got %q, want the challenge line %q", line[:n], c.Line())
				}
				if tc.want == Solved {
					rest := make([]byte, 100)
					n, _ := unix.Read(in, rest)
					if string(rest[:n]) != "next input" {
						t.Errorf("after the answer the program reads %q, want \"next input\"", rest[:n])
					}
				}
			})
		}
	}
}

// FuzzCheck: no input panics Check, and what it accepts has the zero bits.
func FuzzCheck(f *testing.F) {
	f.Add([]byte(mint(f, fixed, "")))
	f.Add([]byte("1:12:261204:" + string(fixed.Resource[:]) + "::a:b"))
	f.Add([]byte("::::::"))
	f.Fuzz(func(t *testing.T, stamp []byte) {
		if fixed.Check(stamp) == nil && zeroBits(sha1.Sum(stamp)) < fixed.Bits {
			t.Fatalf("Check accepted %q without %d zero bits", stamp, fixed.Bits)
		}
	})
}
