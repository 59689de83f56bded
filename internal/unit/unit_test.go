package unit

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockjail/sockjail/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden compares generated units with the files under testdata/golden,
// one directory per case. Run `go test ./internal/unit -update` after a
// deliberate change, and review the diff.
func TestGolden(t *testing.T) {
	named := policy.Default()
	named.Program.User = "hello"
	named.Connection.NoDelay = false
	named.Connection.KeepAlive = 0
	named.Connection.MaxDuration = 0

	limits := policy.Default()
	limits.Serve.MaxConnections = 500
	limits.Serve.MaxPerSource = 3
	limits.Serve.StopTimeout = policy.Duration(45 * time.Second)
	limits.Connection.CloseDelay = policy.Duration(4 * time.Second)

	cases := []struct {
		name string
		c    Config
	}{
		{"accept-yes-default", Config{
			Name:    "hello",
			Listen:  []string{"31337"},
			Accept:  true,
			Policy:  policy.Default(),
			Program: []string{"/usr/local/bin/hello"},
			Command: []string{"sockjail", "unit", "--name", "hello", "--listen", "31337", "--", "/usr/local/bin/hello"},
		}},
		{"accept-yes-policy-v255", Config{
			Name:           "hello",
			Listen:         []string{"127.0.0.1:31337", "[::1]:31337"},
			Accept:         true,
			PolicyPath:     "/etc/sockjail/hello.toml",
			Policy:         limits,
			Program:        []string{"/usr/local/bin/hello"},
			Command:        []string{"sockjail", "unit", "--name", "hello", "--listen", "127.0.0.1:31337", "--listen", "[::1]:31337", "--policy", "/etc/sockjail/hello.toml", "--", "/usr/local/bin/hello"},
			SystemdVersion: 255,
		}},
		{"accept-yes-named-user-odd-args", Config{
			Name:       "odd-args",
			Listen:     []string{"2323"},
			Accept:     true,
			PolicyPath: "/etc/sockjail/odd args.toml",
			Policy:     named,
			Program:    []string{"/opt/my game/bin/game\n", "--motd", "Welcome, \"caller\"!\n100% $HOME", ";", ""},
			Command:    []string{"sockjail", "unit", "--name", "odd-args", "--listen", "2323", "--policy", "/etc/sockjail/odd args.toml", "--", "/opt/my game/bin/game\n", "--motd", "Welcome, \"caller\"!\n100% $HOME", ";", ""},
			Dir:        "/run/systemd/system",
		}},
		{"accept-no-serve", Config{
			Name:       "hello",
			Listen:     []string{"0.0.0.0:31337"},
			Accept:     false,
			PolicyPath: "/etc/sockjail/hello.toml",
			Policy:     limits,
			Program:    []string{"/usr/local/bin/hello", "-v"},
			Command:    []string{"sockjail", "unit", "--name", "hello", "--listen", "0.0.0.0:31337", "--policy", "/etc/sockjail/hello.toml", "--accept=no", "--", "/usr/local/bin/hello", "-v"},
		}},
		{"accept-no-named-user", Config{
			Name:    "bbs",
			Listen:  []string{":23"},
			Accept:  false,
			Policy:  named,
			Program: []string{"/usr/local/bin/bbs"},
			Command: []string{"sockjail", "unit", "--name", "bbs", "--listen", ":23", "--accept=no", "--", "/usr/local/bin/bbs"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Sockjail = "/usr/local/bin/sockjail"
			files, err := Generate(tc.c)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("testdata", "golden", tc.name)
			if *update {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			var names []string
			for _, f := range files {
				names = append(names, f.Name)
				p := filepath.Join(dir, f.Name)
				if *update {
					if err := os.WriteFile(p, []byte(f.Content), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(p)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if f.Content != string(want) {
					t.Errorf("%s differs from %s (run go test -update after a deliberate change)\n--- got ---\n%s", f.Name, p, f.Content)
				}
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != len(files) {
				t.Errorf("%s holds %d files, Generate made %v", dir, len(entries), names)
			}
		})
	}
}

// TestGenerateSettings checks the settings the issue asks for, one by one,
// independently of the golden files' wording.
func TestGenerateSettings(t *testing.T) {
	p := policy.Default()
	p.Serve.MaxPerSource = 5
	base := Config{
		Name: "hello", Listen: []string{"31337"}, Sockjail: "/usr/local/bin/sockjail",
		Policy: p, Program: []string{"/usr/local/bin/hello"}, Command: []string{"sockjail", "unit"},
	}
	yes := base
	yes.Accept = true
	no := base
	no.PolicyPath = "/etc/sockjail/hello.toml"
	// Per-source settings that MaxConnectionsPerSource= can't express are
	// named in a comment; whole addresses and no exemptions need none.
	gapsPolicy := *p
	gapsPolicy.Serve.SourcePrefixV4 = 24
	gapsPolicy.Serve.LimitExempt = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
	gaps := yes
	gaps.Policy = &gapsPolicy
	wholePolicy := *p
	wholePolicy.Serve.SourcePrefixV6 = 128
	whole := yes
	whole.Policy = &wholePolicy

	cases := []struct {
		name     string
		c        Config
		file     string
		want     []string // lines that must be present
		dontWant []string // line prefixes that must be absent
	}{
		{"socket accept=yes", yes, "hello.socket",
			[]string{"ListenStream=31337", "Accept=yes", "MaxConnectionsPerSource=5", "TriggerLimitBurst=0", "WantedBy=sockets.target"},
			[]string{"PollLimit"}},
		{"socket accept=yes, per-source gaps", gaps, "hello.socket",
			[]string{"MaxConnectionsPerSource=5",
				"# - each IPv6 address counts, not each /64 (source_prefix_v6).",
				"# - each IPv4 address counts, not each /24 (source_prefix_v4).",
				"# - limit_exempt's ranges are limited too."},
			nil},
		{"socket accept=yes, whole addresses", whole, "hello.socket",
			[]string{"MaxConnectionsPerSource=5"},
			[]string{"# MaxConnectionsPerSource= counts", "# - "}},
		{"service accept=yes", yes, "hello@.service",
			[]string{"StandardInput=socket", "StandardOutput=socket", "StandardError=journal",
				"ExecStart=-/usr/local/bin/sockjail run -- /usr/local/bin/hello",
				"CollectMode=inactive-or-failed", "DynamicUser=yes"},
			[]string{"PrivateTmp=", "SystemCallFilter=", "RestrictNamespaces=", "PrivateDevices=", "ProtectKernelTunables=", "[Install]"}},
		{"socket accept=no", no, "hello.socket",
			[]string{"ListenStream=31337", "Accept=no"},
			[]string{"MaxConnections", "PollLimit"}},
		{"service accept=no", no, "hello.service",
			[]string{"Type=notify", "KillMode=mixed", `ExecReload=/bin/sh -c "kill -HUP $$MAINPID"`, "ProtectKernelModules=yes", "NoNewPrivileges=yes", "DynamicUser=yes", "Requires=hello.socket",
				"ExecStart=/usr/local/bin/sockjail serve --policy /etc/sockjail/hello.toml -- /usr/local/bin/hello"},
			// These two mount over /proc files, and the kernel would
			// then refuse every session's fresh /proc.
			[]string{"StandardInput=", "CollectMode=", "[Install]", "ProtectKernelTunables=", "ProtectKernelLogs="}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files, err := Generate(tc.c)
			if err != nil {
				t.Fatal(err)
			}
			var content string
			for _, f := range files {
				if f.Name == tc.file {
					content = f.Content
				}
			}
			if content == "" {
				t.Fatalf("no %s among the generated files", tc.file)
			}
			lines := strings.Split(content, "\n")
			has := func(l string) bool {
				for _, x := range lines {
					if x == l {
						return true
					}
				}
				return false
			}
			for _, w := range tc.want {
				if !has(w) {
					t.Errorf("%s lacks the line %q:\n%s", tc.file, w, content)
				}
			}
			for _, d := range tc.dontWant {
				for _, x := range lines {
					if strings.HasPrefix(x, d) {
						t.Errorf("%s has %q, which it must not", tc.file, x)
					}
				}
			}
			if !strings.HasPrefix(content, "# "+tc.file+": generated by 'sockjail unit'") {
				t.Errorf("%s does not start with the generated-by comment", tc.file)
			}
			if !strings.Contains(content, "systemd-analyze verify") {
				t.Errorf("%s does not say how to check it", tc.file)
			}
		})
	}
}

// TestStopTimeouts checks that systemd's stop timeout outlasts sockjail's
// own bounds, so systemd's SIGKILL never cuts a close that is still within
// the policy, nor (for serve) the drain before it.
func TestStopTimeouts(t *testing.T) {
	p := policy.Default()
	p.Serve.StopTimeout = policy.Duration(100 * time.Second)
	p.Serve.DrainDelay = policy.Duration(15 * time.Second)
	p.Connection.FlushTimeout = policy.Duration(30 * time.Second)
	p.Connection.CloseDelay = policy.Duration(1500 * time.Millisecond)
	p.Connection.LingerMax = policy.Duration(30 * time.Second)
	c := Config{Name: "x", Listen: []string{"1"}, Sockjail: "/s", Policy: p, Program: []string{"/p"}}
	for _, accept := range []bool{true, false} {
		c.Accept = accept
		files, err := Generate(c)
		if err != nil {
			t.Fatal(err)
		}
		want := "TimeoutStopSec=72s" // 30 + 1.5 + 30 + 10, rounded up
		if !accept {
			want = "TimeoutStopSec=187s" // the drain, stop_timeout and the close

		}
		if !strings.Contains(files[1].Content, "\n"+want+"\n") {
			t.Errorf("accept=%v: want %s in\n%s", accept, want, files[1].Content)
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	good := Config{Name: "hello", Listen: []string{"31337"}, Sockjail: "/usr/local/bin/sockjail",
		Policy: policy.Default(), Program: []string{"/bin/hello"}}
	cases := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"empty name", func(c *Config) { c.Name = "" }, "empty"},
		{"template name", func(c *Config) { c.Name = "hello@" }, `holds "@"`},
		{"space in name", func(c *Config) { c.Name = "hello world" }, "systemd-escape"},
		{"suffix in name", func(c *Config) { c.Name = "hello.socket" }, "without its suffix"},
		{"leading dash", func(c *Config) { c.Name = "-hello" }, "must not start"},
		{"long name", func(c *Config) { c.Name = strings.Repeat("a", MaxNameLen+1) }, "longer than"},
		{"no listen", func(c *Config) { c.Listen = nil }, "no address"},
		{"host name", func(c *Config) { c.Listen = []string{"localhost:31337"} }, "does not resolve host names"},
		{"port 0", func(c *Config) { c.Listen = []string{"0"} }, "neither a port"},
		{"port too big", func(c *Config) { c.Listen = []string{"65536"} }, "neither a port"},
		{"addr port 0", func(c *Config) { c.Listen = []string{"127.0.0.1:0"} }, "port 0"},
		{"bad colon port", func(c *Config) { c.Listen = []string{":http"} }, "not a port number"},
		{"relative sockjail", func(c *Config) { c.Sockjail = "sockjail" }, "not absolute"},
		{"relative policy", func(c *Config) { c.PolicyPath = "hello.toml" }, "not absolute"},
		{"no policy", func(c *Config) { c.Policy = nil }, "no policy"},
		{"no program", func(c *Config) { c.Program = nil }, "no program"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.change(&c)
			_, err := Generate(c)
			if err == nil {
				t.Fatalf("Generate succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestListenStream(t *testing.T) {
	cases := []struct{ in, want string }{
		{"31337", "31337"},
		{":31337", "31337"},
		{"127.0.0.1:31337", "127.0.0.1:31337"},
		{"0.0.0.0:80", "0.0.0.0:80"},
		{"[::1]:31337", "[::1]:31337"},
		{"[::]:23", "[::]:23"},
		{"[::ffff:127.0.0.1]:23", "[::ffff:127.0.0.1]:23"},
	}
	for _, tc := range cases {
		got, err := ListenStream(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ListenStream(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseSystemdVersion(t *testing.T) {
	for in, want := range map[string]int{
		"systemd 252 (252.36-1~deb12u1)\n+PAM +AUDIT": 252,
		"systemd 257 (257.9-1)":                       257,
		"systemd 99":                                  99,
		"systemd x":                                   0,
		"":                                            0,
		"elogind 252":                                 0,
		" systemd 252":                                0,
	} {
		if got := parseSystemdVersion(in); got != want {
			t.Errorf("parseSystemdVersion(%q) = %d, want %d", in, got, want)
		}
	}
}
