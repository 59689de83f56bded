package policy

import (
	"strings"
	"testing"
)

// TestDefaults checks the default of every key, as Marshal writes it. A key
// added to the schema without a row here fails the test.
func TestDefaults(t *testing.T) {
	want := map[string]string{
		"version":                     `1`,
		"enforce":                     `"strict"`,
		"program.user":                `""`,
		"program.group":               `""`,
		"program.dynamic_uids":        `"400000-409999"`,
		"program.workdir":             `"/"`,
		"program.env":                 `{ LANG = "C.UTF-8", PATH = "/usr/local/bin:/usr/bin:/bin" }`,
		"program.pass_env":            `[]`,
		"program.stderr":              `"log"`,
		"program.stderr_rate":         `100`,
		"program.stderr_max":          `"1MiB"`,
		"connection.flush_timeout":    `"30s"`,
		"connection.close_delay":      `"0"`,
		"connection.linger_idle":      `"2s"`,
		"connection.linger_max":       `"30s"`,
		"connection.max_duration":     `"1h"`,
		"connection.idle_timeout":     `"0"`,
		"connection.nodelay":          `true`,
		"connection.keepalive":        `"1m"`,
		"filesystem.private_tmp":      `true`,
		"filesystem.tmp_size":         `"64MiB"`,
		"filesystem.tmp_inodes":       `10000`,
		"filesystem.proc":             `true`,
		"filesystem.shm_size":         `"16MiB"`,
		"filesystem.read_only":        `["/usr", "/etc", "-/lib", "-/lib64", "-/bin", "-/sbin"]`,
		"filesystem.read_write":       `[]`,
		"filesystem.exec":             `["/usr/bin", "/usr/sbin", "/usr/lib", "-/usr/libexec", "-/usr/local/bin", "-/bin", "-/lib", "-/lib64"]`,
		"filesystem.devices":          `["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]`,
		"network.bind_tcp":            `[]`,
		"network.connect_tcp":         `[]`,
		"network.scope_signals":       `true`,
		"network.scope_abstract_unix": `true`,
		"syscalls.allow":              `["@system-service"]`,
		"syscalls.deny":               `["@aio", "@keyring", "@privileged", "@setuid", "inotify_add_watch", "process_vm_readv", "process_vm_writev", "setns", "unshare", "userfaultfd"]`,
		"syscalls.action":             `"errno"`,
		"syscalls.errno":              `"EPERM"`,
		"limits.nofile":               `1024`,
		"limits.nproc":                `256`,
		"limits.cpu":                  `"10m"`,
		"limits.address_space":        `"4GiB"`,
		"limits.file_size":            `"1GiB"`,
		"limits.core":                 `0`,
		"limits.memory":               `"512MiB"`,
		"limits.tasks":                `256`,
		"limits.cpu_quota":            `"100%"`,
		"serve.max_connections":       `64`,
		"serve.max_per_source":        `8`,
		"serve.rate_per_source":       `0.0`,
		"serve.allow_from":            `[]`,
		"serve.deny_from":             `[]`,
		"serve.busy_message":          `""`,
		"serve.proxy_protocol":        `"off"`,
		"serve.stop_timeout":          `"30s"`,
		"serve.drain_delay":           `"0"`,
		"serve.health_check":          `"off"`,
		"serve.admin_listen":          `""`,
		"serve.pow":                   `0`,
		"serve.pow_timeout":           `"30s"`,
		"serve.pow_exempt":            `[]`,
		"serve.source_prefix_v4":      `32`,
		"serve.source_prefix_v6":      `64`,
		"serve.limit_exempt":          `[]`,
		"terminal.pty":                `false`,
		"terminal.protocol":           `"raw"`,
		"terminal.telnet":             `false`,
		"terminal.crlf":               `false`,
		"terminal.binary":             `false`,
		"terminal.term":               `"vt100"`,
		"terminal.idle_message":       `""`,
		"terminal.line_rate":          `0`,
	}
	p := Default()
	for _, k := range keys {
		w, ok := want[k.path]
		if !ok {
			t.Errorf("key %s has no expected default in this test", k.path)
			continue
		}
		if got := k.format(p); got != w {
			t.Errorf("default %s = %s, want %s", k.path, got, w)
		}
		delete(want, k.path)
	}
	for k := range want {
		t.Errorf("test lists %s, which is not a key", k)
	}

	// The typed fields behind a few of them.
	if got := p.Connection.FlushTimeout.Duration().String(); got != "30s" {
		t.Errorf("FlushTimeout = %s", got)
	}
	if p.Limits.CPU.Value != 600 || p.Limits.AddressSpace.Value != 4<<30 || p.Limits.Core.Rlimit() != 0 {
		t.Errorf("limits = %+v", p.Limits)
	}
	if p.Filesystem.TmpSize.Bytes() != 64<<20 {
		t.Errorf("TmpSize = %d", p.Filesystem.TmpSize)
	}
	if p.Terminal.Telnet != TelnetOff || p.Serve.ProxyProtocol != ProxyOff || p.Enforce != EnforceStrict {
		t.Errorf("enums: telnet %q proxy %q enforce %q", p.Terminal.Telnet, p.Serve.ProxyProtocol, p.Enforce)
	}
}

