// Package policy loads, validates and prints sockjail's per-service policy
// files.
//
// A policy is a TOML file (schema version 1) that says how one service's
// program is confined: which paths it may read, write and execute, which
// syscalls and TCP ports it may use, which limits apply, and how its
// connection is closed. Every key is optional; an omitted key takes the
// secure default of [Default].
//
// The package knows nothing about processes or sockets: it turns text into a
// validated [Policy] value and back. Applying a policy is the job of package
// sandbox; running a connection is the job of internal/session.
package policy

import (
	"net/netip"
	"strconv"
	"time"
)

// SchemaVersion is the only policy schema version this package accepts.
const SchemaVersion = 1

// Enforce says what to do when a protection that the policy asks for cannot
// be applied on the running kernel.
type Enforce string

const (
	// EnforceStrict refuses to start the program (the default).
	EnforceStrict Enforce = "strict"
	// EnforceBestEffort applies what the kernel supports and logs the rest.
	EnforceBestEffort Enforce = "best-effort"
)

// Policy is a validated, defaults-filled policy. The zero value is not
// useful; obtain one from [Default], [Load] or [Parse].
type Policy struct {
	Version    int        `toml:"version"`
	Enforce    Enforce    `toml:"enforce"`
	Program    Program    `toml:"program"`
	Connection Connection `toml:"connection"`
	Filesystem Filesystem `toml:"filesystem"`
	Network    Network    `toml:"network"`
	Syscalls   Syscalls   `toml:"syscalls"`
	Limits     Limits     `toml:"limits"`
	Serve      Serve      `toml:"serve"`
	Terminal   Terminal   `toml:"terminal"`

	// Source names where the policy came from: a file name, or
	// "(default)" for the embedded default. It is not part of the file.
	Source string `toml:"-"`

	// text is the file as Parse read it, for the positions of the
	// errors that CheckHost finds later.
	text []byte
}

// Stderr says where the program's standard error goes.
type Stderr string

const (
	StderrLog        Stderr = "log"        // into sockjail's log, tagged with the connection
	StderrNull       Stderr = "null"       // /dev/null
	StderrConnection Stderr = "connection" // the client's socket, like stdout
	StderrInherit    Stderr = "inherit"    // sockjail's own stderr, untouched
)

// UserDynamic is the [Program.User] value that asks for a transient uid and
// gid per connection.
const UserDynamic = "dynamic"

// Program describes the identity and environment of the served program.
type Program struct {
	// User is "" (a dynamic uid per session when started as root, as
	// [UserDynamic]; else the current user), a user name, a numeric uid, or
	// [UserDynamic].
	User string `toml:"user"`
	// Group is "" (the user's primary group), a group name or a numeric gid.
	Group string `toml:"group"`
	// DynamicUIDs is the inclusive uid/gid range that [UserDynamic] (and ""
	// as root) allocates from. It must avoid systemd's dynamic range (61184–65519) and regular
	// users.
	DynamicUIDs IDRange `toml:"dynamic_uids"`
	Workdir     string  `toml:"workdir"`
	// Env is set in the program's environment.
	Env map[string]string `toml:"env"`
	// PassEnv names variables copied from sockjail's own environment.
	PassEnv []string `toml:"pass_env"`
	Stderr  Stderr   `toml:"stderr"`
	// StderrRate and StderrMax bound what of the program's stderr is
	// logged with [StderrLog]: lines per second (with bursts of as many)
	// and bytes per session; 0 is no bound.
	StderrRate int  `toml:"stderr_rate"`
	StderrMax  Size `toml:"stderr_max"`
}

// IDRange is an inclusive range of uids or gids, written "lo-hi".
type IDRange struct {
	Lo, Hi uint32
}

// Connection holds the timings of the connection lifecycle.
type Connection struct {
	FlushTimeout Duration `toml:"flush_timeout"`
	CloseDelay   Duration `toml:"close_delay"`
	LingerIdle   Duration `toml:"linger_idle"`
	LingerMax    Duration `toml:"linger_max"`
	MaxDuration  Duration `toml:"max_duration"` // 0 = none
	IdleTimeout  Duration `toml:"idle_timeout"` // 0 = none
	NoDelay      bool     `toml:"nodelay"`
	KeepAlive    Duration `toml:"keepalive"` // 0 = off
}

