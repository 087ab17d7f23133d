// Package loadgen is a small closed-loop HTTP load generator for the
// benchmarks: C workers, each with its own keep-alive connection, send
// requests back to back for a fixed duration and record every latency, so
// percentiles are exact rather than estimated from buckets.
//
// It exists so `make bench` needs nothing beyond the Go toolchain; it runs
// on the same 2-core machine as the servers it measures, so it compares
// servers measured in one run, never absolute numbers across machines.
package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Config describes one load run.
type Config struct {
	Method      string
	URL         string
	Body        []byte
	Concurrency int
	Duration    time.Duration
	// Warmup is run first and not recorded.
	Warmup time.Duration
	// WantStatus is the status every answer must have (default 200).
	WantStatus int
}

// Result summarises a run.
type Result struct {
	Requests  int
	Failures  int // transport errors and unexpected statuses
	Elapsed   time.Duration
	PerSecond float64
	P50, P99  time.Duration
	Max       time.Duration
	FirstErr  error
}

func (r Result) String() string {
	return fmt.Sprintf("%.0f req/s, p50 %s, p99 %s, %d requests, %d failures",
		r.PerSecond, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Requests, r.Failures)
}

// Run runs the load described by c.
func Run(ctx context.Context, c Config) Result {
	if c.Concurrency <= 0 {
		c.Concurrency = 1
	}
	if c.WantStatus == 0 {
		c.WantStatus = http.StatusOK
	}
	if c.Warmup > 0 {
		w := c
		w.Warmup = 0
		w.Duration = c.Warmup
		run(ctx, w)
	}
	return run(ctx, c)
}

type worker struct {
	lat      []time.Duration
	failures int
	err      error
}

func run(ctx context.Context, c Config) Result {
	ctx, cancel := context.WithTimeout(ctx, c.Duration)
	defer cancel()
	workers := make([]worker, c.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range workers {
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
			defer client.CloseIdleConnections()
			w.lat = make([]time.Duration, 0, 1<<14)
			for ctx.Err() == nil {
				t0 := time.Now()
				err := do(ctx, client, c)
				if ctx.Err() != nil {
					return // cut off by the end of the run: not a sample
				}
				if err != nil {
					w.failures++
					if w.err == nil {
						w.err = err
					}
					continue
				}
				w.lat = append(w.lat, time.Since(t0))
			}
		}(&workers[i])
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	r := Result{Elapsed: elapsed}
	for _, w := range workers {
		all = append(all, w.lat...)
		r.Failures += w.failures
		if r.FirstErr == nil {
			r.FirstErr = w.err
		}
	}
	slices.Sort(all)
	r.Requests = len(all)
	r.PerSecond = float64(len(all)) / elapsed.Seconds()
	if len(all) > 0 {
		r.P50 = all[len(all)*50/100]
		r.P99 = all[len(all)*99/100]
		r.Max = all[len(all)-1]
	}
	return r
}

func do(ctx context.Context, client *http.Client, c Config) error {
	var body io.Reader
	if c.Body != nil {
		body = bytes.NewReader(c.Body)
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, c.URL, body)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != c.WantStatus {
		return fmt.Errorf("%s %s: status %d, want %d", c.Method, c.URL, resp.StatusCode, c.WantStatus)
	}
	return nil
}
