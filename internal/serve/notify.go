package serve

import (
	"os"

	"github.com/coreos/go-systemd/v22/daemon"
)

// notifier sends sd_notify(3) messages to the service manager when
// NOTIFY_SOCKET is set (Type=notify), and does nothing otherwise.
type notifier struct {
	enabled bool
}

func newNotifier() *notifier {
	return &notifier{enabled: os.Getenv("NOTIFY_SOCKET") != ""}
}

// send sends state ("READY=1", "STATUS=...", "STOPPING=1", several joined
// by newlines). A failure is returned for logging; it never stops serving.
func (n *notifier) send(state string) error {
	if !n.enabled {
		return nil
	}
	_, err := daemon.SdNotify(false, state)
	return err
}
