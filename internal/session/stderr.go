package session

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// maxStderrLine is where a logged line of the program's stderr is cut: the
// rest of a longer line is dropped, and the logged part is marked cut=true.
const maxStderrLine = 4096

// stderrLog logs the program's stderr, one record per line, within the
// policy's bounds: a token bucket of rate lines per second holding at most
// rate lines, and max bytes for the whole session. What is over them is
// read and dropped, so that the program never waits on its own logging.
//
// It does not bound what the program writes with stderr set to
// "connection" or "inherit", which is not logged by sockjail.
type stderrLog struct {
	s    *Session
	rate float64 // lines per second; 0 is unlimited
	max  int64   // bytes per session; 0 is unlimited

	tokens float64
	last   time.Time
	bytes  int64
	// dropped counts the lines not logged; it is read by the session's
	// log line, possibly before the reader has seen EOF.
	dropped atomic.Int64
}

func newStderrLog(s *Session) *stderrLog {
	p := s.cfg.Policy.Program
	l := &stderrLog{s: s, rate: float64(p.StderrRate), max: int64(p.StderrMax)}
	l.tokens = l.rate
	return l
}

// allow reports whether a line of n bytes, read at now, may be logged, and
// takes its share of the bounds if so.
func (l *stderrLog) allow(now time.Time, n int) bool {
	if l.max > 0 && l.bytes+int64(n) > l.max {
		return false
	}
	if l.rate > 0 {
		if !l.last.IsZero() {
			l.tokens = min(l.rate, l.tokens+now.Sub(l.last).Seconds()*l.rate)
		}
		l.last = now
		if l.tokens < 1 {
			return false
		}
		l.tokens--
	}
	l.bytes += int64(n)
	return true
}

// run reads r until EOF, logging each line that the bounds allow, tagged
// with the connection, and closes done.
func (l *stderrLog) run(r *os.File, done chan<- struct{}) {
	defer close(done)
	defer r.Close()
	br := bufio.NewReaderSize(r, maxStderrLine)
	skipping := false // dropping the rest of a cut line
	for {
		line, err := br.ReadSlice('\n')
		full := errors.Is(err, bufio.ErrBufferFull)
		if len(line) > 0 && !skipping {
			if l.allow(time.Now(), len(line)) {
				l.log(strings.TrimRight(string(line), "\r\n"), full)
			} else {
				l.dropped.Add(1)
			}
		}
		skipping = full
		if err != nil && !full {
			return
		}
	}
}

func (l *stderrLog) log(text string, cut bool) {
	info := l.s.Info()
	attrs := []slog.Attr{
		slog.String("peer", peerString(info.Peer, l.s.conn)),
		slog.Int("pid", info.Pid),
		slog.String("line", text),
	}
	if cut {
		attrs = append(attrs, slog.Bool("cut", true))
	}
	l.s.cfg.Log.LogAttrs(context.Background(), slog.LevelInfo, "program stderr", attrs...)
}
