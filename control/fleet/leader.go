package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// # Leadership
//
// Several controllers (replicas) may share one database and one broker.
// Any of them serves the API, ingests reports and serves chunks, but
// exactly one, the leader, publishes desired states and drives rollouts
// and deployment deadlines: it holds the lease "leader" in the database
// (store.AcquireLease), renewing it every third of its TTL. A replica that
// changes a desired state (an API call that reached it) stores it
// unpublished; the leader publishes what is unpublished every
// publishEvery, and everything again when it becomes leader.
//
// Fencing. The lease's token rises with every change of hands, and each
// desired state carries its device's generation, which rises in the same
// transaction as every change of it: a state read before a newer one was
// stored has a lower generation, and agents refuse a generation lower than
// the one they hold. A leader counts its lease valid until the time it
// asked for it plus the TTL less a margin, on its own monotonic clock, and
// checks that before every publish and every rollout step: a leader
// paused (SIGSTOP, a long GC, a VM migration) past its lease finds it
// expired when it resumes and publishes nothing, whatever the database
// says by then. Rollout documents are saved only over the revision they
// were read at (store.ErrStale), so a step of a leader that lost the lease
// mid-way is not applied over its successor's.
//
//	           acquire ok                         renew fails, or the local
//	follower ─────────────▶ leader ── validity ends before a renewal ──▶ follower
//	   ▲  acquire refused     │ renew ok
//	   └──────────────────────┘ (every TTL/3)

// leaseName is the lease of the publisher of desired states.
const leaseName = "leader"

// DefaultLeaseTTL is the leader lease's TTL when Config.LeaseTTL is zero:
// a dead leader's work resumes on another replica within about this long.
const DefaultLeaseTTL = 10 * time.Second

// publishEvery is how often the leader publishes the desired states other
// replicas stored.
const publishEvery = 250 * time.Millisecond

// leadership is this controller's view of the leader lease.
type leadership struct {
	holder string
	ttl    time.Duration

	mu         sync.Mutex
	token      int64     // 0: not leader
	validUntil time.Time // local monotonic clock

	hookMu sync.Mutex
	hook   func(leading bool) // SetLeadershipHook
	hooked bool               // what hook was last told
}

// SetLeadershipHook has hook called with true when this controller
// becomes leader and false when it stops (the server subscribes to
// metrics reports only while leading). It is called at once with the
// present state.
func (f *Fleet) SetLeadershipHook(hook func(leading bool)) {
	f.lead.hookMu.Lock()
	f.lead.hook = hook
	f.lead.hookMu.Unlock()
	f.tellHook(f.Leading(), true)
}

// tellHook tells the hook leading if it changed (or always with force).
func (f *Fleet) tellHook(leading, force bool) {
	f.lead.hookMu.Lock()
	defer f.lead.hookMu.Unlock()
	if f.lead.hook == nil || (!force && f.lead.hooked == leading) {
		return
	}
	f.lead.hooked = leading
	f.lead.hook(leading)
}

