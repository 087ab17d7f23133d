package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/edgeplane/edge/wire"
)

// Log requests: the controller publishes a wire.LogRequest on the device's
// logreq topic and waits for the LogBatch with the same id on its logs
// topic. Each request waits on its own channel, so requests to different
// devices never wait for each other; the number waiting is bounded in
// total and per device.
const (
	// LogWait is how long a request waits for the device's answer.
	LogWait = 5 * time.Second
	// MaxLogWaits bounds the requests waiting at once, MaxLogWaitsPerDevice
	// those for one device.
	MaxLogWaits          = 64
	MaxLogWaitsPerDevice = 4
)

// Errors of Logs; the API answers 504 for the first two, 429 for the
// third, 404 for an unknown device (store.ErrNotFound) or a module the
// device does not hold (ErrNotDeployed).
var (
	ErrNoAnswer = errors.New("device did not answer")
	ErrOffline  = errors.New("device is offline")
	ErrLogBusy  = errors.New("too many log requests waiting")
)

type logWaiters struct {
	mu        sync.Mutex
	pending   map[string]logWait // by request id
	perDevice map[string]int
}

type logWait struct {
	device string
	ch     chan wire.LogBatch
}

func newLogWaiters() *logWaiters {
	return &logWaiters{pending: map[string]logWait{}, perDevice: map[string]int{}}
}

func (l *logWaiters) add(id, device string) (chan wire.LogBatch, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) >= MaxLogWaits {
		return nil, fmt.Errorf("%w: %d at once", ErrLogBusy, MaxLogWaits)
	}
	if l.perDevice[device] >= MaxLogWaitsPerDevice {
		return nil, fmt.Errorf("%w: %d for device %s at once", ErrLogBusy, MaxLogWaitsPerDevice, device)
	}
	ch := make(chan wire.LogBatch, 1)
	l.pending[id] = logWait{device: device, ch: ch}
	l.perDevice[device]++
	return ch, nil
}

func (l *logWaiters) remove(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.pending[id]
	if !ok {
		return
	}
	delete(l.pending, id)
	if l.perDevice[w.device]--; l.perDevice[w.device] <= 0 {
		delete(l.perDevice, w.device)
	}
}

// deliver hands a batch to its waiting request; it reports false when
// nobody waits for it (late, or not asked by this controller).
func (l *logWaiters) deliver(b wire.LogBatch) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.pending[b.ID]
	if !ok || w.device != b.Device {
		return false
	}
	select {
	case w.ch <- b:
	default: // a duplicate (QoS 1 may deliver twice): the first answer stands
	}
	return true
}

// Logs asks a device for its recent log lines and waits for the answer,
// at most LogWait.
func (f *Fleet) Logs(ctx context.Context, device string, req wire.LogRequest) (wire.LogBatch, error) {
	d, err := f.store.Device(ctx, device)
	if err != nil {
		return wire.LogBatch{}, err
	}
	if !d.Online {
		seen := "never seen"
		if !d.LastSeen.IsZero() {
			seen = "last seen " + d.LastSeen.UTC().Format(time.RFC3339)
		}
		return wire.LogBatch{}, fmt.Errorf("logs of %s: %w (%s)", device, ErrOffline, seen)
	}
	var b [12]byte
	rand.Read(b[:])
	req.ID = hex.EncodeToString(b[:])
	if err := req.Validate(); err != nil {
		return wire.LogBatch{}, fmt.Errorf("logs of %s: %w: %w", device, ErrBadRequest, err)
	}
	ch, err := f.logs.add(req.ID, device)
	if err != nil {
		return wire.LogBatch{}, err
	}
	defer f.logs.remove(req.ID)
	payload, err := json.Marshal(req)
	if err != nil {
		return wire.LogBatch{}, fmt.Errorf("logs of %s: %w", device, err)
	}
	ctx, cancel := context.WithTimeout(ctx, LogWait)
	defer cancel()
	if err := f.publish(ctx, wire.DeviceTopic(device, wire.KindLogReq), 1, false, payload); err != nil {
		return wire.LogBatch{}, fmt.Errorf("logs of %s: %w: request not sent: %w", device, ErrNoAnswer, err)
	}
	select {
	case batch := <-ch:
		if len(batch.Lines) == 0 {
			if err := f.moduleOn(ctx, &d, req.Module); err != nil {
				return wire.LogBatch{}, fmt.Errorf("logs of %s: %w", device, err)
			}
		}
		return batch, nil
	case <-ctx.Done():
		return wire.LogBatch{}, fmt.Errorf("logs of %s: %w within %s", device, ErrNoAnswer, LogWait)
	}
}

// handleLogs delivers a device's answer to the request waiting for it.
func (f *Fleet) handleLogs(log logger, id string, payload []byte) {
	var b wire.LogBatch
	if !decode(log, id, payload, &b, &b.Device) {
		return
	}
	if err := b.Validate(); err != nil {
		log.Warn("log batch dropped", "err", err)
		return
	}
	for i := range b.Lines {
		b.Lines[i].Msg = sanitize(b.Lines[i].Msg)
	}
	if !f.logs.deliver(b) {
		log.Debug("log batch dropped: no request waits for it", "id", b.ID)
	}
}

// moduleOn refuses, with ErrNotDeployed, a module (not "": the agent's
// own log) that device d neither holds in its desired state nor reports.
// Logs asks it when a device answered no lines: for a misspelt module
// that looked like a module that logs nothing.
func (f *Fleet) moduleOn(ctx context.Context, d *wire.Device, module string) error {
	if module == "" {
		return nil
	}
	e, err := f.store.DesiredEntry(ctx, d.ID, module)
	if err != nil || e != nil {
		return err
	}
	var has []string
	if d.Status != nil {
		for _, ms := range d.Status.Modules {
			if ms.Name == module {
				return nil
			}
			has = append(has, ms.Name)
		}
	}
	runs := "no module"
	if len(has) > 0 {
		runs = strings.Join(has, ", ")
	}
	return fmt.Errorf("%w: %s is not deployed on %s (it reports %s)", ErrNotDeployed, module, d.ID, runs)
}