// Path is a filesystem path in a policy. Written with a leading "-", a
// missing path is ignored, as in systemd's ReadOnlyPaths=.
type Path struct {
	Name     string // absolute and clean
	Optional bool   // written with a leading "-"
}

// Filesystem lists the paths the program may use. Every other path is
// denied.
type Filesystem struct {
	PrivateTmp bool `toml:"private_tmp"`
	TmpSize    Size `toml:"tmp_size"`
	// TmpInodes caps the files, directories and symlinks of each private
	// tmpfs (tmpfs nr_inodes), which tmp_size does not: every inode costs
	// the kernel about 1 KiB whatever its size.
	TmpInodes uint64 `toml:"tmp_inodes"`
	// Proc mounts a fresh, read-only procfs on /proc that shows only the
	// session's own processes.
	Proc bool `toml:"proc"`
	// ProcExplicit reports whether the file wrote proc itself: only then
	// does a strict policy refuse where the kernel can't mount it (the
	// default goes on without /proc). Like Terminal.PTYExplicit it is
	// informational for Equal.
	ProcExplicit bool `toml:"-"`
	// ShmSize is the size of the private tmpfs on /dev/shm; 0 means none.
	ShmSize   Size   `toml:"shm_size"`
	ReadOnly  []Path `toml:"read_only"`
	ReadWrite []Path `toml:"read_write"`
	Exec      []Path `toml:"exec"`
	// Devices are device files the program may read and write, ioctl
	// included (for example /dev/null, /dev/urandom).
	Devices []Path `toml:"devices"`
}

// PortRange is an inclusive TCP port range; a single port has Lo == Hi.
type PortRange struct {
	Lo, Hi uint16
}

// Network holds the Landlock network rules and IPC scopes.
type Network struct {
	BindTCP           []PortRange `toml:"bind_tcp"`
	ConnectTCP        []PortRange `toml:"connect_tcp"`
	ScopeSignals      bool        `toml:"scope_signals"`
	ScopeAbstractUnix bool        `toml:"scope_abstract_unix"`
}

// SyscallAction is what the seccomp filter does with a syscall that is not
// allowed.
type SyscallAction string

const (
	ActionErrno SyscallAction = "errno" // fail with Syscalls.Errno
	ActionKill  SyscallAction = "kill"  // kill the process with SIGSYS
	ActionLog   SyscallAction = "log"   // allow, but log to the audit log
)

// Syscalls configures the seccomp filter.
type Syscalls struct {
	Allow  []string      `toml:"allow"` // names and @groups
	Deny   []string      `toml:"deny"`  // names and @groups; wins over Allow
	Action SyscallAction `toml:"action"`
	Errno  string        `toml:"errno"` // an errno name such as "EPERM"
}

// Limits are the session's bounds: rlimits applied to the program's
// processes one by one, and the session's totals (Memory, Tasks,
// CPUQuota), which a cgroup enforces. A zero Size or Duration means 0, not
// unlimited; Unlimited values are written "unlimited".
type Limits struct {
	NoFile       Limit `toml:"nofile"`
	NProc        Limit `toml:"nproc"`
	CPU          Limit `toml:"cpu"`           // seconds
	AddressSpace Limit `toml:"address_space"` // bytes
	FileSize     Limit `toml:"file_size"`     // bytes
	Core         Limit `toml:"core"`          // bytes
	// Memory is the session's total memory in bytes: its processes'
	// pages, the kernel memory they cause (dentries, inodes, page tables,
	// socket buffers) and the pages of its private /tmp. Swap is not
	// allowed.
	Memory Limit `toml:"memory"`
	// Tasks counts the session's processes and threads together.
	Tasks Limit `toml:"tasks"`
	// CPUQuota is a share of one CPU in percent: 250 is two and a half
	// CPUs' worth of time per period.
	CPUQuota Limit `toml:"cpu_quota"`
	// Written says which of Memory, Tasks and CPUQuota the policy file
	// wrote itself. A written bound is a requirement (a strict policy
	// refuses the connection when it can't be enforced); a default one
	// is applied wherever it can be. It is not part of the file.
	Written SessionBounds `toml:"-"`
}

