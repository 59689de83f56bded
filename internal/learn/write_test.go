package learn

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sockjail/sockjail/policy"
)

// paths builds Observations of paths alone.
func paths(m map[string]Access) *Observations {
	o := &Observations{Sessions: 1}
	for p, a := range m {
		o.AddPath(p, a)
	}
	return o
}

func names(ps []policy.Path) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

func ports(rs []policy.PortRange) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.String())
	}
	return out
}

// TestWriteRules checks each rule of the writer on the policy it writes,
// its comments and its warnings.
func TestWriteRules(t *testing.T) {
	noTmp := policy.Default()
	noTmp.Filesystem.PrivateTmp = false
	noTmp.Filesystem.Proc = false
	fileSystem, _ := policy.GroupMembers("@file-system")

	type want struct {
		readOnly, readWrite, exec, devices []string
		bind, connect                      []string
		allow, deny                        []string
		scopeAbstractUnixOff               bool
		warnings                           []string // substrings, one warning each, in order
		text                               []string // substrings of the file
	}
	tests := []struct {
		name string
		base *policy.Policy
		obs  *Observations
		want want
	}{
		{
			name: "single files where it read a few of a directory",
			obs:  paths(map[string]Access{"/srv/app/a.txt": Read, "/srv/app/b.txt": Read, "/srv/app/c.txt": Read}),
			want: want{
				readOnly: []string{"/srv/app/a.txt", "/srv/app/b.txt", "/srv/app/c.txt"},
				text:     []string{"  # read\n  \"/srv/app/a.txt\",\n"},
			},
		},
		{
			name: "the directory where it read DirectoryFiles files of it",
			obs: paths(map[string]Access{
				"/srv/app/templates/index.html": Read, "/srv/app/templates/a.html": Read,
				"/srv/app/templates/b.html": Read, "/srv/app/templates/c.html": Read,
				"/srv/app/main.py": Read,
			}),
			want: want{
				readOnly: []string{"/srv/app/main.py", "/srv/app/templates"},
				text:     []string{"  # read 4 files, e.g. /srv/app/templates/a.html\n  \"/srv/app/templates\",\n"},
			},
		},
		{
			name: "no directory rule for / or a directory right under it",
			obs: paths(map[string]Access{
				"/etc/passwd": Read, "/etc/group": Read, "/etc/hosts": Read, "/etc/localtime": Read,
				"/a": Read, "/b": Read, "/c": Read, "/d": Read,
			}),
			want: want{readOnly: []string{"/a", "/b", "/c", "/d", "/etc/group", "/etc/hosts", "/etc/localtime", "/etc/passwd"}},
		},
		{
			name: "a listed directory stands for everything below it",
			obs: paths(map[string]Access{
				"/usr/lib/python3.11": List, "/usr/lib/python3.11/os.py": Read,
				"/usr/lib/python3.11/encodings": List, "/usr/lib/python3.11/encodings/utf_8.py": Read,
				"/etc": List,
			}),
			want: want{
				readOnly: []string{"/etc", "/usr/lib/python3.11"},
				text:     []string{"  # listed 2 directories, e.g. /usr/lib/python3.11/encodings; read 2 files, e.g.\n  # /usr/lib/python3.11/encodings/utf_8.py\n  \"/usr/lib/python3.11\",\n"},
			},
		},
		{
			name: "read_write only where it wrote, created or removed",
			obs: paths(map[string]Access{
				"/srv/state/counter": Read | Write,
				"/srv/data/new.db":   Create | Write,
				"/srv/data/old.db":   Read, // in the writable directory: no read_only entry
				"/srv/spool/job.1":   Remove,
				"/srv/spool/job.1a":  Read,
				"/srv/conf.toml":     Read,
			}),
			want: want{
				readOnly:  []string{"/srv/conf.toml"},
				readWrite: []string{"/srv/data", "/srv/spool", "/srv/state/counter"},
				text:      []string{"  # created /srv/data/new.db; wrote /srv/data/new.db\n  \"/srv/data\",\n", "  # removed /srv/spool/job.1\n"},
			},
		},
		{
			name: "a directory created, and files in it",
			obs: paths(map[string]Access{
				"/srv/out":       Create,
				"/srv/out/a.txt": Create | Write,
				"/srv/out/b.txt": Create | Write,
			}),
			want: want{
				readWrite: []string{"/srv"},
				text:      []string{"  # created 3 files, e.g. /srv/out; wrote 2 files, e.g. /srv/out/a.txt\n"},
			},
		},
		{
			name: "exec only what it executed, with the loader, one file each; reads of them are covered",
			obs: paths(map[string]Access{
				"/usr/bin/grep": Exec | Read, "/usr/bin/date": Exec, "/usr/bin/sed": Exec, "/usr/bin/tr": Exec,
				"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2": Exec | Read,
				"/usr/lib/x86_64-linux-gnu/libc.so.6":            Read, "/usr/lib/x86_64-linux-gnu/libm.so.6": Read,
				"/usr/lib/x86_64-linux-gnu/libz.so.1": Read, "/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0": Read,
			}),
			want: want{
				readOnly: []string{"/usr/lib/x86_64-linux-gnu"},
				exec:     []string{"/usr/bin/date", "/usr/bin/grep", "/usr/bin/sed", "/usr/bin/tr", "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"},
				text:     []string{"  # executed\n  \"/usr/bin/date\",\n", "  # read 5 files, e.g. /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"},
			},
		},
		{
			name: "a file created and run: its directory, with a warning",
			obs:  paths(map[string]Access{"/srv/build/out/prog": Create | Write | Exec, "/srv/build/cc": Exec}),
			want: want{
				readWrite: []string{"/srv/build/out"},
				exec:      []string{"/srv/build/cc", "/srv/build/out"},
				warnings:  []string{`exec "/srv/build/out": the program ran a file it created there`},
			},
		},
		{
			name: "devices for devices",
			obs:  paths(map[string]Access{"/dev/null": Device | Read | Write, "/dev/urandom": Device | Read, "/srv/fifo": Device}),
			want: want{
				devices:  []string{"/dev/null", "/dev/urandom"},
				warnings: []string{`device "/srv/fifo" left out`},
			},
		},
		{
			name: "what the sandbox gives every session needs no entry",
			obs: paths(map[string]Access{
				"/tmp/x": Create | Write, "/var/tmp/y": Create, "/dev/shm/z": Create, "/proc/self/status": Read,
				"/tmpfoo": Read,
			}),
			want: want{readOnly: []string{"/tmpfoo"}},
		},
		{
			name: "without a private /tmp and /proc, their paths are learned",
			base: noTmp,
			obs:  paths(map[string]Access{"/tmp/x": Create | Write, "/proc/self/status": Read}),
			want: want{readOnly: []string{"/proc/self/status"}, readWrite: []string{"/tmp"}},
		},
		{
			name: "paths a policy can't hold are left out with a warning",
			obs:  paths(map[string]Access{"relative": Read, "/a/../b": Read, "/bad\xff": Read, "/nul\x00": Read, "/ok\nnewline": Read}),
			want: want{
				readOnly: []string{"/ok\nnewline"},
				warnings: []string{`"/a/../b" left out: not an absolute, clean path`, `"/bad\xff" left out: not UTF-8`, `"/nul\x00" left out: contains a NUL byte`, `"relative" left out`},
				text:     []string{"# WARNING: \"/a/../b\" left out"},
			},
		},
		{
			name: "writes in system directories are warned about",
			obs:  paths(map[string]Access{"/etc/app.conf": Write, "/usr/local/share/x": Create, "/srv/x": Create}),
			want: want{
				readWrite: []string{"/etc/app.conf", "/srv", "/usr/local/share"},
				warnings:  []string{`read_write "/etc/app.conf"`, `read_write "/usr/local/share": the program changed files in the system directory /usr`},
				text:      []string{"  # WARNING: read_write \"/etc/app.conf\": the program changed files in the system\n  # directory /etc\n"},
			},
		},
		{
			name: "creating a file right under / is warned about",
			obs:  paths(map[string]Access{"/newdir": Create, "/etc/app.conf": Write}),
			want: want{readWrite: []string{"/"}, warnings: []string{`read_write "/": the program created or removed a file right under /`}},
		},
		{
			name: "reading / is warned about",
			obs:  paths(map[string]Access{"/": List, "/srv/x": Read}),
			want: want{readOnly: []string{"/"}, warnings: []string{`read_only "/"`}},
		},
		{
			name: "exact ports, those below 1024 warned about, port 0 left out",
			obs: func() *Observations {
				o := &Observations{}
				for _, p := range []uint16{8080, 80, 8080, 0} {
					o.AddBindTCP(p)
				}
				for _, p := range []uint16{5432, 53, 6379} {
					o.AddConnectTCP(p)
				}
				return o
			}(),
			want: want{
				bind:     []string{"80", "8080"},
				connect:  []string{"53", "5432", "6379"},
				warnings: []string{"network.bind_tcp: the program bound port 0", "network.bind_tcp = 80", "network.connect_tcp = 53"},
				text:     []string{"bind_tcp = [\n  # bound\n  # WARNING: network.bind_tcp = 80", "  # connected to\n  5432,\n"},
			},
		},
		{
			name: "listen without a bound port is warned about",
			obs: func() *Observations {
				o := &Observations{}
				o.AddSyscall("listen")
				o.AddBindTCP(0)
				return o
			}(),
			want: want{
				allow:    []string{"listen"},
				warnings: []string{"network.bind_tcp: the program bound port 0", "the program called listen(2) without binding"},
			},
		},
		{
			name: "unix sockets open the abstract scope, with a warning",
			obs: func() *Observations {
				o := &Observations{}
				o.AddUnix("/run/postgresql/.s.PGSQL.5432")
				o.AddUnix("@dbus")
				return o
			}(),
			want: want{
				scopeAbstractUnixOff: true,
				warnings:             []string{"scope_abstract_unix = false"},
				text:                 []string{`# The program used unix sockets: "/run/postgresql/.s.PGSQL.5432", "@dbus".`},
			},
		},
		{
			name: "glibc's nscd probe alone doesn't open unix sockets",
			obs: func() *Observations {
				o := &Observations{}
				o.AddUnix("/var/run/nscd/socket")
				return o
			}(),
			want: want{text: []string{"# The C library tried nscd at \"/var/run/nscd/socket\", and does without it"}},
		},
		{
			name: "syscalls by name, a group only where every member was made",
			obs: func() *Observations {
				o := &Observations{}
				sync, _ := policy.GroupMembers("@sync") // fdatasync, fsync, msync, sync, sync_file_range, syncfs
				for _, s := range append(sync, "read", "write") {
					o.AddSyscall(s)
				}
				sig, _ := policy.GroupMembers("@signal")
				for _, s := range sig[1:] { // all but one
					o.AddSyscall(s)
				}
				return o
			}(),
			want: want{
				allow: func() []string {
					sig, _ := policy.GroupMembers("@signal")
					return slices.Sorted(slices.Values(append([]string{"@sync", "read", "write"}, sig[1:]...)))
				}(),
				deny: policy.Default().Syscalls.Deny,
				text: []string{"  # all 6 of its syscalls were made\n  \"@sync\",\n"},
			},
		},
		{
			name: "a group is kept whole, with a warning for its denied member",
			obs: func() *Observations {
				o := &Observations{}
				for _, s := range fileSystem {
					o.AddSyscall(s)
				}
				return o
			}(),
			want: want{
				allow:    []string{"@file-system"},
				deny:     slices.DeleteFunc(slices.Clone(policy.Default().Syscalls.Deny), func(s string) bool { return s == "inotify_add_watch" }),
				warnings: []string{`syscalls.allow "inotify_add_watch"`},
				text:     []string{"  # all " + strconv.Itoa(len(fileSystem)) + " of its syscalls were made\n  # WARNING: syscalls.allow \"inotify_add_watch\""},
			},
		},
		{
			name: "a denied syscall is allowed with a warning, and its deny entry dropped",
			obs: func() *Observations {
				o := &Observations{}
				for _, s := range []string{"read", "unshare", "chroot", "no_such_call"} {
					o.AddSyscall(s)
				}
				return o
			}(),
			want: want{
				allow: []string{"chroot", "read", "unshare"},
				deny:  slices.DeleteFunc(slices.Clone(policy.Default().Syscalls.Deny), func(s string) bool { return s == "unshare" || s == "@privileged" }),
				warnings: []string{
					`syscall "no_such_call" left out`,
					`syscalls.allow "chroot": the program made chroot, in @privileged`,
					`syscalls.allow "unshare": the program made unshare, which`,
				},
				text: []string{"# Dropped: @privileged (for chroot), unshare.\ndeny = ["},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, warnings, err := WritePolicy(tt.base, tt.obs, "test")
			if err != nil {
				t.Fatal(err)
			}
			p, err := policy.Parse("learned.toml", text)
			if err != nil {
				t.Fatalf("the learned policy doesn't parse: %v\n%s", err, text)
			}
			w := tt.want
			fs, n, sc := p.Filesystem, p.Network, p.Syscalls
			for _, c := range []struct {
				what      string
				got, want []string
			}{
				{"read_only", names(fs.ReadOnly), w.readOnly},
				{"read_write", names(fs.ReadWrite), w.readWrite},
				{"exec", names(fs.Exec), w.exec},
				{"devices", names(fs.Devices), w.devices},
				{"bind_tcp", ports(n.BindTCP), w.bind},
				{"connect_tcp", ports(n.ConnectTCP), w.connect},
			} {
				if c.want == nil {
					c.want = []string{}
				}
				if !slices.Equal(c.got, c.want) {
					t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
				}
			}
			if w.allow != nil && !slices.Equal(sc.Allow, w.allow) {
				t.Errorf("allow = %q, want %q", sc.Allow, w.allow)
			}
			if w.deny != nil && !slices.Equal(sc.Deny, w.deny) {
				t.Errorf("deny = %q, want %q", sc.Deny, w.deny)
			}
			if n.ScopeAbstractUnix == w.scopeAbstractUnixOff {
				t.Errorf("scope_abstract_unix = %v", n.ScopeAbstractUnix)
			}
			if len(warnings) != len(w.warnings) {
				t.Errorf("warnings = %q, want %d like %q", warnings, len(w.warnings), w.warnings)
			} else {
				for i := range warnings {
					if !strings.Contains(warnings[i], w.warnings[i]) {
						t.Errorf("warning %d = %q, want it to contain %q", i, warnings[i], w.warnings[i])
					}
				}
			}
			// Every warning is in the file as a WARNING comment.
			if got := bytes.Count(text, []byte("# WARNING: ")); got != len(warnings) {
				t.Errorf("%d WARNING comments for %d warnings:\n%s", got, len(warnings), text)
			}
			for _, s := range w.text {
				if !bytes.Contains(text, []byte(s)) {
					t.Errorf("the file lacks %q:\n%s", s, text)
				}
			}
			checkCovers(t, p, tt.obs)
		})
	}
}

