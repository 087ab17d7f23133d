package wire

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestHistogramObserve(t *testing.T) {
	h := NewHistogram()
	for _, d := range []time.Duration{
		0,                      // first bucket
		500 * time.Microsecond, // upper-inclusive: still the first
		501 * time.Microsecond, // second
		10 * time.Second,       // last bound
		time.Minute,            // overflow
	} {
		h.Observe(d)
	}
	want := map[int]uint64{0: 2, 1: 1, len(LatencyBuckets) - 1: 1, len(LatencyBuckets): 1}
	for i, c := range h.Counts {
		if c != want[i] {
			t.Errorf("bucket %d: got %d, want %d", i, c, want[i])
		}
	}
	if got := h.Count(); got != 5 {
		t.Errorf("count: got %d, want 5", got)
	}
	if got, want := h.Sum, 0.0005+0.000501+10+60; math.Abs(got-want) > 1e-9 {
		t.Errorf("sum: got %v, want %v", got, want)
	}
}

func TestHistogramQuantile(t *testing.T) {
	h := NewHistogram()
	if got := h.Quantile(0.99); got != 0 {
		t.Errorf("empty: got %v, want 0", got)
	}
	// 100 observations in (0.005, 0.01]: the median interpolates to the
	// middle of that bucket.
	for range 100 {
		h.Observe(8 * time.Millisecond)
	}
	if got := h.Quantile(0.5); math.Abs(got-0.0075) > 1e-9 {
		t.Errorf("p50: got %v, want 0.0075", got)
	}
	o := NewHistogram()
	o.Observe(time.Hour)
	h.Add(o)
	if got := h.Quantile(1); got != 10 {
		t.Errorf("p100 with an overflow: got %v, want the highest bound 10", got)
	}
}

func TestMetricsValidate(t *testing.T) {
	good := func() Metrics {
		return Metrics{Device: "pi-1", Modules: []ModuleMetrics{{Name: "orders", Version: "1.0.0", Latency: NewHistogram()}}}
	}
	m := good()
	if err := m.Validate(); err != nil {
		t.Fatalf("good report: %v", err)
	}
	bad := map[string]func(*Metrics){
		"bad device id":    func(m *Metrics) { m.Device = "../x" },
		"short histogram":  func(m *Metrics) { m.Modules[0].Latency.Counts = []uint64{1} },
		"negative sum":     func(m *Metrics) { m.Modules[0].Latency.Sum = -1 },
		"NaN sum":          func(m *Metrics) { m.Modules[0].Latency.Sum = math.NaN() },
		"bad module name":  func(m *Metrics) { m.Modules[0].Name = "" },
		"too many modules": func(m *Metrics) { m.Modules = make([]ModuleMetrics, 2*MaxModules+1) },
	}
	for name, spoil := range bad {
		m := good()
		spoil(&m)
		if err := m.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	m = good()
	m.Modules[0].Latency.Counts = nil
	if err := m.Validate(); !errors.Is(err, ErrHistogram) {
		t.Errorf("missing histogram: got %v, want ErrHistogram", err)
	}
}
