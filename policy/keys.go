package policy

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// keyDef describes one key of the schema: its documentation, how to parse
// it into a Policy and how to write it back. The table below is the single
// source of the schema: Parse, Marshal, `sockjail policy show` and
// docs/policy.md all come from it, so they cannot drift apart.
type keyDef struct {
	path   string // "table.key", or "key" at the top level
	typ    string // the value's type, for the reference
	doc    string // what the key means, for the reference
	parse  func(p *Policy, v any, c *decoder)
	format func(p *Policy) string // the TOML value
	// elems writes each element of a list key, for MarshalCommented's
	// one-element-per-line lists; nil for keys that are not lists. A list
	// key's format joins them on one line (formatList).
	elems func(p *Policy) []string
	// implicit reports that p's value of the key was not written by its
	// file and that writing it would change what the policy does (an
	// explicit proc or session bound is enforced strictly); nil for keys
	// whose meaning doesn't depend on being written.
	implicit func(p *Policy) bool
}

// tableDef describes one table of the schema.
type tableDef struct {
	name string
	doc  string
}

// tables lists the schema's tables in file order.
var tables = []tableDef{
	{"", "Top-level keys."},
	{"program", "Who the program runs as, and its environment."},
	{"connection", "How the connection is kept and closed. sockjail closes a connection by flushing: it shuts down its side (FIN) once the program is gone and its output acknowledged, then reads and discards what the client still sends, so that the client never gets a reset."},
	{"filesystem", "What the program may see, through Landlock. Every path not listed is denied entirely. A leading \"-\" on a path ignores it when it is missing, as in systemd's ReadOnlyPaths=; without it, a missing path refuses the connection. The program named on the command line and its script interpreter are always readable and executable."},
	{"network", "Landlock TCP rules and IPC scopes. The connection itself needs no rule."},
	{"syscalls", "The seccomp filter. Groups use systemd's names (see docs/syscalls.md and `sockjail policy syscalls`)."},
	{"limits", "The session's bounds. nofile to core are rlimits, applied to each of the program's processes. memory, tasks and cpu_quota bound the whole session together, through a cgroup of its own (or the unit's, under systemd Accept=yes): a value this file writes is required, and a strict policy refuses the connection where it can't be enforced; the default's values apply wherever sockjail can create the session's cgroup, and the log line says when they were skipped (see the README's table of who enforces what). Sizes take B, KiB, MiB, GiB or TiB; times take s, m or h. \"unlimited\" lifts a limit."},
	{"serve", "Settings of `sockjail serve` (and proxy_protocol for `run`)."},
	{"terminal", "Interactive sessions. Off by default, so that plain programs get the connection directly."},
}

