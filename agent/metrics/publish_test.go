package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edgeplane/edge/wire"
)

type sent struct {
	at      time.Duration // since the test began
	seq     uint64
	dropped uint64
}

// TestPublisherSchedule: reports every interval, one at once when what
// serves changes (a burst of changes within MinGap makes one), none
// while offline but each counted and carried by the next, Seq counting
// every report made. Time is synctest's: no sleeps.
func TestPublisherSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		began := time.Now()
		var (
			mu      sync.Mutex
			got     []sent
			offline bool
			changed = make(chan struct{})
		)
		p := NewPublisher(NewCollector(Sources{Start: began}), PublisherConfig{
			Interval: 10 * time.Second,
			Publish: func(m *wire.Metrics) error {
				mu.Lock()
				defer mu.Unlock()
				if offline {
					return fmt.Errorf("publish metrics: %w", ErrOffline)
				}
				got = append(got, sent{time.Since(began), m.Seq, m.Agent.Dropped})
				return nil
			},
			Changed: func() <-chan struct{} {
				mu.Lock()
				defer mu.Unlock()
				return changed
			},
		})
		ctx, cancel := context.WithCancel(context.Background())
		go p.Run(ctx)
		change := func() {
			mu.Lock()
			close(changed)
			changed = make(chan struct{})
			mu.Unlock()
		}
		time.Sleep(12 * time.Second) // report at 10s
		change()                     // report at once, 12s
		synctest.Wait()
		time.Sleep(500 * time.Millisecond)
		change() // within MinGap of the last: at 13s
		synctest.Wait()
		change() // the same burst
		time.Sleep(3500 * time.Millisecond)
		mu.Lock()
		offline = true
		mu.Unlock()
		time.Sleep(20 * time.Second) // 20s and 30s: dropped
		mu.Lock()
		offline = false
		mu.Unlock()
		time.Sleep(10 * time.Second) // 40s: carries 2 dropped
		cancel()
		synctest.Wait()

		want := []sent{
			{10 * time.Second, 1, 0},
			{12 * time.Second, 2, 0},
			{13 * time.Second, 3, 0},
			{40 * time.Second, 6, 2},
		}
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("reports\n got %v\nwant %v", got, want)
		}
		if p.Dropped() != 2 {
			t.Errorf("Dropped() = %d, want 2", p.Dropped())
		}
	})
}

// TestPublisherDisabled: interval 0 sends nothing, even on a change.
func TestPublisherDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		ch := make(chan struct{})
		close(ch)
		p := NewPublisher(NewCollector(Sources{}), PublisherConfig{
			Publish: func(*wire.Metrics) error { calls++; return nil },
			Changed: func() <-chan struct{} { return ch },
		})
		done := make(chan struct{})
		go func() { p.Run(context.Background()); close(done) }()
		time.Sleep(time.Hour)
		<-done
		if calls != 0 {
			t.Errorf("%d reports with the interval 0", calls)
		}
	})
}

// TestRejectionsPlacement: a module's rejections go on its serving
// version's entry, or on an entry of their own when nothing of it runs.
func TestRejectionsPlacement(t *testing.T) {
	c := NewCollector(Sources{
		Modules: func(time.Time) []wire.ModuleMetrics {
			return []wire.ModuleMetrics{
				{Name: "orders", Version: "1.0.0", Latency: wire.NewHistogram()},
				{Name: "orders", Version: "1.1.0", Latency: wire.NewHistogram()},
			}
		},
		Serving:    func() map[string]string { return map[string]string{"orders": "1.1.0"} },
		Rejections: func() map[string]uint64 { return map[string]uint64{"orders": 2, "stock": 1} },
	})
	m := c.Collect(time.Time{})
	m.Device = "dev-1"
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range m.Modules {
		got = append(got, fmt.Sprintf("%s@%s:%d", e.Name, e.Version, e.Rejections))
	}
	if want := "[orders@1.0.0:0 orders@1.1.0:2 stock@:1]"; fmt.Sprint(got) != want {
		t.Errorf("got %v, want %s", got, want)
	}
	if m.Agent.RSSBytes <= 0 {
		t.Errorf("agent RSS %d: the collector reads /proc/self", m.Agent.RSSBytes)
	}
}

// BenchmarkReport is the agent's cost of one report: sampling /proc and
// statfs, two module entries, and the JSON encoding that goes on the
// wire (docs/BENCHMARKS.md).
func BenchmarkReport(b *testing.B) {
	mods := []wire.ModuleMetrics{
		{Name: "orders", Version: "1.0.0", Requests: 123456, Responses2xx: 120000, Responses4xx: 3456, Latency: wire.NewHistogram()},
		{Name: "stock", Version: "2.1.0", Requests: 654321, Responses2xx: 654000, Responses5xx: 321, Latency: wire.NewHistogram()},
	}
	c := NewCollector(Sources{
		Start: time.Now(), Agent: wire.AgentMetrics{Version: "1.0.0", Arch: "arm64", Board: "rpi4", Engine: "compiler"},
		DataDir: b.TempDir(),
		Modules: func(time.Time) []wire.ModuleMetrics { return mods },
	})
	var size int
	b.ReportAllocs()
	for b.Loop() {
		m := c.Collect(time.Time{})
		m.Device = "pi-1"
		enc, _ := json.Marshal(&m)
		size = len(enc)
	}
	b.ReportMetric(float64(size), "bytes/report")
}