// newHolder names this controller in the lease: host, process and a
// random part (two controllers in one process, in tests).
func newHolder() string {
	host, _ := os.Hostname()
	var b [3]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Leading reports whether this controller holds the leader lease now, by
// its own clock.
func (f *Fleet) Leading() bool {
	f.lead.mu.Lock()
	defer f.lead.mu.Unlock()
	return f.lead.token != 0 && time.Now().Before(f.lead.validUntil)
}

// LeaseToken returns the token of the leader lease this controller holds
// (0 when it does not).
func (f *Fleet) LeaseToken() int64 {
	if !f.Leading() {
		return 0
	}
	f.lead.mu.Lock()
	defer f.lead.mu.Unlock()
	return f.lead.token
}

// Holder is this controller's name in the leader lease.
func (f *Fleet) Holder() string { return f.lead.holder }

// tryLead acquires or renews the lease once and reports whether this
// controller became leader by it.
func (f *Fleet) tryLead(ctx context.Context) (became bool) {
	asked := time.Now()
	actx, cancel := context.WithTimeout(ctx, f.lead.ttl/3)
	l, held, err := f.store.AcquireLease(actx, leaseName, f.lead.holder, f.lead.ttl)
	cancel()
	f.lead.mu.Lock()
	defer f.lead.mu.Unlock()
	was := f.lead.token != 0 && time.Now().Before(f.lead.validUntil)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			f.log.Warn("leader lease: database unreachable; leadership lapses at its expiry", "err", err, "leading", was)
		}
		return false
	case !held:
		if was || f.lead.token != 0 {
			f.log.Warn("leader lease lost", "holder", l.Holder, "token", l.Token)
		}
		f.lead.token = 0
		return false
	}
	if f.lead.token != l.Token || !was {
		became = true
		f.log.Info("leader lease taken: this controller publishes desired states and drives rollouts", "holder", f.lead.holder, "token", l.Token)
	}
	// Valid until the time it was asked for, plus the TTL, less a margin
	// for the clocks' rates and a publish under way.
	f.lead.token, f.lead.validUntil = l.Token, asked.Add(f.lead.ttl-f.lead.ttl/5)
	return became
}

// runLeader keeps trying for the lease, and renewing it, until ctx ends;
// then it gives it up, so that another replica takes over at once.
func (f *Fleet) runLeader(ctx context.Context) {
	t := time.NewTicker(f.lead.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			f.flushPublished(fctx)
			cancel()
			f.resign()
			f.tellHook(false, false)
			return
		case <-t.C:
		}
		if f.tryLead(ctx) {
			f.elected(ctx)
		}
		f.tellHook(f.Leading(), false)
	}
}

// elected is what a controller does on becoming leader: publish every
// desired state (its predecessor may have died before publishing), and go
// on with the live rollouts.
func (f *Fleet) elected(ctx context.Context) {
	go func() {
		if err := f.Republish(ctx); err != nil && ctx.Err() == nil {
			f.log.Error("republish desired states", "err", err)
		}
	}()
	f.kickRollouts()
}

// resign gives the lease up if this controller holds it.
func (f *Fleet) resign() {
	f.lead.mu.Lock()
	token := f.lead.token
	f.lead.token = 0
	f.lead.mu.Unlock()
	if token == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := f.store.ReleaseLease(ctx, leaseName, f.lead.holder, token); err != nil {
		f.log.Warn("release leader lease", "err", err)
	}
}

// runPublisher publishes, while this controller leads, the desired states
// this controller changed (at once: publishLater wakes it) and those other
// replicas stored (polled every publishEvery).
func (f *Fleet) runPublisher(ctx context.Context) {
	t := time.NewTicker(publishEvery)
	defer t.Stop()
	for {
		poll := false
		select {
		case <-ctx.Done():
			return
		case <-f.queue.wake:
		case <-t.C:
			poll = true
		}
		f.publishQueued(ctx)
		f.flushPublished(ctx)
		if !poll || !f.Leading() {
			continue
		}
		states, err := f.store.Unpublished(ctx, 1000)
		if err != nil {
			if ctx.Err() == nil {
				f.log.Error("read unpublished desired states", "err", err)
			}
			continue
		}
		for i := range states {
			f.noteDesired(&states[i])
		}
		f.publishStates(ctx, queuedStates(states, false))
		f.flushPublished(ctx)
	}
}

// flushPublished records the publishes since the last flush, in one
// transaction.
func (f *Fleet) flushPublished(ctx context.Context) {
	f.desiredMu.Lock()
	marks := f.unmarked
	f.unmarked = map[string]int64{}
	f.desiredMu.Unlock()
	if err := f.store.MarkAllPublished(ctx, marks); err != nil && ctx.Err() == nil {
		f.log.Warn("record desired states published (they will be published again)", "err", err)
	}
}

// errNotLeader: this controller does not hold the leader lease.
var errNotLeader = errors.New("not the leader")