// SessionBounds names the cgroup bounds of [Limits].
type SessionBounds struct {
	Memory, Tasks, CPUQuota bool
}

// Any reports whether any of the bounds is set.
func (b SessionBounds) Any() bool { return b.Memory || b.Tasks || b.CPUQuota }

// Serve holds the settings of `sockjail serve`.
type Serve struct {
	MaxConnections int     `toml:"max_connections"`
	MaxPerSource   int     `toml:"max_per_source"`
	RatePerSource  float64 `toml:"rate_per_source"` // new connections per second per source; 0 = no limit
	// SourcePrefixV4 and SourcePrefixV6 are the prefix lengths that make
	// one source for MaxPerSource and RatePerSource (32 and 128: whole
	// addresses); LimitExempt are the sources those limits skip.
	SourcePrefixV4 int            `toml:"source_prefix_v4"`
	SourcePrefixV6 int            `toml:"source_prefix_v6"`
	LimitExempt    []netip.Prefix `toml:"limit_exempt"`
	// AllowFrom and DenyFrom are parsed, host bits cleared; no
	// IPv4-mapped IPv6 prefixes.
	AllowFrom   []netip.Prefix `toml:"allow_from"` // empty = everyone
	DenyFrom    []netip.Prefix `toml:"deny_from"`  // wins over AllowFrom
	BusyMessage string         `toml:"busy_message"`
	// ProxyProtocol says whether a PROXY protocol header precedes the
	// client's stream. `run` honours it too, since a load balancer can sit
	// in front of Accept=yes.
	ProxyProtocol ProxyMode `toml:"proxy_protocol"`
	StopTimeout   Duration  `toml:"stop_timeout"`
	// DrainDelay is how long serve goes on accepting after SIGTERM, while
	// /readyz already says 503, so that load balancers notice first.
	DrainDelay Duration `toml:"drain_delay"`
	// HealthCheck names the load balancer health checks that serve
	// answers without starting the program.
	HealthCheck HealthCheck `toml:"health_check"`
	// AdminListen is the admin listener's HOST:PORT; "" means none.
	AdminListen string `toml:"admin_listen"`
	// PoW is the proof of work's difficulty in bits (0: none), PoWTimeout
	// the time a client has to answer, PoWExempt the clients that skip it.
	PoW        int            `toml:"pow"`
	PoWTimeout Duration       `toml:"pow_timeout"`
	PoWExempt  []netip.Prefix `toml:"pow_exempt"`
}

// HealthCheck is the value of [Serve.HealthCheck].
type HealthCheck string

const (
	HealthCheckOff        HealthCheck = "off"         // every connection is a session
	HealthCheckProxyLocal HealthCheck = "proxy-local" // a PROXY v2 LOCAL header is a check
	HealthCheckTCP        HealthCheck = "tcp"         // a connection closed before its PROXY header is a check
	HealthCheckAny        HealthCheck = "any"         // both
)

// ProxyLocal reports whether a PROXY v2 LOCAL connection is a health check.
func (h HealthCheck) ProxyLocal() bool { return h == HealthCheckProxyLocal || h == HealthCheckAny }

// TCP reports whether a connection closed before sending anything is a
// health check.
func (h HealthCheck) TCP() bool { return h == HealthCheckTCP || h == HealthCheckAny }

// ProxyMode is the [Serve.ProxyProtocol] setting: which PROXY protocol
// header versions a connection must start with, if any.
type ProxyMode string

const (
	ProxyOff ProxyMode = "off" // no header expected (the default)
	ProxyV1  ProxyMode = "v1"  // a text header is required
	ProxyV2  ProxyMode = "v2"  // a binary header is required
	ProxyAny ProxyMode = "any" // a v1 or v2 header is required
)

// Expected reports whether a connection must start with a PROXY header.
// The zero value, as in a Policy not made by Parse, expects none.
func (m ProxyMode) Expected() bool { return m != "" && m != ProxyOff }

