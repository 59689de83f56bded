package relay

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/sockjail/sockjail/internal/fdio"
	"github.com/sockjail/sockjail/internal/telnet"
)

// Relay is one connection's relay. Create it with [New] before the program
// starts, and [Relay.Close] it after [Relay.Run] returns.
//
// The connection fds are used as they are: the relay never changes their
// file status flags, because the open file description may be shared (fd 0
// and 1 of sockjail itself, a socket systemd also holds). It waits with
// poll(2) and then reads and writes sockets with MSG_DONTWAIT; a connection
// that is not a socket (a pipe or tty from socat) is read and written after
// poll said it is ready, in chunks no larger than PIPE_BUF, so the call
// cannot block for long. EAGAIN is handled either way, in case another
// process set O_NONBLOCK.
type Relay struct {
	cfg     Config
	connIn  int
	connOut int
	inSock  bool
	outSock bool

	proto  *telnet.Protocol
	rlogin *rloginState // nil unless Config.Rlogin

	// Program side. With a pty, master is both progIn and progOut.
	master   int
	ttyName  string
	progIn   int // the relay writes the program's input here
	progOut  int // and reads its output here
	childIn  int // what the program gets; closed in the parent by Run
	childOut int
	childErr int

	wake [2]int // a pipe that wakes poll when the context is done

	// The three queues. Each is a fifo of BufSize bytes that never grows
	// (see fifo). What bounds them is that nothing is produced without
	// room for it:
	//   - fromConn holds client bytes not yet decoded. The client is read
	//     only while it has room; when it is full, the client's TCP window
	//     closes and it must wait.
	//   - toProg and toConn receive the decoded input and the telnet
	//     replies: a client byte leaves fromConn only when both have room
	//     for the most it can yield (telnet.DecodeInto), so a client that
	//     never reads our replies stops being read, and no reply is
	//     dropped.
	//   - toConn also receives the program's output: the program is read
	//     only up to what fits once converted (outputRoom).
	fromConn fifo // client bytes not yet decoded
	toProg   fifo // client to program, after telnet decoding
	toConn   fifo // program to client, after CRLF and telnet encoding
	scratch  [BufSize]byte
	crlfBuf  [BufSize]byte // CRLF conversion of at most BufSize/2 bytes

	connEOF   bool // the client sent FIN
	progEOF   bool // the program side hung up or closed its output
	eofSent   bool // the client's EOF was passed on to the program
	outCR     bool // CRLF conversion: the last output byte was CR
	lastInput time.Time

	idleAt   time.Time // when the idle timeout fired (zero if not)
	graceEnd time.Time // passive Negotiate: when a silent client stops the wait

	// Pacing: the line is busy until lineFree.
	byteTime time.Duration
	lineFree time.Time
	lineIdle bool

	closed bool

	// chop is nil except in this package's tests, which set it to choose
	// the size of every read and write (at most the size given, at least
	// 1), so that a fuzz target can drive the queues through every
	// boundary. It runs on Run's goroutine, between the relay's steps.
	chop func(size int) int
}

// cut returns how many bytes of n the next read or write may move: all of
// them, unless a test set chop.
func (r *Relay) cut(n int) int {
	if r.chop == nil || n <= 1 {
		return n
	}
	return max(1, min(n, r.chop(n)))
}