// keys lists every key in file order. Lists and tables written in a file
// replace the default entirely; they are not merged.
var keys = []keyDef{
	{
		path: "version", typ: "integer",
		doc: "Schema version. Only 1 exists; a file without it is read as version 1.",
		parse: func(p *Policy, v any, c *decoder) {
			n, ok := v.(int64)
			if !ok {
				c.errorf("version", "expected the integer %d, got %s", SchemaVersion, typeName(v))
				return
			}
			if n != SchemaVersion {
				c.errorf("version", "unsupported version %d: this sockjail reads version %d", n, SchemaVersion)
				return
			}
			p.Version = SchemaVersion
		},
		format: func(p *Policy) string { return strconv.Itoa(p.Version) },
	},
	{
		path: "enforce", typ: `"strict" | "best-effort"`,
		doc: `"strict" refuses the connection (and logs why) when a protection this policy asks for can't be applied on the running kernel. "best-effort" applies what the kernel supports and logs what was skipped.`,
		parse: func(p *Policy, v any, c *decoder) {
			p.Enforce = Enforce(c.enum("enforce", v, string(EnforceStrict), string(EnforceBestEffort)))
		},
		format: func(p *Policy) string { return quote(string(p.Enforce)) },
	},

	// [program]
	{
		path: "program.user", typ: "string",
		doc:    `The user the program runs as: a name, a numeric uid, or "dynamic" for a transient uid per connection from dynamic_uids. "" means a dynamic uid of each connection's own when sockjail runs as root (so that no caller shares the kernel's per-user limits, such as RLIMIT_NPROC and inotify instances, with another, or their files), and sockjail's own user otherwise. A dynamic uid's files in read_write paths are given to root when its session ends: a service that keeps state between sessions names its user.`,
		parse:  func(p *Policy, v any, c *decoder) { p.Program.User = c.str("program.user", v) },
		format: func(p *Policy) string { return quote(p.Program.User) },
	},
	{
		path: "program.group", typ: "string",
		doc:    `The group: a name or a numeric gid. "" means the user's primary group. Must be "" with user = "dynamic", whose gid is allocated with the uid.`,
		parse:  func(p *Policy, v any, c *decoder) { p.Program.Group = c.str("program.group", v) },
		format: func(p *Policy) string { return quote(p.Program.Group) },
	},
	{
		path: "program.dynamic_uids", typ: `string "lo-hi"`,
		doc: `The inclusive range user = "dynamic" (and user = "" as root) allocates uids (and equal gids) from. It must not overlap systemd's dynamic range 61184-65519, and, when used, no user in /etc/passwd may have a uid in it.`,
		parse: func(p *Policy, v any, c *decoder) {
			r, err := parseIDRange(v)
			if c.check("program.dynamic_uids", err) {
				p.Program.DynamicUIDs = r
			}
		},
		format: func(p *Policy) string { return quote(p.Program.DynamicUIDs.String()) },
	},
	{
		path: "program.workdir", typ: "path",
		doc: "The program's working directory.",
		parse: func(p *Policy, v any, c *decoder) {
			path, err := parsePath(v)
			if err == nil && path.Optional {
				err = fmt.Errorf("workdir can't be optional")
			}
			if c.check("program.workdir", err) {
				p.Program.Workdir = path.Name
			}
		},
		format: func(p *Policy) string { return quote(p.Program.Workdir) },
	},
	{
		path: "program.env", typ: "table of strings",
		doc: "Variables set in the program's environment. sockjail's own connection variables (REMOTE_ADDR, TCPREMOTEIP, ...) are added after these.",
		parse: func(p *Policy, v any, c *decoder) {
			m, ok := v.(map[string]any)
			if !ok {
				c.errorf("program.env", "expected a table of strings such as { LANG = \"C.UTF-8\" }, got %s", typeName(v))
				return
			}
			env := map[string]string{}
			for k, val := range m {
				path := "program.env." + k
				if !validEnvName(k) {
					c.keyErrorf(path, "invalid variable name %q: use letters, digits and _, not starting with a digit", k)
					continue
				}
				s, ok := val.(string)
				if !ok {
					c.errorf(path, "expected a string, got %s", typeName(val))
					continue
				}
				if strings.ContainsRune(s, 0) {
					c.errorf(path, "value contains a NUL character")
					continue
				}
				env[k] = s
			}
			p.Program.Env = env
		},
		format: func(p *Policy) string {
			names := sortedKeys(p.Program.Env)
			if len(names) == 0 {
				return "{}"
			}
			parts := make([]string, len(names))
			for i, k := range names {
				parts[i] = k + " = " + quote(p.Program.Env[k])
			}
			return "{ " + strings.Join(parts, ", ") + " }"
		},
	},
	{
		path: "program.pass_env", typ: "list of strings",
		doc: "Names of variables copied from sockjail's own environment, when set there.",
		parse: func(p *Policy, v any, c *decoder) {
			p.Program.PassEnv = c.strList("program.pass_env", v, func(s string) error {
				if !validEnvName(s) {
					return fmt.Errorf("invalid variable name %q: use letters, digits and _, not starting with a digit", s)
				}
				return nil
			})
		},
		elems:  func(p *Policy) []string { return quoteAll(p.Program.PassEnv) },
		format: func(p *Policy) string { return quoteList(p.Program.PassEnv) },
	},
	{
		path: "program.stderr", typ: `"log" | "null" | "connection" | "inherit"`,
		doc: `Where the program's stderr goes: "log" into sockjail's log, one line per record, tagged with the connection; "null" nowhere; "connection" to the client like stdout; "inherit" to sockjail's own stderr untouched.`,
		parse: func(p *Policy, v any, c *decoder) {
			p.Program.Stderr = Stderr(c.enum("program.stderr", v, string(StderrLog), string(StderrNull), string(StderrConnection), string(StderrInherit)))
		},
		format: func(p *Policy) string { return quote(string(p.Program.Stderr)) },
	},
	intKey("program.stderr_rate", `With stderr = "log": the most lines of the program's stderr logged per second, with bursts of as many at once; past it lines are dropped, counted, and the connection's log line says stderr_dropped=N. 0 means no rate limit. Lines longer than 4096 bytes are cut there (the log line marks them cut=true).`, 0, 1e6, func(p *Policy) *int { return &p.Program.StderrRate }),
	{
		path: "program.stderr_max", typ: "size",
		doc: `With stderr = "log": the most bytes of the program's stderr logged per session; past it lines are dropped and counted like those over stderr_rate. "0" means no limit. The program is never slowed by its stderr: sockjail reads it at once and drops what it doesn't log.`,
		parse: func(p *Policy, v any, c *decoder) {
			n, err := parseSize(v)
			if c.check("program.stderr_max", err) {
				p.Program.StderrMax = Size(n)
			}
		},
		format: func(p *Policy) string { return quote(p.Program.StderrMax.String()) },
	},

	// [connection]
	durationKey("connection.flush_timeout", "How long sockjail waits, after the program ends, for the client to acknowledge its output before closing anyway.", func(p *Policy) *Duration { return &p.Connection.FlushTimeout }),
	durationKey("connection.close_delay", "An extra wait after the output is acknowledged and before the FIN, for terminal servers that still have to send it down a slow line.", func(p *Policy) *Duration { return &p.Connection.CloseDelay }),
	durationKey("connection.linger_idle", "After the FIN, the connection is closed once the client has sent nothing for this long.", func(p *Policy) *Duration { return &p.Connection.LingerIdle }),
	durationKey("connection.linger_max", "After the FIN, the connection is closed after this long at most.", func(p *Policy) *Duration { return &p.Connection.LingerMax }),
	durationKey("connection.max_duration", `The longest a session may last; the program is then ended. "0" means no limit.`, func(p *Policy) *Duration { return &p.Connection.MaxDuration }),
	durationKey("connection.idle_timeout", `A session with no data either way for this long is ended. "0" means no limit.`, func(p *Policy) *Duration { return &p.Connection.IdleTimeout }),
	boolKey("connection.nodelay", "Set TCP_NODELAY on the connection.", func(p *Policy) *bool { return &p.Connection.NoDelay }),
	{
		path: "connection.keepalive", typ: "duration",
		doc: `Turn on TCP keepalive with this idle time (whole seconds, at most 32767s). "0" turns it off.`,
		parse: func(p *Policy, v any, c *decoder) {
			d, err := parseDuration(v)
			if err == nil && d != 0 && (d.Duration()%1e9 != 0 || d.Duration() > 32767e9) {
				err = fmt.Errorf("keepalive %q must be whole seconds from 1s to 32767s (TCP_KEEPIDLE), or \"0\"", v)
			}
			if c.check("connection.keepalive", err) {
				p.Connection.KeepAlive = d
			}
		},
		format: func(p *Policy) string { return quote(p.Connection.KeepAlive.String()) },
	},

	// [filesystem]
	boolKey("filesystem.private_tmp", "Give the program a private, empty /tmp and /var/tmp of its own, removed when the session ends.", func(p *Policy) *bool { return &p.Filesystem.PrivateTmp }),
	{
		path: "filesystem.tmp_size", typ: "size",
		doc: "The size limit of the private /tmp.",
		parse: func(p *Policy, v any, c *decoder) {
			n, err := parseSize(v)
			if err == nil && n < 4096 {
				err = fmt.Errorf("tmp_size must be at least 4KiB")
			}
			if c.check("filesystem.tmp_size", err) {
				p.Filesystem.TmpSize = Size(n)
			}
		},
		format: func(p *Policy) string { return quote(p.Filesystem.TmpSize.String()) },
	},
	{
		path: "filesystem.tmp_inodes", typ: "integer",
		doc: "The most files, directories and symlinks the private /tmp may hold (tmpfs nr_inodes; /var/tmp has its own, equal cap); one more fails with ENOSPC. tmp_size doesn't bound them: an empty file costs the kernel about 1 KiB (1.0 KiB with short names, 1.6 KiB with 255-byte names, measured on Linux 6.18), so the default of 10000 keeps a full /tmp within about 16 MiB of kernel memory.",
		parse: func(p *Policy, v any, c *decoder) {
			n, ok := v.(int64)
			switch {
			case !ok:
				c.errorf("filesystem.tmp_inodes", "expected an integer, got %s", typeName(v))
			case n < minTmpInodes || n > maxTmpInodes:
				c.errorf("filesystem.tmp_inodes", "tmp_inodes must be from %d to %d, got %d", minTmpInodes, maxTmpInodes, n)
			default:
				p.Filesystem.TmpInodes = uint64(n)
			}
		},
		format: func(p *Policy) string { return strconv.FormatUint(p.Filesystem.TmpInodes, 10) },
	},
	explicitBoolKey("filesystem.proc", "Mount a fresh procfs on /proc, read-only, showing only the session's own processes (subset=pid: no /proc/sys, /proc/kcore or other system files), and let the program read it: its own /proc/self/fd, /proc/self/status and the like work, and nothing of the host's /proc is reachable. It needs a PID and mount namespace (root, or a user namespace). Where the kernel refuses the mount (in a container with a masked /proc, or without namespaces), the default goes on without /proc and logs it; a file that writes proc = true itself refuses the connection then under enforce = \"strict\". false leaves the host's /proc in place, which Landlock denies unless a path grants it.", func(p *Policy) *bool { return &p.Filesystem.Proc }, func(p *Policy) *bool { return &p.Filesystem.ProcExplicit }),
	{
		path: "filesystem.shm_size", typ: "size",
		doc: "The size of the program's private /dev/shm (a tmpfs of its own, writable, removed with the session; POSIX semaphores and shared memory live there), with one inode per 16KiB of it. 0 gives no private /dev/shm, and the host's stays denied. Like proc, it needs a mount namespace; the pages count in the session's memory cgroup where there is one.",
		parse: func(p *Policy, v any, c *decoder) {
			n, err := parseSize(v)
			if err == nil && n != 0 && n < 4096 {
				err = fmt.Errorf("shm_size must be 0 (none) or at least 4KiB")
			}
			if c.check("filesystem.shm_size", err) {
				p.Filesystem.ShmSize = Size(n)
			}
		},
		format: func(p *Policy) string { return quote(p.Filesystem.ShmSize.String()) },
	},
	pathsKey("filesystem.read_only", "Paths the program may read (files, and directories with everything below them).", func(p *Policy) *[]Path { return &p.Filesystem.ReadOnly }),
	pathsKey("filesystem.read_write", "Paths the program may read, write, create and delete in.", func(p *Policy) *[]Path { return &p.Filesystem.ReadWrite }),
	pathsKey("filesystem.exec", "Paths the program may execute files from, and read (the dynamic loader maps libraries from them). Nothing is executable unless listed here, except the program itself and its #! interpreter.", func(p *Policy) *[]Path { return &p.Filesystem.Exec }),
	pathsKey("filesystem.devices", "Device files the program may read, write and ioctl, under /dev.", func(p *Policy) *[]Path { return &p.Filesystem.Devices }),

	// [network]
	portsKey("network.bind_tcp", `TCP ports the program may bind: numbers, or "lo-hi" ranges as strings, such as [8080, "9000-9010"].`, func(p *Policy) *[]PortRange { return &p.Network.BindTCP }),
	portsKey("network.connect_tcp", "TCP ports the program may connect to, on any host.", func(p *Policy) *[]PortRange { return &p.Network.ConnectTCP }),
	boolKey("network.scope_signals", "The program can't signal processes outside its own sandbox.", func(p *Policy) *bool { return &p.Network.ScopeSignals }),
	boolKey("network.scope_abstract_unix", "The program can't connect to abstract unix sockets outside its own sandbox. Below Landlock ABI 9, where nothing restricts pathname unix sockets, this also takes unix sockets away (EACCES), all but stream and seqpacket socketpairs.", func(p *Policy) *bool { return &p.Network.ScopeAbstractUnix }),

	// [syscalls]
	syscallListKey("syscalls.allow", "Syscalls the program may make: names and @groups.", func(p *Policy) *[]string { return &p.Syscalls.Allow }),
	syscallListKey("syscalls.deny", "Syscalls taken out of allow: names and @groups. execve, exit, exit_group and rt_sigreturn can't be denied.", func(p *Policy) *[]string { return &p.Syscalls.Deny }),
	{
		path: "syscalls.action", typ: `"errno" | "kill" | "log"`,
		doc: `What a syscall that is not allowed does: "errno" fails with errno (clone3 fails with ENOSYS, so that libc falls back to clone); "kill" kills the process with SIGSYS; "log" allows it and logs it to the audit log (for writing a policy, never for production).`,
		parse: func(p *Policy, v any, c *decoder) {
			p.Syscalls.Action = SyscallAction(c.enum("syscalls.action", v, string(ActionErrno), string(ActionKill), string(ActionLog)))
		},
		format: func(p *Policy) string { return quote(string(p.Syscalls.Action)) },
	},
	{
		path: "syscalls.errno", typ: "errno name",
		doc: `The error a syscall that is not allowed returns with action = "errno", such as "EPERM" or "ENOSYS".`,
		parse: func(p *Policy, v any, c *decoder) {
			s := c.str("syscalls.errno", v)
			if _, ok := LookupErrno(s); !ok && !c.failed("syscalls.errno") {
				c.errorf("syscalls.errno", "unknown errno name %q: use a name such as \"EPERM\" or \"ENOSYS\"", s)
				return
			}
			p.Syscalls.Errno = s
		},
		format: func(p *Policy) string { return quote(p.Syscalls.Errno) },
	},

	// [limits]
	limitKey("limits.nofile", "count", "RLIMIT_NOFILE: open files. At least 3 (stdin, stdout, stderr); \"unlimited\" is not possible for this limit.", unitCount, func(p *Policy) *Limit { return &p.Limits.NoFile }),
	limitKey("limits.nproc", "count", "RLIMIT_NPROC: processes of the program's user, counted by the kernel across all its sessions.", unitCount, func(p *Policy) *Limit { return &p.Limits.NProc }),
	limitKey("limits.cpu", "duration (whole seconds)", "RLIMIT_CPU: CPU time; SIGXCPU, then SIGKILL. Not 0.", unitSeconds, func(p *Policy) *Limit { return &p.Limits.CPU }),
	limitKey("limits.address_space", "size", "RLIMIT_AS: virtual memory.", unitBytes, func(p *Policy) *Limit { return &p.Limits.AddressSpace }),
	limitKey("limits.file_size", "size", "RLIMIT_FSIZE: the largest file the program may write.", unitBytes, func(p *Policy) *Limit { return &p.Limits.FileSize }),
	limitKey("limits.core", "size", "RLIMIT_CORE: core dump size; 0 means no core dumps.", unitBytes, func(p *Policy) *Limit { return &p.Limits.Core }),
	limitKey("limits.memory", "size", "The session's total memory: its processes, the kernel memory they use (inodes, dentries, page tables, socket buffers) and its private /tmp, with no swap. Past it the kernel's OOM killer ends the whole session. At least 4MiB. systemd: MemoryMax= and MemorySwapMax=0.", unitBytes, func(p *Policy) *Limit { return &p.Limits.Memory }),
	limitKey("limits.tasks", "count", "The session's processes and threads together; one more fork or thread fails with EAGAIN. At least 1. systemd: TasksMax=.", unitCount, func(p *Policy) *Limit { return &p.Limits.Tasks }),
	limitKey("limits.cpu_quota", `string "N%"`, "The CPU time the session may use, as a share of one CPU per 100 ms period: \"50%\" is half a CPU, \"250%\" two and a half. From 1% to 100000%. systemd: CPUQuota=.", unitPercent, func(p *Policy) *Limit { return &p.Limits.CPUQuota }),

	// [serve]
	intKey("serve.max_connections", "Connections served at once; more are refused politely. A connection stops counting once it is closed, and as many again may still be tearing down their sandboxes (docs/serve.md).", 1, math.MaxInt32, func(p *Policy) *int { return &p.Serve.MaxConnections }),
	intKey("serve.max_per_source", "Connections served at once from one source (a client address, or its prefix: source_prefix_v4, source_prefix_v6), until each is closed; 0 means no per-source limit.", 0, math.MaxInt32, func(p *Policy) *int { return &p.Serve.MaxPerSource }),
	{
		path: "serve.rate_per_source", typ: "number",
		doc: "New connections per second allowed from one source, as max_per_source counts them (a token bucket); 0 means no limit.",
		parse: func(p *Policy, v any, c *decoder) {
			var f float64
			switch v := v.(type) {
			case int64:
				f = float64(v)
			case float64:
				f = v
			default:
				c.errorf("serve.rate_per_source", "expected a number, got %s", typeName(v))
				return
			}
			if f < 0 || math.IsNaN(f) || math.IsInf(f, 0) || f > 1e6 {
				c.errorf("serve.rate_per_source", "rate_per_source must be from 0 to 1000000, got %v", f)
				return
			}
			p.Serve.RatePerSource = f
		},
		format: func(p *Policy) string { return formatFloat(p.Serve.RatePerSource) },
	},
	intKey("serve.source_prefix_v4", "The IPv4 prefix length that makes one source for max_per_source, rate_per_source and the proof of work's per-source bound: 32 counts each address, 24 counts each /24 as one client.", 1, 32, func(p *Policy) *int { return &p.Serve.SourcePrefixV4 }),
	intKey("serve.source_prefix_v6", "The IPv6 prefix length that makes one source, as source_prefix_v4: 64 (the default) counts each /64 as one client, since one IPv6 host usually holds a whole /64 and can connect from a new address every time. 128 counts each address.", 1, 128, func(p *Policy) *int { return &p.Serve.SourcePrefixV6 }),
	cidrKey("serve.limit_exempt", "Client addresses that max_per_source and rate_per_source don't apply to, as CIDRs: known NATs (a university, a CTF venue), the organisers' own hosts. They still count against max_connections and go through allow_from, deny_from and the proof of work.", func(p *Policy) *[]netip.Prefix { return &p.Serve.LimitExempt }),
	cidrKey("serve.allow_from", "Client addresses allowed, as CIDRs (\"192.0.2.0/24\", \"2001:db8::/32\") or single addresses. Empty allows everyone.", func(p *Policy) *[]netip.Prefix { return &p.Serve.AllowFrom }),
	cidrKey("serve.deny_from", "Client addresses refused, as CIDRs; wins over allow_from.", func(p *Policy) *[]netip.Prefix { return &p.Serve.DenyFrom }),
	messageKey("serve.busy_message", "A line of text sent to a connection refused for the limits above before it is closed; \"\" sends nothing.", func(p *Policy) *string { return &p.Serve.BusyMessage }),
	{
		path: "serve.proxy_protocol", typ: `"off" | "v1" | "v2" | "any"`,
		doc: "Require a PROXY protocol header (from HAProxy, nginx stream, a cloud load balancer) before the client's data, and use the client address it carries. A connection without a valid header is closed without starting the program.",
		parse: func(p *Policy, v any, c *decoder) {
			p.Serve.ProxyProtocol = ProxyMode(c.enum("serve.proxy_protocol", v, string(ProxyOff), string(ProxyV1), string(ProxyV2), string(ProxyAny)))
		},
		format: func(p *Policy) string { return quote(string(p.Serve.ProxyProtocol)) },
	},
	durationKey("serve.stop_timeout", "On SIGTERM, how long live sessions may go on before they are ended (after drain_delay).", func(p *Policy) *Duration { return &p.Serve.StopTimeout }),
	durationKey("serve.drain_delay", "On SIGTERM, how long new connections are still served while the admin listener's /readyz already answers 503, so that a load balancer takes this backend out before its listeners close. Make it longer than the balancer's check interval times its fall count. \"0\" closes the listeners at once.", func(p *Policy) *Duration { return &p.Serve.DrainDelay }),
	{
		path: "serve.health_check", typ: `"off" | "proxy-local" | "tcp" | "any"`,
		doc: `Load balancer health checks that are answered without starting the program: counted in the admin listener's metrics (sockjail_health_checks_total) and not logged one line each. "proxy-local": a connection whose PROXY v2 header has the LOCAL command (HAProxy's check-send-proxy); needs proxy_protocol "v2" or "any". "tcp": a connection that closes before sending any byte of its PROXY header (a plain TCP connect check); needs proxy_protocol other than "off", since without a header a check and a client that has not spoken yet look the same. "any": both.`,
		parse: func(p *Policy, v any, c *decoder) {
			p.Serve.HealthCheck = HealthCheck(c.enum("serve.health_check", v, string(HealthCheckOff), string(HealthCheckProxyLocal), string(HealthCheckTCP), string(HealthCheckAny)))
		},
		format: func(p *Policy) string { return quote(string(p.Serve.HealthCheck)) },
	},
	{
		path: "serve.admin_listen", typ: `string "HOST:PORT"`,
		doc: `The admin listener: plain HTTP with /healthz, /readyz and /metrics (Prometheus), see docs/fleet.md. "" (the default) opens none. Put it on a loopback or management address: it has no authentication. The --admin-listen flag overrides it.`,
		parse: func(p *Policy, v any, c *decoder) {
			s := c.str("serve.admin_listen", v)
			if c.failed("serve.admin_listen") || s == "" {
				p.Serve.AdminListen = s
				return
			}
			if c.check("serve.admin_listen", CheckListenAddr(s)) {
				p.Serve.AdminListen = s
			}
		},
		format: func(p *Policy) string { return quote(p.Serve.AdminListen) },
	},
	intKey("serve.pow", "A proof of work before the program starts, in serve and run: the difficulty in bits of a hashcash stamp (each bit doubles the work; 20 is about a second of a CPU). The client gets one line, `hashcash -mbBITS CHALLENGE`, the command that solves it, and must answer with the stamp it prints within pow_timeout. A client that is thinking holds no session slot. 0 (the default) asks for none.", 0, 32, func(p *Policy) *int { return &p.Serve.PoW }),
	durationKey("serve.pow_timeout", "How long a client has to answer the proof of work; then it is refused (reason=pow-timeout).", func(p *Policy) *Duration { return &p.Serve.PoWTimeout }),
	cidrKey("serve.pow_exempt", "Client addresses that skip the proof of work, as CIDRs: health checkers, known NATs, the organisers' own hosts.", func(p *Policy) *[]netip.Prefix { return &p.Serve.PoWExempt }),

	// [terminal]
	explicitBoolKey("terminal.pty", "Run the program on a pseudo-terminal, relayed to the connection. Defaults to true when the protocol is telnet or rlogin; rlogin needs it.", func(p *Policy) *bool { return &p.Terminal.PTY }, func(p *Policy) *bool { return &p.Terminal.PTYExplicit }),
	{
		path: "terminal.protocol", typ: `"raw" | "telnet" | "rlogin"`,
		doc: `What the client speaks. "raw": bytes pass as they are. "telnet": the telnet protocol, in the mode telnet sets (writing telnet = true or "passive" alone means this, and protocol = "telnet" alone means telnet = true). "rlogin": RFC 1282, as door-game and terminal servers connect: the client's handshake sets TERM from its terminal type, SOCKJAIL_RLOGIN_USER and SOCKJAIL_TERM_SPEED from its user name and line speed (never the program's user), its window-size messages resize the pty, and the client is told by urgent data when to ask for them, when the program flushes its output and when it takes the terminal raw. A client that hasn't finished the handshake within 10s is refused before the program starts (reason=rlogin-handshake).`,
		parse: func(p *Policy, v any, c *decoder) {
			p.Terminal.Protocol = Protocol(c.enum("terminal.protocol", v, string(ProtocolRaw), string(ProtocolTelnet), string(ProtocolRlogin)))
		},
		format: func(p *Policy) string { return quote(string(p.Terminal.Protocol)) },
	},
	{
		path: "terminal.telnet", typ: `bool | "passive"`,
		doc: `Speak telnet to the client: true negotiates (echo, window size, terminal type); "passive" answers a client's negotiation but never starts it, for raw clients; false passes bytes as they are.`,
		parse: func(p *Policy, v any, c *decoder) {
			switch v := v.(type) {
			case bool:
				p.Terminal.Telnet = TelnetOff
				if v {
					p.Terminal.Telnet = TelnetOn
				}
			case string:
				if v != string(TelnetPassive) {
					c.errorf("terminal.telnet", "expected true, false or \"passive\", got %s", typeName(v))
					return
				}
				p.Terminal.Telnet = TelnetPassive
			default:
				c.errorf("terminal.telnet", "expected true, false or \"passive\", got %s", typeName(v))
			}
		},
		format: func(p *Policy) string {
			switch p.Terminal.Telnet {
			case TelnetOn:
				return "true"
			case TelnetPassive:
				return quote(string(TelnetPassive))
			}
			return "false"
		},
	},
	boolKey("terminal.crlf", "Turn \\n into \\r\\n in the program's output, for raw terminal clients. Only without a pty, which does this itself.", func(p *Policy) *bool { return &p.Terminal.CRLF }),
	boolKey("terminal.binary", "Offer telnet BINARY (RFC 856) both ways at the start, for 8-bit clean file transfers (X/Y/ZMODEM). Needs telnet = true. A client that asks for BINARY gets it either way; in a binary direction bytes pass unchanged (IAC doubled on the wire), with no CR NUL, CR LF or crlf mapping.", func(p *Policy) *bool { return &p.Terminal.Binary }),
	{
		path: "terminal.term", typ: "string",
		doc: "TERM for the program when the client doesn't send a terminal type.",
		parse: func(p *Policy, v any, c *decoder) {
			s := c.str("terminal.term", v)
			if !validTerm(s) && !c.failed("terminal.term") {
				c.errorf("terminal.term", "invalid terminal type %q: use letters, digits and -+._, at most 64", s)
				return
			}
			p.Terminal.Term = s
		},
		format: func(p *Policy) string { return quote(p.Terminal.Term) },
	},
	messageKey("terminal.idle_message", "A line sent to the client before a session is ended for connection.idle_timeout; \"\" sends nothing.", func(p *Policy) *string { return &p.Terminal.IdleMessage }),
	intKey("terminal.line_rate", "Pace output like a modem line of this many bit/s (10 bits per byte); 0 means unpaced.", 0, 1e9, func(p *Policy) *int { return &p.Terminal.LineRate }),
}

