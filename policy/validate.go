package policy

import (
	"fmt"
	"strings"
	"time"
)

// Checks that involve more than one key. Each error is reported at the key
// the file wrote; when both keys are written, at the later one. What the
// keys name on the machine (users, groups) is CheckHost's (host.go).

// systemdDynamicUIDs is systemd's DynamicUser= range, which sockjail's own
// dynamic uids must avoid.
var systemdDynamicUIDs = IDRange{61184, 65519}

func (d *decoder) validate(p *Policy) {
	d.validateProtocol(&p.Terminal)
	if p.Terminal.CRLF && p.Terminal.PTY {
		d.errorf(d.later("terminal.crlf", "terminal.pty", "terminal.telnet", "terminal.protocol"), "crlf = true applies only without a pty (a pty already turns \\n into \\r\\n): set pty = false or remove crlf")
	}
	if p.Terminal.Binary && p.Terminal.Telnet != TelnetOn {
		d.errorf(d.later("terminal.binary", "terminal.telnet"), "binary = true is offered only with telnet = true (a client that asks for BINARY gets it with telnet = \"passive\" too)")
	}
	if p.Terminal.IdleMessage != "" && p.Connection.IdleTimeout == 0 {
		d.errorf(d.later("terminal.idle_message", "connection.idle_timeout"), "idle_message is never sent: connection.idle_timeout is 0")
	}
	if p.Connection.LingerIdle > p.Connection.LingerMax {
		d.errorf(d.later("connection.linger_idle", "connection.linger_max"), "linger_idle (%s) is longer than linger_max (%s)", p.Connection.LingerIdle, p.Connection.LingerMax)
	}
	d.validateServe(p)
	d.validateProgram(p)
	d.validatePaths(p)
	d.validateSyscalls(p)
}

// validateProtocol makes protocol and telnet agree, either alone setting
// the other (telnet = true is how files said "telnet" before protocol
// existed), and turns the pty on for telnet and rlogin unless the file
// says pty = false, which rlogin refuses.
func (d *decoder) validateProtocol(t *Terminal) {
	protocolWritten, telnetWritten := d.written["terminal.protocol"], d.written["terminal.telnet"]
	switch {
	case telnetWritten && !protocolWritten:
		if t.Telnet != TelnetOff {
			t.Protocol = ProtocolTelnet
		} else if t.Protocol == ProtocolTelnet {
			t.Protocol = ProtocolRaw
		}
	case protocolWritten && !telnetWritten:
		if t.Protocol != ProtocolTelnet {
			t.Telnet = TelnetOff
		} else if t.Telnet == TelnetOff {
			t.Telnet = TelnetOn
		}
	case t.Protocol == ProtocolTelnet && t.Telnet == TelnetOff:
		d.errorf(d.later("terminal.protocol", "terminal.telnet"), "telnet = false contradicts protocol = \"telnet\": remove telnet, or set it to true or \"passive\"")
	case t.Protocol != ProtocolTelnet && t.Telnet != TelnetOff:
		d.errorf(d.later("terminal.protocol", "terminal.telnet"), "telnet applies only with protocol = \"telnet\", not %q: remove telnet or protocol", t.Protocol)
	}
	if t.Protocol == ProtocolRaw || t.Protocol == "" {
		return
	}
	if !t.PTYExplicit {
		t.PTY = true
	} else if !t.PTY && t.Protocol == ProtocolRlogin {
		d.errorf(d.later("terminal.protocol", "terminal.pty"), "protocol = \"rlogin\" needs a pty (its window-size messages resize it, and the client leaves echo and line editing to it): remove pty = false")
	}
}

// later returns whichever of paths is written last in the file, or the
// first path when none is written.
func (d *decoder) later(paths ...string) string {
	best := paths[0]
	var bestPos position
	for _, path := range paths {
		if !d.index().Has(path) {
			continue
		}
		pos := d.index().Value(path)
		if pos.Line > bestPos.Line || (pos.Line == bestPos.Line && pos.Column > bestPos.Column) {
			best, bestPos = path, pos
		}
	}
	return best
}