// TestWriteKeepsBase checks that the settings learning doesn't write are
// the base policy's, and that the result is strict.
func TestWriteKeepsBase(t *testing.T) {
	base, err := policy.Parse("base.toml", []byte(`enforce = "best-effort"
[program]
user = "nobody"
env = { APP_ENV = "prod" }
[connection]
max_duration = "5m"
idle_timeout = "30s"
[filesystem]
tmp_size = "8MiB"
read_only = ["/"]
[network]
scope_signals = false
connect_tcp = ["1-65535"]
[syscalls]
allow = ["@system-service"]
deny = ["@privileged"]
action = "kill"
[limits]
memory = "128MiB"
tasks = 32
[serve]
max_connections = 7
proxy_protocol = "v2"
health_check = "proxy-local"
[terminal]
pty = true
telnet = "passive"
`))
	if err != nil {
		t.Fatal(err)
	}
	obs := paths(map[string]Access{"/srv/a": Read})
	obs.AddSyscall("read")
	text, _, err := WritePolicy(base, obs, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := policy.Parse("learned.toml", text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	want := base.Clone()
	want.Enforce = policy.EnforceStrict
	want.Filesystem.ReadOnly = []policy.Path{{Name: "/srv/a"}}
	want.Filesystem.ReadWrite, want.Filesystem.Exec, want.Filesystem.Devices = []policy.Path{}, []policy.Path{}, []policy.Path{}
	want.Network.ConnectTCP = []policy.PortRange{}
	want.Syscalls.Allow = []string{"read"}
	if !got.Equal(want) {
		gotText, _ := got.Marshal()
		wantText, _ := want.Marshal()
		t.Errorf("learned policy:\n%s\nwant:\n%s", gotText, wantText)
	}
	if !bytes.Contains(text, []byte("# Kept from the base policy, base.toml.\n[limits]\n")) {
		t.Errorf("no comment on the kept tables:\n%s", text)
	}
}

// sample is a realistic set of observations, for the stability test.
func sample() *Observations {
	o := &Observations{Sessions: 3}
	for _, p := range []string{"/srv/app/t/a", "/srv/app/t/b", "/srv/app/t/c", "/srv/app/t/d", "/srv/app/x", "/etc/passwd", "/etc/hosts"} {
		o.AddPath(p, Read)
	}
	o.AddPath("/usr/lib/python3.11", List)
	o.AddPath("/srv/state/db", Create|Write)
	o.AddPath("/usr/bin/python3.11", Exec|Read)
	o.AddPath("/dev/null", Device)
	o.AddPath("/etc/shadow-", Create)
	for _, p := range []uint16{8080, 22, 5432} {
		o.AddBindTCP(p)
		o.AddConnectTCP(p + 1)
	}
	o.AddUnix("@x")
	for _, s := range append(policy.SyscallNames()[:40], "unshare", "bogus") {
		o.AddSyscall(s)
	}
	return o
}

// TestWriteStable checks that the same observations give the same bytes,
// whatever order they were recorded in.
func TestWriteStable(t *testing.T) {
	want, wantWarnings, err := WritePolicy(nil, sample(), "sockjail learn -- app")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		// Rebuild the observations in a shuffled order, merged from
		// pieces, so that neither insertion nor map order can leak.
		s := sample()
		o := &Observations{Sessions: s.Sessions}
		type add func(*Observations)
		var adds []add
		for p, a := range s.Paths {
			adds = append(adds, func(o *Observations) { o.AddPath(p, a) })
		}
		for p, n := range s.BindTCP {
			adds = append(adds, func(o *Observations) { o.BindTCP = count(o.BindTCP, p, n) })
		}
		for p, n := range s.ConnectTCP {
			adds = append(adds, func(o *Observations) { o.ConnectTCP = count(o.ConnectTCP, p, n) })
		}
		for u, n := range s.Unix {
			adds = append(adds, func(o *Observations) { o.Unix = count(o.Unix, u, n) })
		}
		for c, n := range s.Syscalls {
			adds = append(adds, func(o *Observations) { o.Syscalls = count(o.Syscalls, c, n) })
		}
		r := rand.New(rand.NewPCG(uint64(i), 1))
		r.Shuffle(len(adds), func(a, b int) { adds[a], adds[b] = adds[b], adds[a] })
		for _, a := range adds {
			part := &Observations{}
			a(part)
			o.Merge(part)
		}
		got, gotWarnings, err := WritePolicy(nil, o, "sockjail learn -- app")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) || !slices.Equal(gotWarnings, wantWarnings) {
			t.Fatalf("run %d wrote another file:\n%s\n---\n%s", i, got, want)
		}
	}
}