// New prepares the relay for the connection connIn/connOut (often the same
// socket): it allocates the pty, or the pipes, the program will run on. Call
// it before the sandbox is applied: opening /dev/ptmx needs access the
// sandboxed program does not have.
func New(cfg Config, connIn, connOut int) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	if cfg.MaxWinSize == 0 {
		cfg.MaxWinSize = DefaultMaxWinSize
	}
	if cfg.NegotiateWait == 0 {
		cfg.NegotiateWait = DefaultNegotiateWait
	}
	if cfg.IdleDrain == 0 {
		cfg.IdleDrain = DefaultIdleDrain
	}
	r := &Relay{
		cfg: cfg, connIn: connIn, connOut: connOut,
		master: -1, progIn: -1, progOut: -1, childIn: -1, childOut: -1, childErr: -1,
		wake:     [2]int{-1, -1},
		fromConn: fifo{buf: make([]byte, BufSize)},
		toProg:   fifo{buf: make([]byte, BufSize)},
		toConn:   fifo{buf: make([]byte, BufSize)},
		lineIdle: true,
	}
	var err error
	if r.inSock, err = isSocket(connIn); err != nil {
		return nil, fmt.Errorf("relay: connection fd %d: %w", connIn, err)
	}
	if r.outSock, err = isSocket(connOut); err != nil {
		return nil, fmt.Errorf("relay: connection fd %d: %w", connOut, err)
	}
	if cfg.LineRate > 0 {
		r.byteTime = 10 * time.Second / time.Duration(cfg.LineRate)
	}
	r.proto = telnet.New(telnet.Config{
		Mode:     cfg.Telnet,
		Echo:     cfg.PTY,
		CRLFToLF: !cfg.PTY,
		Binary:   cfg.Binary,
		MaxCols:  cfg.MaxWinSize,
		MaxRows:  cfg.MaxWinSize,
	})
	err = r.open()
	if err == nil && cfg.Rlogin {
		err = r.startRlogin()
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("relay: %w", err)
	}
	return r, nil
}