func (d *decoder) validateServe(p *Policy) {
	s := &p.Serve
	if s.HealthCheck.ProxyLocal() && s.ProxyProtocol != ProxyV2 && s.ProxyProtocol != ProxyAny {
		d.errorf(d.later("serve.health_check", "serve.proxy_protocol"), "health_check = %q needs proxy_protocol = \"v2\" or \"any\" (the LOCAL command exists in PROXY v2 only), not %q", s.HealthCheck, s.ProxyProtocol)
	} else if s.HealthCheck.TCP() && (s.ProxyProtocol == "" || s.ProxyProtocol == ProxyOff) {
		d.errorf(d.later("serve.health_check", "serve.proxy_protocol"), "health_check = %q needs a proxy_protocol: without a PROXY header, a TCP check and a client that has not spoken yet look the same; check the admin listener's /readyz instead", s.HealthCheck)
	}
	if s.PoW > 0 && p.Terminal.Protocol == ProtocolRlogin {
		d.errorf(d.later("serve.pow", "terminal.protocol"), "pow can't be asked of rlogin clients: their handshake comes before any line they could answer, and the door and terminal servers that connect by rlogin don't solve challenges; admit them with allow_from instead")
	}
	if s.PoW > 0 && s.PoWTimeout.Duration() < time.Second {
		d.errorf(d.later("serve.pow", "serve.pow_timeout"), "pow_timeout must be at least 1s when pow is on, got %q", s.PoWTimeout)
	}
}

func (d *decoder) validateProgram(p *Policy) {
	pr := &p.Program
	r := pr.DynamicUIDs
	if r.Lo <= systemdDynamicUIDs.Hi && systemdDynamicUIDs.Lo <= r.Hi {
		d.errorf("program.dynamic_uids", "uid range %s overlaps systemd's dynamic users (%s)", r, systemdDynamicUIDs)
	}
	if pr.User == UserDynamic && pr.Group != "" {
		d.errorf("program.group", "group must be \"\" with user = \"dynamic\": the gid is allocated with the uid")
	}
}

// validatePaths reports paths that are both read-only and writable.
// Landlock rights add up down the tree, so a read_only path at or below a
// read_write path would be writable all the same.
func (d *decoder) validatePaths(p *Policy) {
	for i, ro := range p.Filesystem.ReadOnly {
		for j, rw := range p.Filesystem.ReadWrite {
			switch {
			case ro.Name == rw.Name:
				d.errorf(fmt.Sprintf("filesystem.read_write[%d]", j), "%q is in both read_only and read_write", rw.Name)
			case isBelow(ro.Name, rw.Name):
				d.errorf(fmt.Sprintf("filesystem.read_only[%d]", i), "read_only %q is inside read_write %q, so it would be writable: Landlock can't take back a right granted on a parent directory", ro.Name, rw.Name)
			}
		}
	}
}

// isBelow reports whether path is strictly inside dir.
func isBelow(path, dir string) bool {
	if dir == "/" {
		return path != "/"
	}
	return strings.HasPrefix(path, dir+"/")
}

// validateSyscalls reports deny entries that would remove a mandatory
// syscall. Names and groups were checked while decoding.
func (d *decoder) validateSyscalls(p *Policy) {
	for i, name := range p.Syscalls.Deny {
		members := []string{name}
		if strings.HasPrefix(name, "@") {
			members, _ = GroupMembers(name)
		}
		for _, m := range members {
			if isMandatory(m) {
				d.errorf(fmt.Sprintf("syscalls.deny[%d]", i), "deny %q removes %s, which every program needs (the mandatory syscalls %s can't be denied)", name, m, strings.Join(MandatorySyscalls, ", "))
				break
			}
		}
	}
}
