package policy

import (
	"errors"
	"strings"
	"testing"
)

// TestValidationErrors checks each error's exact position and message. A
// want entry is "line:column: message", compared in full. Parse reads
// nothing of the host: what a policy names on it is TestCheckHost's.
func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		// Syntax and structure, reported by go-toml.
		{"duplicate key", "version = 1\nversion = 1\n", []string{`2:1: key version is already defined`}},
		{"duplicate table", "[program]\n[program]\n", []string{`2:2: table program already exists`}},
		{"syntax", "[program]\nuser = \"x\n", []string{`2:10: basic strings cannot have new lines`}},
		{"unclosed array", "[filesystem]\nread_only = [\n", []string{`2:14: array is incomplete`}},

		// Unknown keys and tables.
		{"unknown top key", "verzion = 1\n", []string{`1:1: unknown key "verzion" (did you mean "version"?)`}},
		{"unknown table", "[progam]\nuser = \"\"\n", []string{`1:2: unknown key "progam" (did you mean "program"?)`}},
		{"unknown key", "[filesystem]\nread_onyl = []\n", []string{`2:1: unknown key "read_onyl" in [filesystem] (did you mean "read_only"?)`}},
		{"key in wrong table", "[program]\nnodelay = true\n", []string{`2:1: unknown key "nodelay" in [program] ("nodelay" belongs in [connection])`}},
		{"top key in table", "[program]\nenforce = \"strict\"\n", []string{`2:1: unknown key "enforce" in [program] ("enforce" is a top-level key, before any [table])`}},
		{"dotted unknown", "program.shell = \"/bin/sh\"\n", []string{`1:9: unknown key "shell" in [program]`}},
		{"table as value", "program = 5\n", []string{`1:11: "program" must be a table ([program]), got the integer 5`}},
		{"array of tables", "[[network]]\n", []string{`1:3: "network" must be a table ([network]), got an array`}},

		// Types.
		{"wrong type string", "[program]\nuser = 0\n", []string{`2:8: expected a string, got the integer 0`}},
		{"wrong type bool", "[connection]\nnodelay = \"yes\"\n", []string{`2:11: expected true or false, got the string "yes"`}},
		{"wrong type array", "[filesystem]\nread_only = \"/usr\"\n", []string{`2:13: expected an array, got the string "/usr"`}},
		{"wrong type int", "[serve]\nmax_connections = 1.5\n", []string{`2:19: expected an integer, got the float 1.5`}},
		{"wrong type env", "[program]\nenv = [\"A=1\"]\n", []string{`2:8: expected a table of strings such as { LANG = "C.UTF-8" }, got an array`}},
		{"nul in string", "[program]\nworkdir = \"/a\\u0000b\"\n", []string{`2:11: path contains a NUL character`}},

		// Values.
		{"version", "version = 2\n", []string{`1:11: unsupported version 2: this sockjail reads version 1`}},
		{"version type", "version = \"1\"\n", []string{`1:11: expected the integer 1, got the string "1"`}},
		{"enforce", "enforce = \"lax\"\n", []string{`1:11: expected one of ["strict", "best-effort"], got the string "lax"`}},
		{"stderr", "[program]\nstderr = \"file\"\n", []string{`2:10: expected one of ["log", "null", "connection", "inherit"], got the string "file"`}},
		{"env name", "[program]\nenv = { \"1A\" = \"x\" }\n", []string{`2:9: invalid variable name "1A": use letters, digits and _, not starting with a digit`}},
		{"env value", "[program]\nenv = { A = 1 }\n", []string{`2:13: expected a string, got the integer 1`}},
		{"pass_env", "[program]\npass_env = [\"OK\", \"NOT-OK\"]\n", []string{`2:19: invalid variable name "NOT-OK": use letters, digits and _, not starting with a digit`}},
		{"workdir relative", "[program]\nworkdir = \"srv\"\n", []string{`2:11: path "srv" is not absolute: it must start with "/"`}},
		{"workdir optional", "[program]\nworkdir = \"-/srv\"\n", []string{`2:11: workdir can't be optional`}},
		{"dynamic with group", "[program]\nuser = \"dynamic\"\ngroup = \"nogroup\"\n", []string{`3:9: group must be "" with user = "dynamic": the gid is allocated with the uid`}},
		{"uid range syntax", "[program]\ndynamic_uids = \"400000\"\n", []string{`2:16: invalid uid range "400000": write "lo-hi", such as "400000-409999"`}},
		{"uid range reversed", "[program]\ndynamic_uids = \"5000-4000\"\n", []string{`2:16: uid range "5000-4000" is reversed: write "4000-5000"`}},
		{"uid range root", "[program]\ndynamic_uids = \"0-100\"\n", []string{`2:16: uid range "0-100" includes root (0)`}},
		{"uid range systemd", "[program]\ndynamic_uids = \"60000-62000\"\n", []string{`2:16: uid range 60000-62000 overlaps systemd's dynamic users (61184-65519)`}},
		{"duration unit", "[connection]\nflush_timeout = 30\n", []string{`2:17: a duration needs a unit: write "30s" for seconds`}},
		{"duration syntax", "[connection]\nlinger_max = \"1d\"\n", []string{`2:14: invalid duration "1d": write a number with a unit (h, m, s, ms), such as "30s" or "1h30m"`}},
		{"duration negative", "[connection]\nclose_delay = \"-1s\"\n", []string{`2:15: invalid duration "-1s": must not be negative`}},
		{"keepalive fraction", "[connection]\nkeepalive = \"1500ms\"\n", []string{`2:13: keepalive "1500ms" must be whole seconds from 1s to 32767s (TCP_KEEPIDLE), or "0"`}},
		{"health check without v2", "[serve]\nproxy_protocol = \"v1\"\nhealth_check = \"proxy-local\"\n", []string{`3:16: health_check = "proxy-local" needs proxy_protocol = "v2" or "any" (the LOCAL command exists in PROXY v2 only), not "v1"`}},
		{"tcp check without proxy", "[serve]\nhealth_check = \"tcp\"\n", []string{`2:16: health_check = "tcp" needs a proxy_protocol: without a PROXY header, a TCP check and a client that has not spoken yet look the same; check the admin listener's /readyz instead`}},
		{"health check value", "[serve]\nhealth_check = \"http\"\n", []string{`2:16: expected one of ["off", "proxy-local", "tcp", "any"], got the string "http"`}},
		{"admin listen port", "[serve]\nadmin_listen = \"127.0.0.1:metrics\"\n", []string{`2:16: "127.0.0.1:metrics": port "metrics" is not a number from 0 to 65535`}},
		{"admin listen no port", "[serve]\nadmin_listen = \"127.0.0.1\"\n", []string{`2:16: "127.0.0.1" is not HOST:PORT (such as 127.0.0.1:9100, [::1]:9100 or :9100): address 127.0.0.1: missing port in address`}},
		{"linger order", "[connection]\nlinger_max = \"1s\"\nlinger_idle = \"5s\"\n", []string{`3:15: linger_idle (5s) is longer than linger_max (1s)`}},
		{"size unit", "[filesystem]\ntmp_size = \"64MB\"\n", []string{`2:12: invalid size "64MB": unknown unit "MB" (use B, KiB, MiB, GiB or TiB; sizes are binary)`}},
		{"size fraction", "[filesystem]\ntmp_size = \"1.5GiB\"\n", []string{`2:12: invalid size "1.5GiB": write a whole number with a unit (B, KiB, MiB, GiB, TiB), such as "64MiB"`}},
		{"size small", "[filesystem]\ntmp_size = 0\n", []string{`2:12: tmp_size must be at least 4KiB`}},
		{"shm small", "[filesystem]\nshm_size = 100\n", []string{`2:12: shm_size must be 0 (none) or at least 4KiB`}},
		{"proc type", "[filesystem]\nproc = \"yes\"\n", []string{`2:8: expected true or false, got the string "yes"`}},
		{"size overflow", "[filesystem]\ntmp_size = \"99999999999999999TiB\"\n", []string{`2:12: invalid size "99999999999999999TiB": too large`}},
		{"path relative", "[filesystem]\nread_only = [\"/usr\", \"etc\"]\n", []string{`2:22: path "etc" is not absolute: it must start with "/"`}},
		{"path unclean", "[filesystem]\nexec = [\"/usr/bin/\"]\n", []string{`2:9: path "/usr/bin/" is not clean: write "/usr/bin"`}},
		{"path dotdot", "[filesystem]\nread_write = [\"/srv/../etc\"]\n", []string{`2:15: path "/srv/../etc" is not clean: write "/etc"`}},
		{"path empty", "[filesystem]\nread_only = [\"-\"]\n", []string{`2:14: empty path`}},
		{"path not string", "[filesystem]\nread_only = [1]\n", []string{`2:14: expected a path string, got the integer 1`}},
		{"path twice", "[filesystem]\nread_only = [\"/usr\", \"-/usr\"]\n", []string{`2:22: "/usr" is listed twice (also at index 0)`}},
		{"device outside /dev", "[filesystem]\ndevices = [\"/etc/passwd\"]\n", []string{`2:12: device "/etc/passwd" is not under /dev`}},
		{"ro and rw", "[filesystem]\nread_only = [\"/srv\"]\nread_write = [\"/srv\"]\n", []string{`3:15: "/srv" is in both read_only and read_write`}},
		{"ro inside rw", "[filesystem]\nread_only = [\"/usr\", \"/srv/conf\"]\nread_write = [\"/srv\"]\n", []string{`2:22: read_only "/srv/conf" is inside read_write "/srv", so it would be writable: Landlock can't take back a right granted on a parent directory`}},
		{"ro inside rw root", "[filesystem]\nread_write = [\"/\"]\n", []string{`1:2: read_only "/usr" is inside read_write "/", so it would be writable: Landlock can't take back a right granted on a parent directory`, `1:2: read_only "/etc" is inside read_write "/", so it would be writable: Landlock can't take back a right granted on a parent directory`, `1:2: read_only "/lib" is inside read_write "/", so it would be writable: Landlock can't take back a right granted on a parent directory`, `1:2: read_only "/lib64" is inside read_write "/", so it would be writable: Landlock can't take back a right granted on a parent directory`, `1:2: read_only "/bin" is inside read_write "/", so it would be writable: Landlock can't take back a right granted on a parent directory`, `1:2: read_only "/sbin" is inside read_write "/", so it would be writable: Landlock can't take back a right granted on a parent directory`}},
		{"port zero", "[network]\nbind_tcp = [0]\n", []string{`2:13: port 0 is not from 1 to 65535`}},
		{"port high", "[network]\nconnect_tcp = [65536]\n", []string{`2:16: port 65536 is not from 1 to 65535`}},
		{"port range reversed", "[network]\nbind_tcp = [\"9000-8000\"]\n", []string{`2:13: port range "9000-8000" is reversed: write "8000-9000"`}},
		{"port range bad", "[network]\nbind_tcp = [\"80-\"]\n", []string{`2:13: port "" is not a number from 1 to 65535`}},
		{"port name", "[network]\nconnect_tcp = [\"http\"]\n", []string{`2:16: port "http" is not a number from 1 to 65535`}},
		{"port type", "[network]\nconnect_tcp = [true]\n", []string{`2:16: expected a port number or a "lo-hi" range string, got the boolean true`}},
		{"unknown syscall", "[syscalls]\nallow = [\"@basic-io\", \"opne\"]\n", []string{`2:23: unknown syscall "opne": not in the x86-64 syscall table (groups start with @)`}},
		{"other arch syscall", "[syscalls]\nallow = [\"mmap2\"]\n", []string{`2:10: unknown syscall "mmap2": not in the x86-64 syscall table (groups start with @)`}},
		{"unknown group", "[syscalls]\ndeny = [\"@network\"]\n", []string{`2:9: unknown syscall group "@network": run 'sockjail policy syscalls' for the list`}},
		{"deny execve", "[syscalls]\ndeny = [\"ptrace\", \"execve\"]\n", []string{`2:19: deny "execve" removes execve, which every program needs (the mandatory syscalls execve, exit, exit_group, rt_sigreturn can't be denied)`}},
		{"deny @default", "[syscalls]\ndeny = [\"@default\"]\n", []string{`2:9: deny "@default" removes execve, which every program needs (the mandatory syscalls execve, exit, exit_group, rt_sigreturn can't be denied)`}},
		{"deny @system-service", "[syscalls]\ndeny = [\"@system-service\"]\n", []string{`2:9: deny "@system-service" removes execve, which every program needs (the mandatory syscalls execve, exit, exit_group, rt_sigreturn can't be denied)`}},
		{"syscall twice", "[syscalls]\nallow = [\"read\", \"read\"]\n", []string{`2:18: "read" is listed twice (also at index 0)`}},
		{"action", "[syscalls]\naction = \"trap\"\n", []string{`2:10: expected one of ["errno", "kill", "log"], got the string "trap"`}},
		{"errno", "[syscalls]\nerrno = \"EPERMS\"\n", []string{`2:9: unknown errno name "EPERMS": use a name such as "EPERM" or "ENOSYS"`}},
		{"errno number", "[syscalls]\nerrno = 1\n", []string{`2:9: expected a string, got the integer 1`}},
		{"nofile unlimited", "[limits]\nnofile = \"unlimited\"\n", []string{`2:10: nofile can't be "unlimited": the kernel caps it at fs.nr_open; write a number`}},
		{"nofile low", "[limits]\nnofile = 2\n", []string{`2:10: nofile must be at least 3, for stdin, stdout and stderr`}},
		{"nproc negative", "[limits]\nnproc = -1\n", []string{`2:9: expected a non-negative integer or "unlimited", got the integer -1`}},
		{"nproc string", "[limits]\nnproc = \"10\"\n", []string{`2:9: expected a non-negative integer or "unlimited", got the string "10"`}},
		{"cpu zero", "[limits]\ncpu = \"0\"\n", []string{`2:7: cpu = 0 would kill the program at once: write a time, or "unlimited"`}},
		{"cpu fraction", "[limits]\ncpu = \"1500ms\"\n", []string{`2:7: CPU time is counted in whole seconds, got "1500ms"`}},
		{"cpu unit", "[limits]\ncpu = \"10 minutes\"\n", []string{`2:7: invalid duration "10 minutes": write a number with a unit (h, m, s, ms), such as "30s" or "1h30m", or "unlimited"`}},
		{"memory small", "[limits]\nmemory = \"1MiB\"\n", []string{`2:10: memory must be at least 4MiB: less can't load a program; write a size such as "512MiB", or "unlimited"`}},
		{"memory unit", "[limits]\nmemory = \"1GB\"\n", []string{`2:10: invalid size "1GB": unknown unit "GB" (use B, KiB, MiB, GiB or TiB; sizes are binary), or "unlimited"`}},
		{"tasks zero", "[limits]\ntasks = 0\n", []string{`2:9: tasks = 0 leaves no room for the program itself: write at least 1, or "unlimited"`}},
		{"cpu_quota bare", "[limits]\ncpu_quota = 100\n", []string{`2:13: expected a share of one CPU such as "100%" or "250%", or "unlimited", got the integer 100`}},
		{"cpu_quota fraction", "[limits]\ncpu_quota = \"0.5%\"\n", []string{`2:13: expected a share of one CPU such as "100%" or "250%", or "unlimited", got the string "0.5%"`}},
		{"cpu_quota zero", "[limits]\ncpu_quota = \"0%\"\n", []string{`2:13: cpu_quota "0%" is out of range: write from "1%" to "100000%", or "unlimited"`}},
		{"tmp_inodes small", "[filesystem]\ntmp_inodes = 3\n", []string{`2:14: tmp_inodes must be from 16 to 2147483648, got 3`}},
		{"tmp_inodes type", "[filesystem]\ntmp_inodes = \"10k\"\n", []string{`2:14: expected an integer, got the string "10k"`}},
		{"address space", "[limits]\naddress_space = \"4G B\"\n", []string{`2:17: invalid size "4G B": write a whole number with a unit (B, KiB, MiB, GiB, TiB), such as "64MiB", or "unlimited"`}},
		{"max_connections", "[serve]\nmax_connections = 0\n", []string{`2:19: 0 is out of range: must be from 1 to 2147483647`}},
		{"max_per_source", "[serve]\nmax_per_source = -1\n", []string{`2:18: -1 is out of range: must be from 0 to 2147483647`}},
		{"source_prefix_v6", "[serve]\nsource_prefix_v6 = 129\n", []string{`2:20: 129 is out of range: must be from 1 to 128`}},
		{"source_prefix_v4", "[serve]\nsource_prefix_v4 = 0\n", []string{`2:20: 0 is out of range: must be from 1 to 32`}},
		{"rate", "[serve]\nrate_per_source = -0.5\n", []string{`2:19: rate_per_source must be from 0 to 1000000, got -0.5`}},
		{"rate nan", "[serve]\nrate_per_source = nan\n", []string{`2:19: rate_per_source must be from 0 to 1000000, got NaN`}},
		{"pow timeout", "[serve]\npow = 16\npow_timeout = \"0\"\n", []string{`3:15: pow_timeout must be at least 1s when pow is on, got "0"`}},
		{"pow bits", "[serve]\npow = 40\n", []string{`2:7: 40 is out of range: must be from 0 to 32`}},
		{"cidr", "[serve]\nallow_from = [\"10.0.0.0/33\"]\n", []string{`2:15: invalid CIDR "10.0.0.0/33": write an address with a prefix length, such as "192.0.2.0/24" or "2001:db8::/32"`}},
		{"cidr mapped", "[serve]\ndeny_from = [\"::ffff:10.0.0.0/104\"]\n", []string{`2:14: invalid CIDR "::ffff:10.0.0.0/104": write the IPv4 form, "10.0.0.0/8"`}},
		{"cidr zone", "[serve]\ndeny_from = [\"fe80::1%eth0\"]\n", []string{`2:14: invalid CIDR "fe80::1%eth0": zones are not allowed`}},
		{"busy message newline", "[serve]\nbusy_message = \"a\\nb\"\n", []string{`2:16: message contains the control character U+000A: write one line of text`}},
		{"busy message long", "[serve]\nbusy_message = \"" + strings.Repeat("x", 1025) + "\"\n", []string{`2:16: message is 1025 bytes long; the limit is 1024`}},
		{"proxy", "[serve]\nproxy_protocol = true\n", []string{`2:18: expected one of ["off", "v1", "v2", "any"], got the boolean true`}},
		{"telnet", "[terminal]\ntelnet = \"on\"\n", []string{`2:10: expected true, false or "passive", got the string "on"`}},
		{"crlf with pty", "[terminal]\npty = true\ncrlf = true\n", []string{`3:8: crlf = true applies only without a pty (a pty already turns \n into \r\n): set pty = false or remove crlf`}},
		{"rlogin with pow", "[serve]\npow = 16\n[terminal]\nprotocol = \"rlogin\"\n", []string{`4:12: pow can't be asked of rlogin clients: their handshake comes before any line they could answer, and the door and terminal servers that connect by rlogin don't solve challenges; admit them with allow_from instead`}},
		{"rlogin without pty", "[terminal]\nprotocol = \"rlogin\"\npty = false\n", []string{`3:7: protocol = "rlogin" needs a pty (its window-size messages resize it, and the client leaves echo and line editing to it): remove pty = false`}},
		{"rlogin with telnet", "[terminal]\ntelnet = true\nprotocol = \"rlogin\"\n", []string{`3:12: telnet applies only with protocol = "telnet", not "rlogin": remove telnet or protocol`}},
		{"telnet protocol with telnet off", "[terminal]\nprotocol = \"telnet\"\ntelnet = false\n", []string{`3:10: telnet = false contradicts protocol = "telnet": remove telnet, or set it to true or "passive"`}},
		{"unknown protocol", "[terminal]\nprotocol = \"ssh\"\n", []string{`2:12: expected one of ["raw", "telnet", "rlogin"], got the string "ssh"`}},
		{"crlf with rlogin", "[terminal]\nprotocol = \"rlogin\"\ncrlf = true\n", []string{`3:8: crlf = true applies only without a pty (a pty already turns \n into \r\n): set pty = false or remove crlf`}},
		{"crlf with telnet", "[terminal]\ncrlf = true\ntelnet = true\n", []string{`3:10: crlf = true applies only without a pty (a pty already turns \n into \r\n): set pty = false or remove crlf`}},
		{"term", "[terminal]\nterm = \"vt100; rm -rf\"\n", []string{`2:8: invalid terminal type "vt100; rm -rf": use letters, digits and -+._, at most 64`}},
		{"binary without telnet", "[terminal]\nbinary = true\n", []string{`2:10: binary = true is offered only with telnet = true (a client that asks for BINARY gets it with telnet = "passive" too)`}},
		{"binary with passive telnet", "[terminal]\nbinary = true\ntelnet = \"passive\"\n", []string{`3:10: binary = true is offered only with telnet = true (a client that asks for BINARY gets it with telnet = "passive" too)`}},
		{"idle message without timeout", "[terminal]\nidle_message = \"bye\"\n", []string{`2:16: idle_message is never sent: connection.idle_timeout is 0`}},
		{"line rate", "[terminal]\nline_rate = -300\n", []string{`2:13: -300 is out of range: must be from 0 to 1000000000`}},

		// Multi-line arrays, sub-table headers, quoted keys and comments.
		{"multi-line", "[filesystem]\nread_only = [\n  \"/usr\",\n    \"bad\",\n]\n[program.env]\nLANG = 1\n\"2X\" = \"y\"\n[serve]\nallow_from = [ # comment\n  \"1.2.3.4/40\" ]\n", []string{
			`4:5: path "bad" is not absolute: it must start with "/"`,
			`7:8: expected a string, got the integer 1`,
			`8:1: invalid variable name "2X": use letters, digits and _, not starting with a digit`,
			`11:3: invalid CIDR "1.2.3.4/40": write an address with a prefix length, such as "192.0.2.0/24" or "2001:db8::/32"`,
		}},

		// Several errors come out together, in file order.
		{"several", "[network]\nbind_tcp = [0]\n[limits]\nnofile = 1\n[program]\nworkdir = \"x\"\n", []string{
			`2:13: port 0 is not from 1 to 65535`,
			`4:10: nofile must be at least 3, for stdin, stdout and stderr`,
			`6:11: path "x" is not absolute: it must start with "/"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("f.toml", []byte(tt.in))
			if err == nil {
				t.Fatalf("accepted:\n%s\ngot %+v", tt.in, p)
			}
			if p != nil {
				t.Errorf("returned a policy with the error")
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, not ErrorList", err)
			}
			var got []string
			for _, e := range list {
				if e.File != "f.toml" {
					t.Errorf("File = %q", e.File)
				}
				got = append(got, strings.TrimPrefix(e.Error(), "f.toml:"))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if err.Error() != "f.toml:"+strings.Join(got, "\nf.toml:") {
				t.Errorf("Error() = %q", err.Error())
			}
		})
	}
}