// TestDefaultFileSetsEveryKey checks that the embedded default.toml writes
// every key, so that no default lives only in Go's zero values.
func TestDefaultFileSetsEveryKey(t *testing.T) {
	ix := newPosIndex(defaultTOML)
	for _, k := range keys {
		if !ix.Has(k.path) {
			t.Errorf("default.toml does not set %s", k.path)
		}
	}
}

// TestParseKeys sets every key to a non-default value and checks the
// result, as Marshal writes it back.
func TestParseKeys(t *testing.T) {
	tests := []struct {
		path, in, want string // in: the TOML value; want: "" means same as in
	}{
		{"version", `1`, ``},
		{"enforce", `"best-effort"`, ``},
		{"program.user", `"nobody"`, ``},
		{"program.user", `"1234"`, ``},
		{"program.user", `"dynamic"`, ``},
		{"program.group", `"nogroup"`, ``},
		{"program.group", `"4321"`, ``},
		{"program.dynamic_uids", `"500000-500099"`, ``},
		{"program.workdir", `"/srv"`, ``},
		{"program.env", `{ B = "2", A = "1" }`, `{ A = "1", B = "2" }`},
		{"program.env", `{}`, ``},
		{"program.pass_env", `["TZ", "LC_ALL"]`, ``},
		{"program.stderr", `"null"`, ``},
		{"program.stderr", `"connection"`, ``},
		{"program.stderr", `"inherit"`, ``},
		{"program.stderr_rate", `0`, ``},
		{"program.stderr_rate", `5`, ``},
		{"program.stderr_max", `"0"`, ``},
		{"program.stderr_max", `"64KiB"`, ``},
		{"connection.flush_timeout", `"1m30s"`, ``},
		{"connection.flush_timeout", `"90s"`, `"1m30s"`},
		{"connection.close_delay", `"250ms"`, ``},
		{"connection.close_delay", `"1.5s"`, `"1s500ms"`},
		{"connection.linger_idle", `"0"`, ``},
		{"connection.linger_idle", `0`, `"0"`},
		{"connection.linger_max", `"2m"`, ``},
		{"connection.max_duration", `"0"`, ``},
		{"connection.idle_timeout", `"10m"`, ``},
		{"connection.nodelay", `false`, ``},
		{"connection.keepalive", `"0"`, ``},
		{"connection.keepalive", `"2h"`, ``},
		{"filesystem.private_tmp", `false`, ``},
		{"filesystem.tmp_size", `"1GiB"`, ``},
		{"filesystem.tmp_size", `"512K"`, `"512KiB"`},
		{"filesystem.tmp_size", `1048576`, `"1MiB"`},
		{"filesystem.tmp_size", `"5000 B"`, `"5000B"`},
		{"filesystem.tmp_inodes", `400000`, ``},
		{"filesystem.tmp_inodes", `16`, ``},
		{"filesystem.proc", `false`, ``},
		{"filesystem.shm_size", `0`, `"0"`},
		{"filesystem.shm_size", `"64MiB"`, ``},
		{"filesystem.read_only", `["/srv/data", "-/opt/maybe"]`, ``},
		{"filesystem.read_only", `[]`, ``},
		{"filesystem.read_write", `["/var/lib/app"]`, ``},
		{"filesystem.exec", `["/opt/app/bin"]`, ``},
		{"filesystem.devices", `["/dev/null", "-/dev/tty"]`, ``},
		{"network.bind_tcp", `[8080, "9000-9010"]`, ``},
		{"network.bind_tcp", `["8080"]`, `[8080]`},
		{"network.connect_tcp", `[443, "1-65535"]`, ``},
		{"network.scope_signals", `false`, ``},
		{"network.scope_abstract_unix", `false`, ``},
		{"syscalls.allow", `["@basic-io", "@default", "openat"]`, ``},
		{"syscalls.deny", `["@network-io", "ptrace"]`, ``},
		{"syscalls.deny", `[]`, ``},
		{"syscalls.action", `"kill"`, ``},
		{"syscalls.action", `"log"`, ``},
		{"syscalls.errno", `"ENOSYS"`, ``},
		{"syscalls.errno", `"EACCES"`, ``},
		{"limits.nofile", `64`, ``},
		{"limits.nproc", `"unlimited"`, ``},
		{"limits.nproc", `0`, ``},
		{"limits.cpu", `30`, `"30s"`},
		{"limits.cpu", `"1h"`, ``},
		{"limits.cpu", `"unlimited"`, ``},
		{"limits.address_space", `"512MiB"`, ``},
		{"limits.address_space", `"unlimited"`, ``},
		{"limits.file_size", `1000`, `"1000B"`},
		{"limits.core", `"1GiB"`, ``},
		{"limits.memory", `"1GiB"`, ``},
		{"limits.memory", `"4MiB"`, ``},
		{"limits.memory", `"unlimited"`, ``},
		{"limits.tasks", `1`, ``},
		{"limits.tasks", `"unlimited"`, ``},
		{"limits.cpu_quota", `"250%"`, ``},
		{"limits.cpu_quota", `"1%"`, ``},
		{"limits.cpu_quota", `"unlimited"`, ``},
		{"serve.max_connections", `1000`, ``},
		{"serve.max_per_source", `0`, ``},
		{"serve.rate_per_source", `2.5`, ``},
		{"serve.rate_per_source", `3`, `3.0`},
		{"serve.source_prefix_v4", `24`, ``},
		{"serve.source_prefix_v6", `128`, ``},
		{"serve.limit_exempt", `["198.51.100.0/24", "2001:db8:1::/48"]`, ``},
		{"serve.allow_from", `["192.0.2.0/24", "2001:db8::/32", "10.1.2.3"]`, `["192.0.2.0/24", "2001:db8::/32", "10.1.2.3/32"]`},
		{"serve.allow_from", `["10.1.2.3/8"]`, `["10.0.0.0/8"]`},
		{"serve.deny_from", `["::1/128"]`, ``},
		{"serve.busy_message", `"Busy, call again later.\tBye"`, ``},
		{"serve.proxy_protocol", `"v1"`, ``},
		{"serve.proxy_protocol", `"v2"`, ``},
		{"serve.proxy_protocol", `"any"`, ``},
		{"serve.stop_timeout", `"5s"`, ``},
		{"serve.drain_delay", `"5s"`, ``},
		{"serve.health_check", `"proxy-local"`, ``},
		{"serve.health_check", `"tcp"`, ``},
		{"serve.health_check", `"any"`, ``},
		{"serve.health_check", `"off"`, ``},
		{"serve.admin_listen", `"127.0.0.1:9100"`, ``},
		{"serve.admin_listen", `"[::1]:9100"`, ``},
		{"serve.admin_listen", `":9100"`, ``},
		{"serve.pow", `20`, ``},
		{"serve.pow_timeout", `"10s"`, ``},
		{"serve.pow_exempt", `["127.0.0.0/8", "2001:db8::/32"]`, ``},
		{"terminal.pty", `true`, ``},
		{"terminal.protocol", `"raw"`, ``},
		{"terminal.protocol", `"telnet"`, ``},
		{"terminal.protocol", `"rlogin"`, ``},
		{"terminal.telnet", `true`, ``},
		{"terminal.telnet", `"passive"`, ``},
		{"terminal.crlf", `true`, ``},
		{"terminal.binary", `true`, ``},
		{"terminal.term", `"xterm-256color"`, ``},
		{"terminal.idle_message", `"Idle too long, bye."`, ``},
		{"terminal.line_rate", `2400`, ``},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		table, key := tableOf(tt.path)
		in := key + " = " + tt.in + "\n"
		if table != "" {
			in = "[" + table + "]\n" + in
		}
		// Keys that only make sense with another one.
		switch tt.path {
		case "terminal.idle_message":
			in = "[connection]\nidle_timeout = \"1m\"\n" + in
		case "terminal.binary":
			in += "telnet = true\n"
		case "serve.health_check":
			in = "[serve]\nproxy_protocol = \"v2\"\n" + strings.TrimPrefix(in, "[serve]\n")
		case "program.group":
			in = "[program]\nuser = \"nobody\"\n" + strings.TrimPrefix(in, "[program]\n")
		}
		p, err := Parse("t.toml", []byte(in))
		if err != nil {
			t.Errorf("%s = %s: %v", tt.path, tt.in, err)
			continue
		}
		want := tt.want
		if want == "" {
			want = tt.in
		}
		if got := keyIndex[tt.path].format(p); got != want {
			t.Errorf("%s = %s: got %s, want %s", tt.path, tt.in, got, want)
		}
		covered[tt.path] = true
	}
	for _, k := range keys {
		if !covered[k.path] {
			t.Errorf("key %s is not covered by TestParseKeys", k.path)
		}
	}
}