// Bounds of the session keys.
const (
	minMemory    = 4 << 20
	minTmpInodes = 16
	maxTmpInodes = 1 << 31
)

// validEnvName reports whether s is a portable variable name: letters,
// digits and _, not starting with a digit.
func validEnvName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isLetter(c) || c == '_' || i > 0 && isDigit(c)) {
			return false
		}
	}
	return s != ""
}

// validTerm reports whether s is a plausible terminal type: 1 to 64 of
// letters, digits and "+._-", starting with a letter or digit.
func validTerm(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isLetter(c) || isDigit(c) || i > 0 && strings.IndexByte("+._-", c) >= 0) {
			return false
		}
	}
	return true
}

func durationKey(path, doc string, field func(*Policy) *Duration) keyDef {
	return keyDef{
		path: path, typ: "duration", doc: doc,
		parse: func(p *Policy, v any, c *decoder) {
			d, err := parseDuration(v)
			if c.check(path, err) {
				*field(p) = d
			}
		},
		format: func(p *Policy) string { return quote(field(p).String()) },
	}
}

func boolKey(path, doc string, field func(*Policy) *bool) keyDef {
	return keyDef{
		path: path, typ: "bool", doc: doc,
		parse: func(p *Policy, v any, c *decoder) {
			b, ok := v.(bool)
			if !ok {
				c.errorf(path, "expected true or false, got %s", typeName(v))
				return
			}
			*field(p) = b
		},
		format: func(p *Policy) string { return strconv.FormatBool(*field(p)) },
	}
}