// TestWriteRoundTrip checks that the written file is the policy the writer
// meant, for an empty and a busy set of observations.
func TestWriteRoundTrip(t *testing.T) {
	for _, obs := range []*Observations{nil, {}, sample()} {
		text, _, err := WritePolicy(nil, obs, "header\nwith two lines")
		if err != nil {
			t.Fatal(err)
		}
		p, err := policy.Parse("learned.toml", text)
		if err != nil {
			t.Fatalf("%v\n%s", err, text)
		}
		again, err := p.MarshalCommented(policy.Comments{})
		if err != nil {
			t.Fatal(err)
		}
		q, err := policy.Parse("again.toml", again)
		if err != nil || !p.Equal(q) || p.Enforce != policy.EnforceStrict {
			t.Errorf("round trip: %v, equal %v, enforce %q", err, err == nil && p.Equal(q), p.Enforce)
		}
		if !bytes.HasPrefix(text, []byte("# Written by `sockjail learn`")) || !bytes.Contains(text, []byte("#\n# header\n# with two lines\n")) {
			t.Errorf("no header:\n%s", text)
		}
	}
}

// TestFullGroups checks that a group inside another fully used one is not
// named again.
func TestFullGroups(t *testing.T) {
	used := map[string]bool{}
	priv, _ := policy.GroupMembers("@privileged") // includes @chown, @clock, ...
	for _, s := range priv {
		used[s] = true
	}
	if got := fullGroups(used); !slices.Equal(got, []string{"@privileged"}) {
		t.Errorf("fullGroups(@privileged's members) = %q", got)
	}
	delete(used, "chroot") // in @privileged, not in an included group
	if got := fullGroups(used); !slices.Contains(got, "@chown") || slices.Contains(got, "@privileged") {
		t.Errorf("fullGroups(@privileged's members but chroot) = %q", got)
	}
}

