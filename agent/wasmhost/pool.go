package wasmhost

import (
	"context"
	"fmt"
	"time"
)

// broadcastLocked wakes everyone waiting for a state change. m.mu is held.
func (m *Module) broadcastLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *Module) kickPool() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// acquire takes an idle instance, waiting until ctx is done. It fails fast
// with ErrUnavailable when no instance lives and the last creation failed.
func (m *Module) acquire(ctx context.Context) (*instance, error) {
	for {
		select {
		case in := <-m.idle:
			return in, nil
		default:
		}
		m.mu.Lock()
		closed, live, lastErr, ch := m.closed, m.live, m.lastErr, m.changed
		m.mu.Unlock()
		switch {
		case closed:
			return nil, ErrClosed
		case live == 0 && lastErr != nil:
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, lastErr)
		}
		select {
		case in := <-m.idle:
			return in, nil
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waiting for an instance: %w", ErrTimeout, ctx.Err())
		}
	}
}

// maintain keeps the pool at PoolSize instances, creating them one at a
// time in the background with back-off after failures.
func (m *Module) maintain() {
	defer close(m.bgDone)
	const minBackoff, maxBackoff = 50 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	for {
		select {
		case <-m.kick:
		case <-m.bgCtx.Done():
			return
		}
		for {
			m.mu.Lock()
			need := !m.closed && m.live < m.cfg.PoolSize
			if need {
				m.live++ // reserved for the instance being created
			}
			m.mu.Unlock()
			if !need {
				break
			}
			in, err := m.newInstance(m.bgCtx)
			m.mu.Lock()
			if err != nil {
				m.live--
				m.lastErr = err
				m.broadcastLocked()
				m.mu.Unlock()
				m.log.Error("cannot create wasm instance", "err", err, "retry_in", backoff)
				select {
				case <-time.After(backoff):
				case <-m.bgCtx.Done():
					return
				}
				backoff = min(2*backoff, maxBackoff)
				continue
			}
			backoff = minBackoff
			m.lastErr = nil
			if m.closed {
				m.live--
				m.mu.Unlock()
				in.close()
				return
			}
			m.idle <- in // never blocks: live ≤ PoolSize = cap(idle)
			m.broadcastLocked()
			m.mu.Unlock()
		}
	}
}

// finish ends a call on in: a healthy instance goes back to the pool, any
// other is closed and replaced. abandoned says the caller already gave the
// instance up (and accounted for it).
func (m *Module) finish(in *instance, err error, abandoned bool) {
	in.started.Store(0)
	m.mu.Lock()
	delete(m.running, in)
	if err == nil && !abandoned && !m.closed {
		in.state.Store(stateIdle)
		m.idle <- in
		m.broadcastLocked()
		m.mu.Unlock()
		return
	}
	if !abandoned {
		m.live--
	}
	m.broadcastLocked()
	m.mu.Unlock()
	in.close()
	m.stats.discarded.Add(1)
	m.kickPool()
}

// abandon gives up on a call that ran past its deadline: the instance no
// longer counts as live, a replacement is started, and finish will close
// it when (if) its call returns.
func (m *Module) abandon(in *instance) {
	m.mu.Lock()
	m.live--
	m.broadcastLocked()
	m.mu.Unlock()
	m.kickPool()
}