// explicitBoolKey is a boolKey whose default depends on other keys or on
// the host; explicit records that the file wrote the key itself.
func explicitBoolKey(path, doc string, field, explicit func(*Policy) *bool) keyDef {
	k := boolKey(path, doc, field)
	parse := k.parse
	k.parse = func(p *Policy, v any, c *decoder) {
		if _, ok := v.(bool); ok {
			*explicit(p) = true
		}
		parse(p, v, c)
	}
	k.implicit = func(p *Policy) bool { return !*explicit(p) }
	return k
}

func intKey(path, doc string, lo, hi int64, field func(*Policy) *int) keyDef {
	return keyDef{
		path: path, typ: "integer", doc: doc,
		parse: func(p *Policy, v any, c *decoder) {
			n, ok := v.(int64)
			if !ok {
				c.errorf(path, "expected an integer, got %s", typeName(v))
				return
			}
			if n < lo || n > hi {
				c.errorf(path, "%d is out of range: must be from %d to %d", n, lo, hi)
				return
			}
			*field(p) = int(n)
		},
		format: func(p *Policy) string { return strconv.Itoa(*field(p)) },
	}
}

func limitKey(path, typ, doc string, u limitUnit, field func(*Policy) *Limit) keyDef {
	return keyDef{
		path: path, typ: typ + ` | "unlimited"`, doc: doc,
		parse: func(p *Policy, v any, c *decoder) {
			l, err := parseLimit(v, u)
			if err == nil {
				switch path {
				case "limits.nofile":
					if l.Unlimited {
						err = fmt.Errorf("nofile can't be \"unlimited\": the kernel caps it at fs.nr_open; write a number")
					} else if l.Value < 3 {
						err = fmt.Errorf("nofile must be at least 3, for stdin, stdout and stderr")
					}
				case "limits.cpu":
					if !l.Unlimited && l.Value == 0 {
						err = fmt.Errorf("cpu = 0 would kill the program at once: write a time, or \"unlimited\"")
					}
				case "limits.memory":
					if !l.Unlimited && l.Value < minMemory {
						err = fmt.Errorf("memory must be at least 4MiB: less can't load a program; write a size such as \"512MiB\", or \"unlimited\"")
					}
				case "limits.tasks":
					if !l.Unlimited && l.Value == 0 {
						err = fmt.Errorf("tasks = 0 leaves no room for the program itself: write at least 1, or \"unlimited\"")
					}
				}
			}
			if c.check(path, err) {
				*field(p) = l
				switch path {
				case "limits.memory":
					p.Limits.Written.Memory = true
				case "limits.tasks":
					p.Limits.Written.Tasks = true
				case "limits.cpu_quota":
					p.Limits.Written.CPUQuota = true
				}
			}
		},
		format: func(p *Policy) string { return formatLimit(*field(p), u) },
		implicit: func(p *Policy) bool {
			switch path {
			case "limits.memory":
				return !p.Limits.Written.Memory
			case "limits.tasks":
				return !p.Limits.Written.Tasks
			case "limits.cpu_quota":
				return !p.Limits.Written.CPUQuota
			}
			return false
		},
	}
}