// checkCovers fails t unless the policy p allows everything obs saw that a
// policy can say: each path with the rights its use needs, each port, each
// syscall.
func checkCovers(t *testing.T, p *policy.Policy, obs *Observations) {
	t.Helper()
	fs := p.Filesystem
	in := func(name string, lists ...[]policy.Path) bool {
		for _, l := range lists {
			for _, e := range l {
				if atOrBelow(name, e.Name) {
					return true
				}
			}
		}
		return false
	}
	w := &writer{base: p}
	for name, a := range obs.Paths {
		if a == 0 || w.sandboxOwn(name) || policyPathProblem(name) != "" || a&Device != 0 && !strings.HasPrefix(name, "/dev/") {
			continue
		}
		switch {
		case a&Device != 0:
			if !slices.ContainsFunc(fs.Devices, func(d policy.Path) bool { return d.Name == name }) {
				t.Errorf("device %q is not in devices", name)
			}
			continue
		case a&(Create|Remove) != 0 && name != "/" && !in(path.Dir(name), fs.ReadWrite):
			t.Errorf("%q was created or removed, its directory is not in read_write", name)
		case a&Write != 0 && !in(name, fs.ReadWrite):
			t.Errorf("%q was written, and is not in read_write", name)
		case a&Exec != 0 && !in(name, fs.Exec):
			t.Errorf("%q was executed, and is not in exec", name)
		case a&(Read|List) != 0 && !in(name, fs.ReadOnly, fs.ReadWrite, fs.Exec):
			t.Errorf("%q was read, and is not readable", name)
		}
	}
	for _, c := range []struct {
		seen map[uint16]int
		list []policy.PortRange
	}{{obs.BindTCP, p.Network.BindTCP}, {obs.ConnectTCP, p.Network.ConnectTCP}} {
		for port := range c.seen {
			if port != 0 && !slices.ContainsFunc(c.list, func(r policy.PortRange) bool { return r.Contains(port) }) {
				t.Errorf("port %d is not allowed", port)
			}
		}
	}
	for name := range obs.Unix {
		if !slices.Contains(nscdSockets, name) && p.Network.ScopeAbstractUnix {
			t.Errorf("unix socket %q was used, and scope_abstract_unix is on", name)
		}
	}
	allowed, err := p.Syscalls.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	for name := range obs.Syscalls {
		if _, ok := policy.LookupSyscall(name); ok && !slices.ContainsFunc(allowed, func(s policy.Syscall) bool { return s.Name == name }) {
			t.Errorf("syscall %s is not allowed", name)
		}
	}
}