// TestSessionBoundsWritten checks that only the bounds a file writes are
// recorded as written: the default's and an unrelated file's are not.
func TestSessionBoundsWritten(t *testing.T) {
	tests := []struct {
		in   string
		want SessionBounds
	}{
		{"", SessionBounds{}},
		{"[limits]\nnofile = 64\n", SessionBounds{}},
		{"[limits]\nmemory = \"512MiB\"\n", SessionBounds{Memory: true}},
		{"[limits]\ntasks = 256\ncpu_quota = \"50%\"\n", SessionBounds{Tasks: true, CPUQuota: true}},
		{"[limits]\nmemory = \"unlimited\"\ntasks = \"unlimited\"\ncpu_quota = \"unlimited\"\n", SessionBounds{true, true, true}},
	}
	if w := Default().Limits.Written; w.Any() {
		t.Errorf("Default() has written bounds %+v", w)
	}
	for _, tt := range tests {
		p, err := Parse("t.toml", []byte(tt.in))
		if err != nil {
			t.Fatalf("%q: %v", tt.in, err)
		}
		if p.Limits.Written != tt.want {
			t.Errorf("%q: written %+v, want %+v", tt.in, p.Limits.Written, tt.want)
		}
	}
}

// TestProtocolImpliesPTY checks that telnet and rlogin turn the pty on
// unless the file writes pty = false, that the choice is recorded, and
// that protocol and telnet, either written alone, set each other.
func TestProtocolImpliesPTY(t *testing.T) {
	tests := []struct {
		in            string
		pty, explicit bool
		protocol      Protocol
		telnet        Telnet
	}{
		{"", false, false, ProtocolRaw, TelnetOff},
		{"telnet = true", true, false, ProtocolTelnet, TelnetOn},
		{`telnet = "passive"`, true, false, ProtocolTelnet, TelnetPassive},
		{"telnet = true\npty = false", false, true, ProtocolTelnet, TelnetOn},
		{"telnet = false\npty = true", true, true, ProtocolRaw, TelnetOff},
		{"pty = false", false, true, ProtocolRaw, TelnetOff},
		{`protocol = "telnet"`, true, false, ProtocolTelnet, TelnetOn},
		{`protocol = "telnet"` + "\n" + `telnet = "passive"`, true, false, ProtocolTelnet, TelnetPassive},
		{`protocol = "telnet"` + "\npty = false", false, true, ProtocolTelnet, TelnetOn},
		{`protocol = "rlogin"`, true, false, ProtocolRlogin, TelnetOff},
		{`protocol = "rlogin"` + "\ntelnet = false\npty = true", true, true, ProtocolRlogin, TelnetOff},
		{`protocol = "raw"` + "\ntelnet = false", false, false, ProtocolRaw, TelnetOff},
	}
	for _, tt := range tests {
		p, err := Parse("t.toml", []byte("[terminal]\n"+tt.in))
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if p.Terminal.PTY != tt.pty || p.Terminal.PTYExplicit != tt.explicit {
			t.Errorf("%q: pty %v explicit %v, want %v %v", tt.in, p.Terminal.PTY, p.Terminal.PTYExplicit, tt.pty, tt.explicit)
		}
		if p.Terminal.Protocol != tt.protocol || p.Terminal.Telnet != tt.telnet {
			t.Errorf("%q: protocol %q telnet %q, want %q %q", tt.in, p.Terminal.Protocol, p.Terminal.Telnet, tt.protocol, tt.telnet)
		}
		// What Marshal writes reads back the same.
		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("%q: marshal: %v", tt.in, err)
		}
		q, err := Parse("m.toml", out)
		if err != nil {
			t.Errorf("%q: marshalled policy: %v", tt.in, err)
		} else if q.Terminal.Protocol != p.Terminal.Protocol || q.Terminal.Telnet != p.Terminal.Telnet || q.Terminal.PTY != p.Terminal.PTY {
			t.Errorf("%q: marshalled and read back: %+v, want %+v", tt.in, q.Terminal, p.Terminal)
		}
	}
}