func messageKey(path, doc string, field func(*Policy) *string) keyDef {
	return keyDef{
		path: path, typ: "string", doc: doc + " At most 1024 bytes, no control characters but tab; sockjail adds the line end.",
		parse: func(p *Policy, v any, c *decoder) {
			s := c.str(path, v)
			if c.failed(path) {
				return
			}
			if len(s) > 1024 {
				c.errorf(path, "message is %d bytes long; the limit is 1024", len(s))
				return
			}
			for _, r := range s {
				if (r < 0x20 && r != '\t') || r == 0x7f {
					c.errorf(path, "message contains the control character %U: write one line of text", r)
					return
				}
			}
			*field(p) = s
		},
		format: func(p *Policy) string { return quote(*field(p)) },
	}
}

// listElems returns a list key's elems: every element of the field's list,
// written as it would stand in a policy file.
func listElems[T any](field func(*Policy) *[]T, format func(T) string) func(*Policy) []string {
	return func(p *Policy) []string {
		list := *field(p)
		s := make([]string, len(list))
		for i, x := range list {
			s[i] = format(x)
		}
		return s
	}
}

func pathsKey(path, doc string, field func(*Policy) *[]Path) keyDef {
	elems := listElems(field, func(x Path) string { return quote(x.String()) })
	return keyDef{
		path: path, typ: "list of paths", doc: doc,
		parse: func(p *Policy, v any, c *decoder) {
			list, ok := c.list(path, v)
			if !ok {
				return
			}
			out := []Path{}
			seen := map[string]int{}
			for i, e := range list {
				el := path + "[" + strconv.Itoa(i) + "]"
				pth, err := parsePath(e)
				if !c.check(el, err) {
					continue
				}
				if path == "filesystem.devices" && !strings.HasPrefix(pth.Name, "/dev/") {
					c.errorf(el, "device %q is not under /dev", pth.Name)
					continue
				}
				if j, dup := seen[pth.Name]; dup {
					c.errorf(el, "%q is listed twice (also at index %d)", pth.Name, j)
					continue
				}
				seen[pth.Name] = i
				out = append(out, pth)
			}
			*field(p) = out
		},
		elems:  elems,
		format: func(p *Policy) string { return formatList(elems(p)) },
	}
}

