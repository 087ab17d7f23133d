package worker

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// nopWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the worker's own wrapper (counting, timing), not a recorder.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

// BenchmarkRequestPath is the worker's wrapper around every request (what
// it adds to the module's handler): docs/BENCHMARKS.md has the figures
// before and after the request metrics.
func BenchmarkRequestPath(b *testing.B) {
	w, err := New(Config{Module: "x", Name: "bench"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	body := []byte("ok")
	h := w.wrap(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		rw.WriteHeader(http.StatusOK)
		rw.Write(body)
	}))
	req := httptest.NewRequest(http.MethodGet, "/orders", nil)
	rw := &nopWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(rw, req)
	}
}

// BenchmarkHeartbeatMetrics is what a worker spends once a second to put
// its metrics in a heartbeat (snapshot and JSON).
func BenchmarkHeartbeatMetrics(b *testing.B) {
	w, err := New(Config{Module: "x", Name: "bench"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		w.reqs.observe(200, time.Duration(i)*time.Microsecond)
	}
	var size int
	b.ReportAllocs()
	for b.Loop() {
		hb := w.Heartbeat()
		hb.Metrics = w.Metrics()
		enc, _ := json.Marshal(hb)
		size = len(enc)
	}
	b.ReportMetric(float64(size), "bytes/beat")
}