// TestProcExplicit checks that only a file that writes proc itself makes
// the fresh /proc a requirement: the default asks for it where it can be
// had, and Equal ignores how it was written.
func TestProcExplicit(t *testing.T) {
	if d := Default(); !d.Filesystem.Proc || d.Filesystem.ProcExplicit {
		t.Errorf("default: proc %v explicit %v, want true false", d.Filesystem.Proc, d.Filesystem.ProcExplicit)
	}
	tests := []struct {
		in             string
		proc, explicit bool
	}{
		{"", true, false},
		{"proc = true", true, true},
		{"proc = false", false, true},
		{"private_tmp = false", true, false},
	}
	for _, tt := range tests {
		p, err := Parse("t.toml", []byte("[filesystem]\n"+tt.in))
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if p.Filesystem.Proc != tt.proc || p.Filesystem.ProcExplicit != tt.explicit {
			t.Errorf("%q: proc %v explicit %v, want %v %v", tt.in, p.Filesystem.Proc, p.Filesystem.ProcExplicit, tt.proc, tt.explicit)
		}
	}
	p, err := Parse("t.toml", []byte("[filesystem]\nproc = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Equal(Default()) {
		t.Error("a file that writes the default proc = true is not Equal to the default")
	}
}

// TestKeysReplaceDefaults checks that a list or table written in a file
// replaces the default rather than adding to it, and that keys not written
// keep their defaults.
func TestKeysReplaceDefaults(t *testing.T) {
	p, err := Parse("t.toml", []byte("[filesystem]\nread_only = [\"/srv\"]\n[program]\nenv = { A = \"1\" }\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Filesystem.ReadOnly) != 1 || p.Filesystem.ReadOnly[0] != (Path{Name: "/srv"}) {
		t.Errorf("read_only = %v", p.Filesystem.ReadOnly)
	}
	if len(p.Program.Env) != 1 || p.Program.Env["A"] != "1" {
		t.Errorf("env = %v", p.Program.Env)
	}
	d := Default()
	if len(p.Filesystem.Exec) != len(d.Filesystem.Exec) || p.Connection != d.Connection {
		t.Errorf("keys not written lost their defaults")
	}
	// Default hands out copies: changing one doesn't change the next.
	d.Filesystem.ReadOnly[0].Name = "/changed"
	d.Program.Env["X"] = "y"
	if e := Default(); e.Filesystem.ReadOnly[0].Name != "/usr" || e.Program.Env["X"] != "" {
		t.Errorf("Default shares state between calls")
	}
}