func portsKey(path, doc string, field func(*Policy) *[]PortRange) keyDef {
	elems := listElems(field, formatPort)
	return keyDef{
		path: path, typ: "list of ports and ranges", doc: doc,
		parse: func(p *Policy, v any, c *decoder) {
			list, ok := c.list(path, v)
			if !ok {
				return
			}
			out := []PortRange{}
			for i, e := range list {
				r, err := parsePort(e)
				if c.check(path+"["+strconv.Itoa(i)+"]", err) {
					out = append(out, r)
				}
			}
			*field(p) = out
		},
		elems:  elems,
		format: func(p *Policy) string { return formatList(elems(p)) },
	}
}

func syscallListKey(path, doc string, field func(*Policy) *[]string) keyDef {
	return keyDef{
		path: path, typ: "list of syscall names and @groups", doc: doc,
		parse: func(p *Policy, v any, c *decoder) {
			*field(p) = c.strList(path, v, checkSyscallName)
		},
		elems:  func(p *Policy) []string { return quoteAll(*field(p)) },
		format: func(p *Policy) string { return quoteList(*field(p)) },
	}
}

func cidrKey(path, doc string, field func(*Policy) *[]netip.Prefix) keyDef {
	elems := listElems(field, func(x netip.Prefix) string { return quote(x.String()) })
	return keyDef{
		path: path, typ: "list of CIDRs", doc: doc,
		parse: func(p *Policy, v any, c *decoder) {
			// strList reports a bad element at its line and column; the
			// ones it keeps are valid.
			list := c.strList(path, v, func(s string) error {
				_, err := parseCIDR(s)
				return err
			})
			prefixes := make([]netip.Prefix, 0, len(list))
			for _, s := range list {
				pfx, _ := parseCIDR(s)
				prefixes = append(prefixes, pfx)
			}
			*field(p) = prefixes
		},
		elems:  elems,
		format: func(p *Policy) string { return formatList(elems(p)) },
	}
}

