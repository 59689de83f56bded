package session

import (
	"testing"
	"time"

	"github.com/sockjail/sockjail/internal/conn"
	"github.com/sockjail/sockjail/internal/relay"
	"github.com/sockjail/sockjail/internal/telnet"
	"github.com/sockjail/sockjail/policy"
)

func TestRelayConfig(t *testing.T) {
	p, err := policy.Parse("interactive.toml", []byte(`
version = 1
[connection]
idle_timeout = "90s"
[terminal]
telnet = true
binary = true
term = "ansi"
idle_message = "bye"
line_rate = 2400
`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := relayConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	want := relay.Config{PTY: true, Telnet: telnet.On, Binary: true, Term: "ansi", LineRate: 2400, IdleTimeout: 90 * time.Second, IdleMessage: "bye"}
	if c != want {
		t.Errorf("relayConfig = %+v, want %+v", c, want)
	}
	d, err := relayConfig(policy.Default())
	if err != nil || d.Needed() {
		t.Errorf("default policy: %+v, %v; the relay must not be needed", d, err)
	}
}

// TestNewConfigClose: the close timings come from [connection], and a
// config serve changes for a refusal leaves the policy alone.
func TestNewConfigClose(t *testing.T) {
	p, err := policy.Parse("close.toml", []byte(`
version = 1
[connection]
flush_timeout = "7s"
close_delay = "250ms"
linger_idle = "3s"
linger_max = "11s"
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewConfig(p, nil, []string{"/bin/true"}, nil)
	want := conn.CloseOptions{FlushTimeout: 7 * time.Second, CloseDelay: 250 * time.Millisecond, LingerIdle: 3 * time.Second, LingerMax: 11 * time.Second}
	if cfg.Close != want {
		t.Errorf("Close = %+v, want %+v", cfg.Close, want)
	}
	refuse := *cfg
	refuse.Close = conn.CloseOptions{}
	if cfg.Close != want || time.Duration(p.Connection.FlushTimeout) != 7*time.Second {
		t.Errorf("changing a copy's Close changed the original: %+v, policy %v", cfg.Close, p.Connection.FlushTimeout)
	}
}
