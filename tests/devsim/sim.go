// Package devsim simulates many edge agents in one process, speaking the
// real protocol to a real controller: each device is registered through
// the controller's API, authenticates to the broker with its own
// credentials (client id = username = device id), leaves a retained
// Status{Online: false} as its Last Will, publishes its retained status,
// subscribes to its desired state and log requests, acts on desired states
// (deployment events, then a status naming the serving version), answers
// log requests from a ring of lines, and publishes a wire.Metrics report
// every interval with counters that grow like a small HTTP service's
// (requests at a configured rate, a share of 5xx, a latency histogram with
// the fixed buckets, worker memory and CPU). Module bytes are fetched in
// chunks over MQTT with Config.FetchBlobs (fetch.go); without it a
// simulated device "has" every blob.
//
// A device costs one TCP connection, one reader goroutine and a few
// kilobytes (the MQTT client is a minimal one over mochi-mqtt's packet
// codec), so one process holds thousands: tests/ingestbench uses it to
// find how many devices the controller ingests, and later scale work
// reuses it. Tests use Device's Publish* methods for reports with exact
// values.
package devsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edge/wire"
)

// Config configures a simulation.
type Config struct {
	Broker   string        // host:port of the MQTT broker
	Interval time.Duration // between metrics reports (10 s)
	// RequestRate is each serving module's simulated requests per second
	// (5); ErrorRatio the share answered 5xx (0.01).
	RequestRate float64
	ErrorRatio  float64
	Labels      map[string]string
	Board       string // "sim"
	Arch        string // "amd64"
	// AgentVersion is what the devices report (0.0.0-sim).
	AgentVersion string
	// Outcome decides how a device's deployment of m ends (running by
	// default): a State* constant and a reason.
	Outcome func(device string, m *wire.Manifest) (state, reason string)
	// FetchBlobs makes every deployment fetch the module's chunks over
	// MQTT first, as an agent does (fetch.go); otherwise a device "has"
	// every blob.
	FetchBlobs bool
	Logger     *slog.Logger
}

func (c *Config) defaults() {
	if c.Interval <= 0 {
		c.Interval = 10 * time.Second
	}
	if c.RequestRate == 0 {
		c.RequestRate = 5
	}
	if c.ErrorRatio == 0 {
		c.ErrorRatio = 0.01
	}
	if c.Board == "" {
		c.Board = "sim"
	}
	if c.Arch == "" {
		c.Arch = "amd64"
	}
	if c.AgentVersion == "" {
		c.AgentVersion = "0.0.0-sim"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Credentials are a device's broker credentials.
type Credentials = wire.DeviceCredentials

// Sim is a set of simulated devices.
type Sim struct {
	cfg Config

	mu      sync.Mutex
	devices []*Device

	published, failed atomic.Uint64
}

// Stats count what the simulation published.
type Stats struct {
	Devices   int
	Published uint64 // metrics reports written to the broker
	Failed    uint64 // metrics reports that could not be written
	Fetched   int64  // module bytes received in chunks (Config.FetchBlobs)
}

// New returns a simulation; Add gives it devices.
func New(cfg Config) *Sim {
	cfg.defaults()
	return &Sim{cfg: cfg}
}

// Add adds devices with their credentials (not connected yet).
func (s *Sim) Add(creds ...Credentials) []*Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Device
	for _, c := range creds {
		d := newDevice(s, c.ID, c.Password, uint64(len(s.devices)+1))
		s.devices = append(s.devices, d)
		out = append(out, d)
	}
	return out
}

// Devices returns every device.
func (s *Sim) Devices() []*Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Device(nil), s.devices...)
}

// Connect connects devs, at most parallel at once; it returns the first
// error after trying them all.
func (s *Sim) Connect(ctx context.Context, devs []*Device, parallel int) error {
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, d := range devs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := d.Connect(ctx); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("device %s: %w", d.ID, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// Run makes every device publish a metrics report each Interval, spread
// evenly over the interval, until ctx is done. Devices added while it
// runs join at the next round.
func (s *Sim) Run(ctx context.Context) {
	last := map[*Device]time.Time{}
	for round := 0; ; round++ {
		devs := s.Devices()
		start := time.Now()
		for i, d := range devs {
			due := start.Add(time.Duration(int64(s.cfg.Interval) * int64(i) / int64(max(len(devs), 1))))
			if wait := time.Until(due); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
			elapsed := s.cfg.Interval
			if t, ok := last[d]; ok {
				elapsed = time.Since(t)
			}
			last[d] = time.Now()
			if err := d.Tick(ctx, elapsed); err != nil {
				s.failed.Add(1)
				if ctx.Err() != nil {
					return
				}
			} else {
				s.published.Add(1)
			}
		}
		if wait := time.Until(start.Add(s.cfg.Interval)); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// Stats returns what was published so far.
func (s *Sim) Stats() Stats {
	st := Stats{Published: s.published.Load(), Failed: s.failed.Load()}
	for _, d := range s.Devices() {
		st.Devices++
		d.mu.Lock()
		st.Fetched += d.fetched
		d.mu.Unlock()
	}
	return st
}

// Close disconnects every device cleanly.
func (s *Sim) Close() {
	for _, d := range s.Devices() {
		d.Close()
	}
}

// Register registers devices with the controller at control (its HTTP
// API, http://host:port) with an admin token, at most parallel at once,
// and returns their credentials in order.
func Register(ctx context.Context, control, token string, ids []string, parallel int) ([]Credentials, error) {
	out := make([]Credentials, len(ids))
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i], errs[i] = register(ctx, control, token, id)
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func register(ctx context.Context, control, token, id string) (Credentials, error) {
	var cr Credentials
	body, _ := json.Marshal(wire.DeviceCredentialsRequest{ID: id})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, control+wire.APIPrefix+"/devices", bytes.NewReader(body))
	if err != nil {
		return cr, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return cr, fmt.Errorf("register %s: %w", id, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return cr, fmt.Errorf("register %s: %w", id, err)
	}
	if resp.StatusCode != http.StatusCreated {
		return cr, fmt.Errorf("register %s: %s: %s", id, resp.Status, b)
	}
	if err := wire.Decode(b, &cr); err != nil {
		return cr, fmt.Errorf("register %s: %w", id, err)
	}
	return cr, nil
}