// parseCIDR accepts "addr/bits" or a single address, and returns the
// prefix with its host bits cleared. IPv4-mapped IPv6 addresses are
// refused, since they would never match an IPv4 peer.
func parseCIDR(s string) (netip.Prefix, error) {
	var pfx netip.Prefix
	var err error
	if strings.Contains(s, "/") {
		pfx, err = netip.ParsePrefix(s)
	} else {
		var a netip.Addr
		a, err = netip.ParseAddr(s)
		if err == nil && a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q: zones are not allowed", s)
		}
		if err == nil {
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
	}
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q: write an address with a prefix length, such as \"192.0.2.0/24\" or \"2001:db8::/32\"", s)
	}
	if pfx.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q: zones are not allowed", s)
	}
	if pfx.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q: write the IPv4 form, %q", s, netip.PrefixFrom(pfx.Addr().Unmap(), max(pfx.Bits()-96, 0)).String())
	}
	return pfx.Masked(), nil
}

func quoteList(list []string) string { return formatList(quoteAll(list)) }

// quoteAll quotes each string of list.
func quoteAll(list []string) []string {
	s := make([]string, len(list))
	for i, x := range list {
		s[i] = quote(x)
	}
	return s
}

// formatList writes a list's formatted elements as a one-line TOML array.
func formatList(elems []string) string { return "[" + strings.Join(elems, ", ") + "]" }

// keyIndex maps a key path to its definition.
var keyIndex = func() map[string]*keyDef {
	m := make(map[string]*keyDef, len(keys))
	for i := range keys {
		m[keys[i].path] = &keys[i]
	}
	return m
}()

// tableIndex lists the known tables.
var tableIndex = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range tables {
		m[t.name] = true
	}
	return m
}()

// tableOf returns the table of a key path ("" for top-level keys) and the
// key's own name.
func tableOf(path string) (table, key string) {
	if i := strings.IndexByte(path, '.'); i >= 0 {
		return path[:i], path[i+1:]
	}
	return "", path
}
