package main

// The program's stderr in sockjail's log (issue 20): bounded in lines per
// second and bytes per session, long lines cut, and the program never
// slowed by its own logging.

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// stderrFloodLines is how many lines the flood writes: far more than
	// any bound lets through, in well under a second of the program's
	// own time.
	stderrFloodLines = 5_000_000
	// The default policy's bounds (policy/default.toml).
	defaultStderrRate = 100
	defaultStderrMax  = 1 << 20
)

var stderrPrograms = map[string]string{
	// Floods stderr, then reports on stdout: the client sees "done" only
	// if the flood never blocked.
	"stderr-flood.sh": "#!/bin/sh\nhead -c " + strconv.Itoa(stderrFloodLines) + " /dev/zero | tr '\\0' '\\n' >&2\necho done\n",
	// Two short lines and one of 10000 bytes.
	"stderr-few.sh": "#!/bin/sh\nprintf 'one\\ntwo\\n' >&2\nhead -c 10000 /dev/zero | tr '\\0' x >&2\necho >&2\necho ok\n",
}

func TestRunStderrBounds(t *testing.T) {
	f := newRunFixture(t)
	for name, body := range stderrPrograms {
		if err := os.WriteFile(f.prog(name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The default's stderr bounds: the fixture's policy leaves [program]
	// stderr_rate and stderr_max out.
	pol := f.policy(t, "default", runTestTables)
	l := runLaunchers[0]

	t.Run("flood", func(t *testing.T) {
		s := launch(t, l, pol, f.prog("stderr-flood.sh"))
		c := dialFrom(t, "", s.addr)
		c.SetDeadline(time.Now().Add(2 * time.Minute))
		got, err := readToEOF(c)
		c.Close()
		if err != nil || string(got) != "done\n" {
			t.Fatalf("got %q, %v; want \"done\\n\" then EOF: the program was held up by its stderr", got, err)
		}
		line := s.logs.wait(t, 30*time.Second, msgIs("connection"))
		dropped, _ := line["stderr_dropped"].(float64)
		logged := s.logs.count(msgIs("program stderr"))
		ns, ok := line["duration"].(float64) // slog's JSON: nanoseconds
		if !ok {
			t.Fatalf("the connection line has no duration: %v", line)
		}
		dur := time.Duration(ns)
		// A bucket of rate lines, refilled at rate lines a second while
		// the session lasted, and within the bytes per session.
		bound := defaultStderrRate + int(dur.Seconds()*defaultStderrRate) + 1
		if logged > bound || logged > defaultStderrMax {
			t.Errorf("%d stderr lines logged in %v, want at most %d", logged, dur, bound)
		}
		if logged == 0 {
			t.Errorf("no stderr line logged at all, want the first %d", defaultStderrRate)
		}
		if dropped < stderrFloodLines/2 {
			t.Errorf("stderr_dropped = %v, want most of the %d lines: %v", line["stderr_dropped"], stderrFloodLines, line)
		}
		t.Logf("%d lines written, %d logged, %v dropped, in %v", stderrFloodLines, logged, dropped, dur)
	})

	t.Run("few", func(t *testing.T) {
		s := launch(t, l, pol, f.prog("stderr-few.sh"))
		c := dialFrom(t, "", s.addr)
		got, err := readToEOF(c)
		c.Close()
		if err != nil || string(got) != "ok\n" {
			t.Fatalf("got %q, %v; want \"ok\\n\" then EOF", got, err)
		}
		line := s.logs.wait(t, 30*time.Second, msgIs("connection"))
		if _, ok := line["stderr_dropped"]; ok {
			t.Errorf("a program with three lines of errors had some dropped: %v", line)
		}
		var texts []string
		var cut []bool
		s.logs.mu.Lock()
		for _, m := range s.logs.lines {
			if m != nil && m["msg"] == "program stderr" {
				texts = append(texts, m["line"].(string))
				cut = append(cut, m["cut"] == true)
			}
		}
		s.logs.mu.Unlock()
		if len(texts) != 3 || texts[0] != "one" || texts[1] != "two" || texts[2] != strings.Repeat("x", 4096) || cut[0] || cut[1] || !cut[2] {
			t.Errorf("stderr lines %q (cut %v), want one, two and the long one cut at 4096 bytes", texts, cut)
		}
	})
}
