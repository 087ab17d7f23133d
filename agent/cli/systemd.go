package cli

import (
	"context"
	"log/slog"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// healthChecker is what the watchdog asks: *supervisor.Supervisor.
type healthChecker interface {
	Running() map[string]string
}

// notifySystemd tells systemd the agent is ready and then feeds its
// watchdog (WatchdogSec= in the unit) for as long as the supervisor answers:
// a supervisor that is stuck (a deadlock, a frozen process) stops the
// pings, and systemd restarts the agent. Outside systemd it does nothing.
func notifySystemd(ctx context.Context, sup healthChecker, log *slog.Logger) {
	if ok, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		log.Warn("sd_notify READY", "err", err)
	} else if ok {
		log.Info("told systemd we are ready")
	}
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	tick := time.NewTicker(interval / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			daemon.SdNotify(false, daemon.SdNotifyStopping)
			return
		case <-tick.C:
			if !healthy(sup, interval/3) {
				log.Error("supervisor unresponsive: not feeding the systemd watchdog")
				continue
			}
			daemon.SdNotify(false, daemon.SdNotifyWatchdog)
		}
	}
}

// healthy reports whether the supervisor answers within timeout.
func healthy(sup healthChecker, timeout time.Duration) bool {
	done := make(chan struct{})
	go func() {
		sup.Running()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}