// Terminal configures interactive sessions. Off by default, so that plain
// programs keep the zero-copy path.
type Terminal struct {
	// PTY is the effective setting: when the file turns telnet or rlogin
	// on and doesn't write pty, PTY is true.
	PTY bool `toml:"pty"`
	// PTYExplicit reports whether the file wrote pty itself. It is
	// informational; [Policy.Marshal] always writes pty, so a marshalled
	// policy has it set.
	PTYExplicit bool `toml:"-"`
	// Protocol is what the client speaks. Parse keeps it consistent with
	// Telnet: ProtocolTelnet exactly when Telnet is not TelnetOff. A
	// Policy not made by Parse may leave it "", which reads as raw, or
	// as telnet when Telnet is on.
	Protocol Protocol `toml:"protocol"`
	Telnet   Telnet   `toml:"telnet"`
	CRLF     bool     `toml:"crlf"` // \n to \r\n in output; only without a pty
	// Binary offers telnet BINARY (RFC 856) both ways; needs telnet on.
	Binary bool   `toml:"binary"`
	Term   string `toml:"term"`
	// IdleMessage is sent before a session ends for
	// Connection.IdleTimeout; it needs an idle_timeout.
	IdleMessage string `toml:"idle_message"`
	LineRate    int    `toml:"line_rate"` // bit/s; 0 = unpaced
}

// Protocol is the [Terminal.Protocol] setting.
type Protocol string

const (
	ProtocolRaw    Protocol = "raw"    // bytes as they are
	ProtocolTelnet Protocol = "telnet" // telnet, in the mode [Terminal.Telnet] says
	ProtocolRlogin Protocol = "rlogin" // RFC 1282: a handshake, then bytes with window-size messages
)

// Telnet is the [Terminal.Telnet] setting, written false, true or
// "passive" in a file.
type Telnet string

const (
	TelnetOff     Telnet = "off"     // no telnet protocol (false)
	TelnetOn      Telnet = "on"      // negotiate actively (true)
	TelnetPassive Telnet = "passive" // answer a client's negotiation, never start it
)

// Duration is a time.Duration written as "30s", "5m", "1h30m", "250ms" or
// "0". It is never negative.
type Duration time.Duration

// Duration returns d as a time.Duration.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

// String returns d as a policy file writes it: "0", "30s", "1h30m".
func (d Duration) String() string { return formatDuration(d) }

// Size is a byte count written as an integer or with a unit: B, KiB, MiB,
// GiB, TiB (K, M, G, T are accepted as the same binary units).
type Size uint64

// Bytes returns s as a byte count.
func (s Size) Bytes() uint64 { return uint64(s) }

// String returns s with the largest unit that divides it: "64MiB", "1000B".
func (s Size) String() string { return formatSize(uint64(s)) }

// Limit is an rlimit value; Unlimited means RLIM_INFINITY. Value is in the
// limit's own unit: a count (nofile, nproc), seconds (cpu) or bytes.
type Limit struct {
	Value     uint64
	Unlimited bool
}

// RlimInfinity is RLIM_INFINITY on Linux.
const RlimInfinity = ^uint64(0)

// Rlimit returns the value for setrlimit(2): Value, or RLIM_INFINITY when
// Unlimited.
func (l Limit) Rlimit() uint64 {
	if l.Unlimited {
		return RlimInfinity
	}
	return l.Value
}

// String returns p as written in a policy, with a leading "-" when it is
// optional.
func (p Path) String() string {
	if p.Optional {
		return "-" + p.Name
	}
	return p.Name
}

// String returns r as "lo-hi", or "lo" for a single port.
func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(int(r.Lo))
	}
	return strconv.Itoa(int(r.Lo)) + "-" + strconv.Itoa(int(r.Hi))
}

// Contains reports whether port is in r.
func (r PortRange) Contains(port uint16) bool { return r.Lo <= port && port <= r.Hi }

// String returns r as "lo-hi".
func (r IDRange) String() string {
	return strconv.FormatUint(uint64(r.Lo), 10) + "-" + strconv.FormatUint(uint64(r.Hi), 10)
}

// Contains reports whether id is in r.
func (r IDRange) Contains(id uint32) bool { return r.Lo <= id && id <= r.Hi }