func (r *Relay) open() error {
	if err := unix.Pipe2(r.wake[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return fmt.Errorf("creating the wake-up pipe: %w", err)
	}
	if !r.cfg.PTY {
		var in, out [2]int
		if err := unix.Pipe2(in[:], unix.O_CLOEXEC); err != nil {
			return fmt.Errorf("creating the program's stdin pipe: %w", err)
		}
		r.childIn, r.progIn = in[0], in[1]
		if err := unix.Pipe2(out[:], unix.O_CLOEXEC); err != nil {
			return fmt.Errorf("creating the program's stdout pipe: %w", err)
		}
		r.progOut, r.childOut = out[0], out[1]
		// Only the relay's ends are non-blocking; the program's stay
		// blocking, as a program expects of its stdin and stdout.
		for _, fd := range []int{r.progIn, r.progOut} {
			if err := unix.SetNonblock(fd, true); err != nil {
				return fmt.Errorf("setting O_NONBLOCK on a relay pipe: %w", err)
			}
		}
		return nil
	}
	m, s, err := pty.Open()
	if err != nil {
		return fmt.Errorf("allocating a pseudo-terminal: %w", err)
	}
	r.ttyName = s.Name()
	// Keep raw fds of our own: os.File would put them back into Go's
	// poller. Fd() also makes both blocking, which the slave must be.
	r.master, err = unix.FcntlInt(m.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err == nil {
		r.childIn, err = unix.FcntlInt(s.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	}
	m.Close()
	s.Close()
	if err != nil {
		return fmt.Errorf("duplicating the pty fds: %w", err)
	}
	r.childOut, r.childErr = r.childIn, r.childIn
	r.progIn, r.progOut = r.master, r.master
	if err := unix.SetNonblock(r.master, true); err != nil {
		return fmt.Errorf("setting O_NONBLOCK on the pty master: %w", err)
	}
	return r.setWinsize(DefaultCols, DefaultRows)
}

func (r *Relay) setWinsize(cols, rows int) error {
	ws := &unix.Winsize{Col: uint16(cols), Row: uint16(rows)}
	// On the master, the kernel resizes the pair and sends SIGWINCH to
	// the terminal's foreground process group.
	if err := unix.IoctlSetWinsize(r.master, unix.TIOCSWINSZ, ws); err != nil {
		return fmt.Errorf("setting the pty window size to %dx%d: %w", cols, rows, err)
	}
	return nil
}

// TTYName returns the path of the pty slave (/dev/pts/N), or "" without a
// pty. The sandbox needs it: a program that reopens its terminal (through
// /dev/tty or this path) needs Landlock read, write and ioctl_dev rights on
// it; the fds from ProgramFiles, opened before Landlock, need none.
func (r *Relay) TTYName() string { return r.ttyName }

// ProgramFiles returns the fds the program must get as its stdin, stdout
// and stderr, and whether its stdin is a terminal to make its controlling
// terminal (setsid, then TIOCSCTTY). With a pty all three are the pty
// slave. With pipes, stderr is -1: the session applies the policy's
// `stderr` setting (pass stdout to send it to the connection, through the
// relay). The fds are close-on-exec; the sandbox dup2s them to 0, 1, 2.
func (r *Relay) ProgramFiles() (stdin, stdout, stderr int, controllingTTY bool) {
	return r.childIn, r.childOut, r.childErr, r.cfg.PTY
}

// Env returns the environment the relay adds for the program: TERM from
// the client's telnet TERMINAL-TYPE (sanitized), else from the policy, else
// DefaultTerm on a pty. It is the only value taken from a telnet client.
// An rlogin client's handshake gives TERM (when valid) and the variables
// of [rlogin.Handshake.Env]. Call it after Negotiate.
func (r *Relay) Env() []string {
	if r.rlogin != nil {
		fallback := r.cfg.Term
		if fallback == "" {
			fallback = DefaultTerm
		}
		return r.rlogin.hs.Handshake().Env(fallback)
	}
	term := r.proto.Term()
	if term == "" {
		term = r.cfg.Term
	}
	if term == "" && r.cfg.PTY {
		term = DefaultTerm
	}
	if term == "" {
		return nil
	}
	return []string{"TERM=" + term}
}

// Negotiate runs the telnet negotiation before the program starts. In On
// mode it offers WILL ECHO and WILL SUPPRESS-GO-AHEAD (with a pty), asks DO
// NAWS and DO TERMINAL-TYPE, and waits at most Config.NegotiateWait for the
// answers, so that TERM and the window size are right when the program
// starts. Data the client types meanwhile is kept for the program.
//
// Passive mode never sends negotiation unasked: it waits PassiveGrace for
// the client's first bytes. A telnet client that opens with its own offers
// (as BSD and inetutils telnet do on port 23: WILL TERMINAL-TYPE, WILL NAWS)
// is answered, and Negotiate waits as in On mode for what it offered. A
// client that sends other bytes, or nothing, ends the wait at once or after
// the grace. In Off mode Negotiate returns at once.
//
// With rlogin, Negotiate reads the client's handshake, within
// Config.HandshakeWait, answers it and asks for the window size. A client
// that breaks the protocol or doesn't finish in time gets an error
// wrapping rlogin.ErrHandshake: the session must not start the program.
func (r *Relay) Negotiate(ctx context.Context) error {
	if r.rlogin != nil {
		return r.negotiateRlogin(ctx)
	}
	switch r.cfg.Telnet {
	case telnet.On:
		if err := r.toConn.fill(r.proto.Start); err != nil {
			return err
		}
	case telnet.Passive:
		r.graceEnd = time.Now().Add(PassiveGrace)
	default:
		return nil
	}
	return r.pump(ctx, true, time.Now().Add(r.cfg.NegotiateWait))
}

// Run relays until the program side has hung up (every process holding the
// pty slave or the stdout pipe has closed it) and every byte the program
// wrote has been written to the connection. It first closes the parent's
// copies of the program's fds, so call it after the program started.
//
// It returns nil when done, an error wrapping ErrIdle when no input arrived
// for Config.IdleTimeout (after sending the idle message), an error
// wrapping ErrHangup when the connection failed, or ctx's error. When the
// client half-closes, the program gets EOF: the pipe is closed, or on a pty
// in canonical mode the EOF character is typed, and a pty in raw mode gets
// SIGHUP, as from a modem hang-up.
func (r *Relay) Run(ctx context.Context) error {
	r.closeChildFiles()
	r.lastInput = time.Now()
	return r.pump(ctx, false, time.Time{})
}

// Close closes the relay's side of the pty or pipes. With a pty, the
// program (if still running) gets SIGHUP from the kernel. It is safe to
// call more than once.
func (r *Relay) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.closeChildFiles()
	closeFD(&r.wake[0])
	closeFD(&r.wake[1])
	if r.master >= 0 {
		// progIn and progOut are the master too: close it once.
		r.progIn, r.progOut = -1, -1
		closeFD(&r.master)
	}
	closeFD(&r.progIn)
	closeFD(&r.progOut)
	return nil
}

// closeChildFiles closes the parent's copies of the program's fds. With a
// pty all three are one fd, closed once: closing a number twice could close
// an unrelated file that reused it.
func (r *Relay) closeChildFiles() {
	if r.cfg.PTY {
		r.childOut, r.childErr = -1, -1
	}
	closeFD(&r.childIn)
	closeFD(&r.childOut)
	closeFD(&r.childErr)
}

func closeFD(fd *int) {
	if *fd >= 0 {
		unix.Close(*fd)
	}
	*fd = -1
}

// pump is the relay's single poll loop. In negotiate mode it talks only to
// the client and returns when the telnet answers arrived, at deadline, or
// at the client's EOF.
func (r *Relay) pump(ctx context.Context, negotiate bool, deadline time.Time) error {
	// Drain a wake-up left by an earlier call's context.
	var drain [8]byte
	for {
		if n, _ := unix.Read(r.wake[0], drain[:]); n <= 0 {
			break
		}
	}
	// The wake-up must be over before pump returns: Close may follow, and
	// a late write could hit an fd number reused meanwhile.
	wfd, woken := r.wake[1], make(chan struct{})
	stop := context.AfterFunc(ctx, func() { unix.Write(wfd, []byte{0}); close(woken) })
	defer func() {
		if !stop() {
			<-woken
		}
	}()

	var pfd [5]unix.PollFd
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := time.Now()
		// Decode what the client sent as far as there is room for it, so
		// that the checks below see its effects.
		if r.progEOF || !r.idleAt.IsZero() {
			r.fromConn.reset() // input is moot now; see discard below
		} else if err := r.decodeInput(); err != nil {
			return err
		}

		if negotiate {
			if r.connEOF || !now.Before(deadline) {
				return nil
			}
			if r.rlogin != nil {
				if r.rloginNegotiated() {
					return nil
				}
			} else if r.proto.Active() && r.proto.Settled() && r.toConn.len() == 0 {
				return nil
			}
			// Passive: a raw client is not kept waiting past the grace,
			// nor at all once it sent data.
			if r.rlogin == nil && !r.proto.Active() && (r.toProg.len() > 0 || !now.Before(r.graceEnd)) {
				return nil
			}
		} else if r.progEOF || !r.idleAt.IsZero() {
			if r.toConn.len() == 0 && r.proto.Active() {
				if err := r.toConn.fill(r.proto.Flush); err != nil {
					return err
				}
			}
			if r.toConn.len() == 0 {
				if !r.idleAt.IsZero() {
					return fmt.Errorf("%w: no input for %v", ErrIdle, r.cfg.IdleTimeout)
				}
				return nil
			}
			if !r.idleAt.IsZero() && now.Sub(r.idleAt) >= r.cfg.IdleDrain {
				return fmt.Errorf("%w: no input for %v (%d bytes of output undelivered after %v)",
					ErrIdle, r.cfg.IdleTimeout, r.toConn.len(), r.cfg.IdleDrain)
			}
		} else if r.cfg.IdleTimeout > 0 && now.Sub(r.lastInput) >= r.cfg.IdleTimeout {
			if err := r.startIdle(now); err != nil {
				return err
			}
			continue
		}

		// Pass the client's EOF on as soon as its input is through, before
		// waiting: the client may have half-closed during Negotiate, and a
		// program that reads its input to the end first would otherwise
		// wait for it as long as the relay waits for the program.
		if !negotiate && r.connEOF && !r.eofSent && r.inputDone() {
			if err := r.writeProgram(); err != nil {
				return err
			}
		}

		// Decide what to wait for.
		discard := r.progEOF || !r.idleAt.IsZero()
		n := 0
		timeout := -1
		setTimeout := func(at time.Time) {
			ms := int((at.Sub(now) + time.Millisecond - 1) / time.Millisecond)
			if ms < 0 {
				ms = 0
			}
			if timeout < 0 || ms < timeout {
				timeout = ms
			}
		}
		pfd[n] = unix.PollFd{Fd: int32(r.wake[0]), Events: unix.POLLIN}
		n++
		iConnIn, iConnOut, iProgIn, iProgOut := -1, -1, -1, -1
		// Read the client when its bytes have room to go. After the
		// program ended (or the idle timeout), input is read and dropped
		// so that an unread backlog never makes the close a reset.
		if !r.connEOF && (discard || r.fromConn.free() > 0) {
			iConnIn = n
			pfd[n] = unix.PollFd{Fd: int32(r.connIn), Events: unix.POLLIN}
			n++
		}
		if r.urgentDue() {
			iConnOut = n
			pfd[n] = unix.PollFd{Fd: int32(r.connOut), Events: unix.POLLOUT}
			n++
		} else if r.toConn.len() > 0 {
			if wait := r.paceWait(now); wait > 0 {
				setTimeout(now.Add(wait))
			} else {
				iConnOut = n
				pfd[n] = unix.PollFd{Fd: int32(r.connOut), Events: unix.POLLOUT}
				n++
			}
		}
		if !negotiate && !discard {
			if r.toProg.len() > 0 && r.progIn >= 0 {
				iProgIn = n
				pfd[n] = unix.PollFd{Fd: int32(r.progIn), Events: unix.POLLOUT}
				n++
			}
			if r.outputRoom() > 0 {
				iProgOut = n
				pfd[n] = unix.PollFd{Fd: int32(r.progOut), Events: unix.POLLIN}
				n++
			}
		}
		if negotiate {
			setTimeout(deadline)
			if r.rlogin == nil && !r.proto.Active() {
				setTimeout(r.graceEnd)
			}
		} else if !r.idleAt.IsZero() {
			setTimeout(r.idleAt.Add(r.cfg.IdleDrain))
		} else if r.cfg.IdleTimeout > 0 && !r.progEOF {
			setTimeout(r.lastInput.Add(r.cfg.IdleTimeout))
		}

		if _, err := unix.Poll(pfd[:n], timeout); err != nil {
			if err == unix.EINTR {
				continue
			}
			return fmt.Errorf("relay: poll: %w", err)
		}
		ready := func(i int) bool { return i >= 0 && pfd[i].Revents != 0 }

		// Program output first, so that output produced before an input
		// that ends the program is not lost.
		if ready(iProgOut) {
			if err := r.readProgram(); err != nil {
				return err
			}
		}
		if ready(iConnOut) {
			if err := r.writeConn(); err != nil {
				return err
			}
		}
		if ready(iConnIn) {
			if err := r.readConn(discard); err != nil {
				return err
			}
		}
		if ready(iProgIn) {
			if err := r.writeProgram(); err != nil {
				return err
			}
		}
	}
}

// outputRoom is how many bytes may be read from the program now: CRLF and
// telnet encoding at most double them, plus one NUL owed for a CR.
func (r *Relay) outputRoom() int {
	return max((r.toConn.free()-1)/2, 0)
}

// inputDone reports whether every byte the client sent has reached the
// program's queue.
func (r *Relay) inputDone() bool {
	return r.fromConn.len() == 0 && r.toProg.len() == 0
}

// readConn reads what the client sent into fromConn, or drops it when
// discard is set.
func (r *Relay) readConn(discard bool) error {
	dst := r.scratch[:]
	if !discard {
		dst = r.fromConn.space()
	}
	if len(dst) == 0 {
		return nil
	}
	n, err := readFD(r.connIn, dst[:r.cut(len(dst))], r.inSock)
	switch {
	case err == unix.EAGAIN:
		return nil
	case err == unix.ECONNRESET || err == unix.ETIMEDOUT || err == unix.EPIPE:
		if discard {
			r.connEOF = true
			return nil
		}
		return fmt.Errorf("%w: reading from the connection: %v", ErrHangup, err)
	case err != nil:
		return fmt.Errorf("relay: reading from the connection: %w", err)
	case n == 0:
		r.connEOF = true
		return nil
	}
	r.lastInput = time.Now()
	if !discard {
		r.fromConn.w += n
	}
	return nil
}

// decodeInput moves client bytes from fromConn through the telnet decoder
// into toProg and toConn, as many as both have room for; the rest waits
// in fromConn until the program or the client has read enough.
func (r *Relay) decodeInput() error {
	if r.fromConn.len() == 0 {
		return nil
	}
	if r.rlogin != nil {
		return r.decodeRlogin()
	}
	data, reply, consumed := r.proto.DecodeInto(r.toProg.tail(), r.toConn.tail(), r.fromConn.bytes())
	if err := r.toProg.commit(data); err != nil {
		return err
	}
	if err := r.toConn.commit(reply); err != nil {
		return err
	}
	r.fromConn.r += consumed
	if cols, rows, changed := r.proto.WindowSize(); changed && r.master >= 0 {
		if err := r.setWinsize(cols, rows); err != nil {
			return fmt.Errorf("relay: %w", err)
		}
	}
	return nil
}

func (r *Relay) writeProgram() error {
	if r.toProg.len() > 0 {
		p := r.toProg.bytes()
		n, err := fdio.Write(r.progIn, p[:r.cut(len(p))])
		switch {
		case err == unix.EAGAIN:
			return nil
		case err == unix.EPIPE || err == unix.EIO:
			// The program closed its stdin or hung up its terminal; its
			// input is moot. Its output is still relayed.
			r.toProg.reset()
			r.eofSent = true
			return nil
		case err != nil:
			return fmt.Errorf("relay: writing to the program: %w", err)
		}
		r.toProg.r += n
		if !r.inputDone() || !r.connEOF {
			return nil
		}
	}
	if r.connEOF && !r.eofSent {
		r.eofSent = true
		return r.passEOF()
	}
	return nil
}

// passEOF tells the program that the client has sent everything.
func (r *Relay) passEOF() error {
	if r.master < 0 {
		closeFD(&r.progIn)
		return nil
	}
	t, err := unix.IoctlGetTermios(r.master, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("relay: reading the pty's termios: %w", err)
	}
	if t.Lflag&unix.ICANON != 0 {
		// What a user typing ^D at the start of a line does. It goes
		// through toProg (empty now), so a full pty input queue delays it
		// instead of losing it.
		r.toProg.reset()
		r.toProg.buf[0] = t.Cc[unix.VEOF]
		r.toProg.w = 1
		return nil
	}
	// A raw-mode program has no EOF character: hang up, as a modem (or
	// telnetd on a dropped connection) does. TIOCSIG cannot send SIGHUP,
	// and closing the master would drop output still on its way, so signal
	// the terminal's foreground process group (TIOCGPGRP on the master
	// reports the slave's, in sockjail's pid namespace). Output the program
	// writes while it handles SIGHUP is still relayed.
	pgrp, err := unix.IoctlGetInt(r.master, unix.TIOCGPGRP)
	if err != nil {
		return fmt.Errorf("relay: reading the pty's foreground process group: %w", err)
	}
	if pgrp <= 0 {
		return nil // nobody in the foreground: nothing to hang up
	}
	if err := unix.Kill(-pgrp, unix.SIGHUP); err != nil && err != unix.ESRCH {
		return fmt.Errorf("relay: sending SIGHUP to the pty's process group %d: %w", pgrp, err)
	}
	return nil
}

func (r *Relay) readProgram() error {
	limit := r.outputRoom()
	if limit == 0 {
		return nil
	}
	// In packet mode (rlogin) each read starts with a status byte: 0 for
	// data, else the status alone.
	packet := 0
	if r.rlogin != nil {
		packet = 1
	}
	n, err := fdio.Read(r.progOut, r.scratch[:r.cut(limit)+packet])
	switch {
	case err == unix.EAGAIN:
		return nil
	case err == unix.EIO || (err == nil && n == 0):
		// EIO: the last holder of the pty slave closed it. The kernel
		// hands the master every byte written before that first.
		r.progEOF = true
		return nil
	case err != nil:
		return fmt.Errorf("relay: reading the program's output: %w", err)
	}
	if packet == 1 && r.scratch[0] != unix.TIOCPKT_DATA {
		r.packetStatus(r.scratch[0])
		return nil
	}
	return r.queueOutput(r.scratch[packet:n])
}

// queueOutput appends program output (or the idle message) to toConn,
// converted for the client. The caller ensures room for 2*len(p)+1.
func (r *Relay) queueOutput(p []byte) error {
	if r.toConn.len() == 0 && r.lineIdle {
		// A line that was idle starts sending at once, but a byte still
		// on the line finishes first.
		r.lineFree = later(r.lineFree, time.Now())
	}
	// Binary output is the program's bytes as they are: no line-end
	// mapping (the client asked for them unchanged, as a file transfer
	// needs them).
	if r.cfg.CRLF && !r.cfg.PTY && !r.proto.BinaryOut() {
		p, r.outCR = crlf(r.crlfBuf[:0], p, r.outCR)
	}
	err := r.toConn.fill(func(dst []byte) []byte { return r.proto.Encode(dst, p) })
	r.lineIdle = false
	return err
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// crlf appends p to dst with every "\n" not preceded by "\r" sent as
// "\r\n"; prevCR says whether the byte before p was "\r". It returns
// whether the last byte of p was "\r".
func crlf(dst, p []byte, prevCR bool) ([]byte, bool) {
	for _, c := range p {
		if c == '\n' && !prevCR {
			dst = append(dst, '\r')
		}
		dst = append(dst, c)
		prevCR = c == '\r'
	}
	return dst, prevCR
}

func (r *Relay) writeConn() error {
	if r.urgentDue() {
		return r.sendUrgent()
	}
	p := r.toConn.bytes()
	if r.byteTime > 0 {
		p = p[:min(len(p), r.paceAllow(time.Now()))]
	}
	if !r.outSock {
		p = p[:min(len(p), pipeBuf)]
	}
	if len(p) == 0 {
		return nil
	}
	n, err := writeFD(r.connOut, p[:r.cut(len(p))], r.outSock)
	switch {
	case err == unix.EAGAIN:
		return nil
	case err == unix.EPIPE || err == unix.ECONNRESET || err == unix.ETIMEDOUT:
		return fmt.Errorf("%w: writing to the connection: %v", ErrHangup, err)
	case err != nil:
		return fmt.Errorf("relay: writing to the connection: %w", err)
	}
	r.toConn.r += n
	r.wroteConn(n)
	if r.byteTime > 0 {
		r.lineFree = r.lineFree.Add(time.Duration(n) * r.byteTime)
	}
	if r.toConn.len() == 0 {
		r.toConn.reset()
		r.lineIdle = true
	}
	return nil
}

// paceWait returns how long the line stays busy; 0 when a byte may go now.
func (r *Relay) paceWait(now time.Time) time.Duration {
	if r.byteTime == 0 || !now.Before(r.lineFree) {
		return 0
	}
	return r.lineFree.Sub(now)
}

// paceAllow returns how many bytes the line can take at now: one for each
// byte time elapsed since it became free. Credit never accumulates over an
// idle line, since queueOutput restarts the clock when output arrives at an
// empty buffer, like a modem that sends as soon as it has a byte.
func (r *Relay) paceAllow(now time.Time) int {
	if now.Before(r.lineFree) {
		return 0
	}
	return 1 + int(now.Sub(r.lineFree)/r.byteTime)
}

// startIdle ends input processing and queues the idle message.
func (r *Relay) startIdle(now time.Time) error {
	r.idleAt = now
	r.fromConn.reset()
	r.toProg.reset()
	if r.cfg.IdleMessage == "" {
		return nil
	}
	// The message is a line: it gets a line end if it has none, sent as a
	// terminal expects it, "\r\n" (with a pty, the message does not pass
	// the line discipline's ONLCR).
	msg := []byte(r.cfg.IdleMessage)
	if !bytes.HasSuffix(msg, []byte("\n")) {
		msg = append(msg, '\n')
	}
	if r.cfg.PTY || r.cfg.CRLF || r.proto.Active() {
		msg, _ = crlf(nil, msg, false)
	}
	// The message goes after pending output; drop the oldest output if
	// there is not room for both, the message matters more.
	need := 2*len(msg) + 1
	if need > len(r.toConn.buf) {
		msg = msg[:(len(r.toConn.buf)-1)/2]
		need = 2*len(msg) + 1
	}
	if r.toConn.free() < need {
		r.toConn.r += min(r.toConn.len(), need-r.toConn.free())
	}
	save := r.cfg.CRLF
	r.cfg.CRLF = false // already converted
	err := r.queueOutput(msg)
	r.cfg.CRLF = save
	return err
}

// pipeBuf is PIPE_BUF on Linux: a write of at most this many bytes to a
// pipe that poll reported writable does not block.
const pipeBuf = 4096

// fifo is a fixed-size byte queue: bytes buf[r:w] wait to be written.
//
// Invariant: 0 <= r <= w <= len(buf), and buf is never replaced or grown.
// Bytes enter only through space (for a read) or tail and commit (for an
// append): tail hands the producer the free room as a slice whose capacity
// ends where buf ends, and commit refuses a result that is not that
// slice's prefix, such as one append had to reallocate. A producer that
// needs more room than there is must wait (see Relay's queues); commit's
// error marks a bug in the producer's bound, and nothing was queued.
type fifo struct {
	buf  []byte
	r, w int
}

func (f *fifo) len() int      { return f.w - f.r }
func (f *fifo) bytes() []byte { return f.buf[f.r:f.w] }
func (f *fifo) reset()        { f.r, f.w = 0, 0 }

// free is how many bytes fit after compacting.
func (f *fifo) free() int { return len(f.buf) - f.len() }

// compact moves the pending bytes to the front.
func (f *fifo) compact() {
	if f.r == 0 {
		return
	}
	n := copy(f.buf, f.buf[f.r:f.w])
	f.r, f.w = 0, n
}

// space compacts f and returns its free room to read into; the caller adds
// what it read to w.
func (f *fifo) space() []byte {
	f.compact()
	return f.buf[f.w:]
}

// tail compacts f and returns an empty slice whose capacity is f's free
// room, to append to and then pass to commit.
func (f *fifo) tail() []byte {
	f.compact()
	return f.buf[f.w:f.w:len(f.buf)]
}

// commit queues p, which must be what a producer appended to the slice
// tail returned, with nothing queued since.
func (f *fifo) commit(p []byte) error {
	room := len(f.buf) - f.w
	if cap(p) != room || (room > 0 && &p[:1][0] != &f.buf[f.w]) {
		return fmt.Errorf("relay: internal error: %d bytes overflowed a queue with %d bytes of room", len(p), room)
	}
	f.w += len(p)
	return nil
}

// fill appends what produce appends to the empty slice it gets, which has
// f's free room as its capacity.
func (f *fifo) fill(produce func([]byte) []byte) error {
	return f.commit(produce(f.tail()))
}

func isSocket(fd int) (bool, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, err
	}
	return st.Mode&unix.S_IFMT == unix.S_IFSOCK, nil
}

func readFD(fd int, p []byte, sock bool) (int, error) {
	if sock {
		return fdio.Recv(fd, p, 0)
	}
	return fdio.Read(fd, p)
}

func writeFD(fd int, p []byte, sock bool) (int, error) {
	if sock {
		return fdio.Send(fd, p)
	}
	return fdio.Write(fd, p)
}