// fuzzObservations builds Observations from a fuzzer's values: paths one a
// line, each with the access of the byte at its index; ports from pairs of
// bytes, bound and connected to in turn; syscalls separated by commas; unix
// sockets one a line.
func fuzzObservations(pathLines string, access, portBytes []byte, syscalls, unixLines string) *Observations {
	o := &Observations{Sessions: 1}
	for i, p := range strings.Split(pathLines, "\n") {
		a := Read
		if len(access) > 0 {
			a = Access(access[i%len(access)]) & (Read | Write | Create | Remove | Exec | List | Device)
		}
		o.AddPath(p, a)
	}
	for i := 0; i+1 < len(portBytes); i += 2 {
		port := uint16(portBytes[i])<<8 | uint16(portBytes[i+1])
		if i/2%2 == 0 {
			o.AddBindTCP(port)
		} else {
			o.AddConnectTCP(port)
		}
	}
	for _, s := range strings.Split(syscalls, ",") {
		if s != "" {
			o.AddSyscall(s)
		}
	}
	for _, u := range strings.Split(unixLines, "\n") {
		if u != "" {
			o.AddUnix(u)
		}
	}
	return o
}

// FuzzWrite checks that whatever was observed, WritePolicy writes a policy
// that parses, covers what it can say, and is the same twice. The seed
// corpus is in testdata/fuzz/FuzzWrite.
func FuzzWrite(f *testing.F) {
	f.Add("/srv/a/1\n/srv/a/2\n/srv/a/3\n/srv/a/4\n/etc/x", []byte{byte(Read), byte(Write | Create)}, []byte{0, 80, 0x1f, 0x90}, "read,write,unshare,nope", "@x\n/run/s", "sockjail learn -- prog")
	f.Fuzz(func(t *testing.T, pathLines string, access, portBytes []byte, syscalls, unixLines, header string) {
		obs := fuzzObservations(pathLines, access, portBytes, syscalls, unixLines)
		text, warnings, err := WritePolicy(nil, obs, header)
		if err != nil {
			t.Fatalf("WritePolicy: %v", err)
		}
		p, err := policy.Parse("learned.toml", text)
		if err != nil {
			t.Fatalf("the learned policy doesn't parse: %v\n%s", err, text)
		}
		checkCovers(t, p, obs)
		again, againWarnings, err := WritePolicy(nil, obs.Clone(), header)
		if err != nil || !bytes.Equal(text, again) || !slices.Equal(warnings, againWarnings) {
			t.Fatalf("a second run wrote another file (%v)", err)
		}
	})
}

// TestWriteTooLarge checks that observations too many to fit in a policy
// file give a clear error, not a file that sockjail would refuse.
func TestWriteTooLarge(t *testing.T) {
	o := &Observations{}
	for i := range 30000 {
		// Top-level directories, where the directory rule doesn't
		// apply: each file is an entry.
		o.AddPath(fmt.Sprintf("/d%d/file-with-a-longish-name-%d", i%1000, i), Read)
	}
	_, _, err := WritePolicy(nil, o, "")
	if err == nil || !strings.Contains(err.Error(), "over the 1048576 a policy file may have") {
		t.Fatalf("err = %v", err)
	}
}

// BenchmarkWritePolicy measures the writer on a small service's
// observations and on a large tree of reads.
func BenchmarkWritePolicy(b *testing.B) {
	large := &Observations{}
	for i := range 20000 {
		large.AddPath(fmt.Sprintf("/srv/d%d/sub%d/f%d", i%500, i%7, i), Read)
	}
	for _, bm := range []struct {
		name string
		obs  *Observations
	}{{"sample", sample()}, {"20000-paths", large}} {
		b.Run(bm.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := WritePolicy(nil, bm.obs, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
