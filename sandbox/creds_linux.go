package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockjail/sockjail/internal/users"
	"github.com/sockjail/sockjail/policy"
)

// DynamicLockDir holds one lock file per dynamic uid. A uid is in use
// exactly while some sockjail holds an exclusive flock on its file, so two
// live sessions — in one process or in many — never share a uid.
const DynamicLockDir = "/run/sockjail/dynamic"

// NobodyID is nobody's uid and gid on Debian.
const NobodyID = 65534

// Why user = "" is a dynamic uid per session when sockjail runs as root,
// and not the shared nobody: the kernel counts many limits per uid, across
// every process of that uid on the machine (RLIMIT_NPROC, RLIMIT_SIGPENDING,
// RLIMIT_MSGQUEUE, RLIMIT_MEMLOCK, inotify instances and watches, fanotify
// groups and marks, user namespaces, pipe buffer pages, epoll watches,
// in-flight SCM_RIGHTS descriptors). Under a shared uid one caller who
// reaches any of them (255 sleeping children, 128 inotify instances) makes
// every other session of every service that runs as nobody fail. A uid of
// the session's own gives each caller its own limits, and signals and
// ptrace between sessions fail on the uid too. docs/design.md ("One uid per
// session") lists each limit and what covers it.

// creds is the identity the program runs with.
type creds struct {
	uid, gid     int
	groups       []uint32
	setIDs       bool // setresgid/setresuid to gid/uid
	setGroups    bool // setgroups(groups)
	dropBounding bool // empty the capability bounding set
	// fixedGID: a dynamic uid keeps gid (program.group) instead of
	// taking the gid equal to the uid.
	fixedGID bool
	lastCap  int
}

// planCreds resolves [program] user and group. As root, user "" means a
// dynamic uid of the session's own (see sessionUIDDefault); unprivileged, it
// means the current user, and a different user is impossible (a gap,
// refused when strict).
func (s *Sandbox) planCreds(g *gaps) error {
	prog := s.policy.Program
	root := os.Geteuid() == 0
	c := &s.creds
	c.uid, c.gid = os.Geteuid(), os.Getegid()
	lastCap, err := readLastCap()
	if err != nil {
		return err
	}
	c.lastCap = lastCap
	c.dropBounding = root

	switch {
	case prog.User == policy.UserDynamic, prog.User == "" && root:
		r := prog.DynamicUIDs
		if r.Lo == 0 || r.Hi < r.Lo {
			return fmt.Errorf("program.dynamic_uids %d-%d is not a usable range", r.Lo, r.Hi)
		}
		if !root {
			g.add(`user = "dynamic" needs sockjail to start as root (it runs as uid %d)`, c.uid)
			break
		}
		s.dynamic = true
		c.uid, c.gid = int(r.Lo), int(r.Lo) // replaced per Start
		c.setIDs, c.setGroups = true, true
		s.report.Dynamic = true
	case prog.User == "":
		// Unprivileged: sockjail's own uid, the only one it has.
	default:
		u, err := users.ResolveUser(prog.User)
		if err != nil {
			return fmt.Errorf("program.user %q: %w", prog.User, err)
		}
		uid, gid := int(u.UID), int(u.GID)
		if !root {
			if uid != c.uid {
				g.add("program.user %q needs sockjail to start as root (it runs as uid %d)", prog.User, c.uid)
			}
			break
		}
		c.uid, c.gid = uid, gid
		c.setIDs, c.setGroups = true, true
		groups, err := users.SupplementaryGroups(u)
		if err != nil {
			return fmt.Errorf("program.user %q: its groups: %w", prog.User, err)
		}
		c.groups = groups
	}
	if prog.Group != "" {
		g32, err := users.ResolveGroup(prog.Group)
		if err != nil {
			return fmt.Errorf("program.group %q: %w", prog.Group, err)
		}
		gid := int(g32)
		if !root && gid != c.gid {
			g.add("program.group %q needs sockjail to start as root", prog.Group)
		} else if root {
			c.gid = gid
			c.setIDs = true
			c.fixedGID = true
		}
	}
	s.report.UID, s.report.GID = c.uid, c.gid
	return nil
}

func readLastCap() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("reading the highest capability number: %w", err)
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// dynamicUID is a uid held for one session.
type dynamicUID struct {
	uid  uint32
	lock *os.File
}

var dynamicNext atomic.Uint32 // where the next search starts, to spread contention

// allocDynamicUID takes the first free uid in [lo, hi] by a non-blocking
// exclusive flock on its lock file and returns it. With sweep, it first kills
// any process left with that uid by a sockjail that died without Close (only
// possible without a PID namespace: with one, the init's parent-death
// signal takes the whole namespace down with sockjail). roots are the
// paths the session may write: see claimDynamicFiles. A uid whose earlier
// files can't be swept is passed over.
func allocDynamicUID(lo, hi uint32, sweep bool, roots []string) (*dynamicUID, error) {
	if err := os.MkdirAll(DynamicLockDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", DynamicLockDir, err)
	}
	n := hi - lo + 1
	start := dynamicNext.Add(1)
	var unusable error // why the last uid that was free could not be used
	for i := uint32(0); i < n; i++ {
		uid := lo + (start+i)%n
		path := filepath.Join(DynamicLockDir, strconv.FormatUint(uint64(uid), 10)+".lock")
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", path, err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				continue
			}
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if sweep {
			if err := killUID(int(uid)); err != nil {
				f.Close()
				return nil, err
			}
		}
		if err := claimDynamicFiles(uid, roots); err != nil {
			f.Close()
			unusable = err
			continue
		}
		return &dynamicUID{uid: uid, lock: f}, nil
	}
	if unusable != nil {
		return nil, fmt.Errorf("all %d dynamic uids %d-%d are in use or unusable; the last one: %w", n, lo, hi, unusable)
	}
	return nil, fmt.Errorf("all %d dynamic uids %d-%d are in use (hint: widen program.dynamic_uids)", n, lo, hi)
}

func (d *dynamicUID) release() {
	if d.lock != nil {
		d.lock.Close() // drops the flock
		d.lock = nil
	}
}

// killUID SIGKILLs every process whose real, effective or saved uid is uid,
// and repeats until a scan of /proc finds none (a process may fork while we
// scan). Zombies are ignored: they run nothing and their parent reaps them.
func killUID(uid int) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, err := pidsOfUID(uid)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			unix.Kill(pid, syscall.SIGKILL)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes of uid %d survive SIGKILL: %v", uid, pids)
		}
		time.Sleep(time.Millisecond)
	}
}

func pidsOfUID(uid int) ([]int, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("listing /proc: %w", err)
	}
	want := []byte(strconv.Itoa(uid))
	var pids []int
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + name + "/status")
		if err != nil {
			continue // gone
		}
		var state, uids []byte
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			line := sc.Bytes()
			if v, ok := bytes.CutPrefix(line, []byte("State:")); ok {
				state = bytes.TrimSpace(v)
			} else if v, ok := bytes.CutPrefix(line, []byte("Uid:")); ok {
				uids = v
				break
			}
		}
		if bytes.HasPrefix(state, []byte("Z")) || bytes.HasPrefix(state, []byte("X")) {
			continue
		}
		f := bytes.Fields(uids)
		for i := 0; i < len(f) && i < 3; i++ {
			if bytes.Equal(f[i], want) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids, nil
}
