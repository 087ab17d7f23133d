package fleet

import (
	"context"
	"time"
)

// sweepEvery is how often sweep looks for overdue deployments: a tenth of
// the deploy timeout, within [100ms, 30s], so a device is marked timed_out
// at most that long after the deadline.
func (f *Fleet) sweepEvery() time.Duration {
	return min(max(f.timeout/10, 100*time.Millisecond), 30*time.Second)
}

// sweep marks timed_out, until ctx ends, every device that has not
// reached a terminal state in a deployment whose deadline has passed. The
// deadline is stored with the deployment, so a controller restarted after
// it still ends the deployment on its first sweep.
func (f *Fleet) sweep(ctx context.Context) {
	t := time.NewTicker(f.sweepEvery())
	defer t.Stop()
	for {
		f.expire(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// expire runs one sweep.
func (f *Fleet) expire(ctx context.Context) {
	if !f.Leading() {
		return // the leader does (it would be the same work)
	}
	expired, err := f.store.ExpireDeployments(ctx, f.now(), f.timeout)
	if err != nil {
		if ctx.Err() == nil {
			f.log.Error("time out overdue deployments", "err", err)
		}
		return
	}
	for _, e := range expired {
		f.log.Warn("deployment timed out on a device", "deployment", e.Deployment, "device", e.Device, "was", e.Was, "reason", e.Reason)
	}
}
