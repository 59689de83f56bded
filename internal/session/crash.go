package session

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// Crash is a panic in one of a session's goroutines, recovered so that it
// ends that session only. [Session.Run] re-panics with it, after killing
// the program's tree and closing the connection, and serve recovers it,
// logs it (msg="session crashed", with Stack) and goes on.
type Crash struct {
	Value any
	// Stack is the stack of the goroutine that panicked first.
	Stack []byte
	// ConnClosed says that the session closed its connection already.
	ConnClosed bool
}

func (c *Crash) Error() string { return fmt.Sprintf("session crashed: %v", c.Value) }

// Recovered returns the Crash for v, a value recover() returned, keeping
// the first goroutine's stack when v is a Crash passed on already.
func Recovered(v any) *Crash {
	if c, ok := v.(*Crash); ok {
		return c
	}
	return &Crash{Value: v, Stack: debug.Stack()}
}

// rethrow panics with err's Crash, if it carries one: a crash in a
// goroutine the session started, handed over on a channel, continues in
// the session's own goroutine.
func rethrow(err error) {
	var c *Crash
	if errors.As(err, &c) {
		panic(c)
	}
}

// crashHook, when set, is called at the named points of a session's
// goroutines ("session", "relay", "wait"). Only this package's tests set
// it, through export_test.go: no input, policy or environment variable
// reaches it in a real binary.
var crashHook func(point string)

func hook(point string) {
	if crashHook != nil {
		crashHook(point)
	}
}

// contain is deferred by Run: on a panic, it kills the program's tree,
// releases the sandbox's resources, closes the connection at once and
// panics again with the Crash for serve to log.
func (s *Session) contain() {
	v := recover()
	if v == nil {
		return
	}
	c := Recovered(v)
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p != nil {
		p.KillTree()
		p.Wait()
		p.Close()
	}
	s.mu.Lock()
	closing := s.closing
	s.closing = true
	s.mu.Unlock()
	if !closing {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // no flush: the session's state is not to be trusted
		s.conn.Close(ctx, s.cfg.Close)
		if s.onClosed != nil {
			s.onClosed()
		}
	}
	c.ConnClosed = true
	// A session that crashed after it was counted as served ends in the
	// metrics too, or it would count as live for as long as serve runs.
	if s.counted.Swap(false) {
		s.cfg.Metrics.ProgramKilled("crash")
		s.cfg.Metrics.SessionEnded(time.Since(s.started), 0, 0)
	}
	panic(c)
}
