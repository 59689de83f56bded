package unit

import (
	"strings"
	"testing"

	"github.com/sockjail/sockjail/policy"
)

// FuzzGenerate feeds arbitrary names, addresses, paths and arguments to
// Generate. Whatever it accepts must come out as well-formed unit files:
// every line a comment, a section header or a known Key=value, exactly one
// ExecStart=, so that no input can smuggle in a directive of its own.
func FuzzGenerate(f *testing.F) {
	f.Add("hello", "31337", "/etc/sockjail/hello.toml", "/usr/local/bin/hello", "arg", true)
	f.Add("odd-args", "[::1]:23", "/etc/sockjail/odd args.toml", "/opt/my game/bin/game\n", "x\nExecStartPre=/bin/evil", false)
	f.Add("a", "127.0.0.1:1", "", "/p", "%i $HOME ; \"q\" \\", true)
	f.Add("x\\x2dy", ":80", "/p\r\n[Service]\nUser=root", "/bin/sh", "", false)
	f.Add("t", "1", "/p\\", "/bin/x\\", "y\\", true)
	f.Fuzz(func(t *testing.T, name, listen, policyPath, program, arg string, accept bool) {
		files, err := Generate(Config{
			Name: name, Listen: []string{listen}, Accept: accept,
			Sockjail: "/usr/local/bin/sockjail", PolicyPath: policyPath,
			Policy: policy.Default(), Program: []string{program, arg},
			Command: []string{"sockjail", "unit", "--name", name, "--listen", listen, "--", program, arg},
		})
		if err != nil {
			return
		}
		for _, file := range files {
			execs := 0
			for _, line := range strings.Split(strings.TrimSuffix(file.Content, "\n"), "\n") {
				switch {
				case line == "", strings.HasPrefix(line, "#"):
				case line == "[Unit]", line == "[Socket]", line == "[Service]", line == "[Install]":
				default:
					key, _, ok := strings.Cut(line, "=")
					if !ok || !knownKeys[key] {
						t.Fatalf("%s has the line %q, which is not a directive Generate writes", file.Name, line)
					}
					if key == "ExecStart" {
						execs++
					}
				}
				if strings.ContainsAny(line, "\r\x00") {
					t.Fatalf("%s has a control character in %q", file.Name, line)
				}
				// A trailing backslash continues a line into the next,
				// even across comments (systemd.syntax(7)).
				if strings.HasSuffix(line, "\\") {
					t.Fatalf("%s has a line ending in a backslash: %q", file.Name, line)
				}
			}
			if strings.HasSuffix(file.Name, ".service") && execs != 1 {
				t.Fatalf("%s has %d ExecStart= lines", file.Name, execs)
			}
		}
	})
}

// knownKeys are the directives Generate may write.
var knownKeys = map[string]bool{
	"Description": true, "CollectMode": true, "Requires": true, "After": true,
	"ListenStream": true, "Accept": true, "MaxConnections": true, "MaxConnectionsPerSource": true,
	"TriggerLimitIntervalSec": true, "TriggerLimitBurst": true, "PollLimitIntervalSec": true, "PollLimitBurst": true,
	"NoDelay": true, "KeepAlive": true, "KeepAliveTimeSec": true, "WantedBy": true,
	"ExecStart": true, "ExecReload": true, "Environment": true, "Type": true, "StandardInput": true, "StandardOutput": true, "StandardError": true,
	"TimeoutStopSec": true, "RuntimeMaxSec": true, "KillMode": true, "DynamicUser": true,
	"MemoryMax": true, "MemorySwapMax": true, "TasksMax": true, "CPUQuota": true, "Delegate": true,
	"NoNewPrivileges": true, "LockPersonality": true, "RestrictRealtime": true, "RestrictSUIDSGID": true,
	"ProtectKernelTunables": true, "ProtectKernelModules": true, "ProtectKernelLogs": true,
	"ProtectControlGroups": true, "ProtectHostname": true,
}
