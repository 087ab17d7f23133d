package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// OrderWriter sends POST /create_order to an order service at a steady
// pace, each with an order id of its own, and records every order the
// service acknowledged (200 {"status":true}). It is how the rollback tests
// check that no confirmed write is lost: every acknowledged id must be in
// GET /orders afterwards, whatever happened in between.
type OrderWriter struct {
	Base  string        // http://host:port of the service
	Every time.Duration // pause between the start of two requests; 25ms if zero
	First int64         // first order id; ids grow by one per request

	mu       sync.Mutex
	acked    []int64
	statuses map[int]int // non-200 answers by status; 0 counts transport errors
	firstErr string
}

// Run writes orders until ctx ends. One request is in flight at a time, on
// a keep-alive connection, as a point-of-sale client would send them.
func (o *OrderWriter) Run(ctx context.Context) {
	every := o.Every
	if every <= 0 {
		every = 25 * time.Millisecond
	}
	client := &http.Client{Timeout: 15 * time.Second}
	defer client.CloseIdleConnections()
	t := time.NewTicker(every)
	defer t.Stop()
	for id := o.First; ; id++ {
		status, err := o.create(ctx, client, id)
		if ctx.Err() != nil {
			return // cut off: neither acknowledged nor failed
		}
		o.mu.Lock()
		switch {
		case err == nil:
			o.acked = append(o.acked, id)
		default:
			if o.statuses == nil {
				o.statuses = map[int]int{}
			}
			o.statuses[status]++
			if o.firstErr == "" {
				o.firstErr = err.Error()
			}
		}
		o.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// create sends one order; err is nil only when the service confirmed it.
func (o *OrderWriter) create(ctx context.Context, client *http.Client, id int64) (int, error) {
	body := fmt.Sprintf(`{"order_id":%d,"product_id":7,"quantity":1,"amount":9.5,"shipping":1.0,"tax":0.5,"shipping_address":"loadgen"}`, id)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.Base+"/create_order", bytes.NewReader([]byte(body)))
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(b, []byte(`{"status":true}`)) {
		return resp.StatusCode, fmt.Errorf("order %d: %d %q", id, resp.StatusCode, b)
	}
	return resp.StatusCode, nil
}

// Acked returns the ids the service acknowledged, in the order sent.
func (o *OrderWriter) Acked() []int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.acked)
}

// Failed returns the answers that were not a confirmation, by status (0:
// transport error), and the first of them.
func (o *OrderWriter) Failed() (map[int]int, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[int]int{}
	for k, v := range o.statuses {
		out[k] = v
	}
	return out, o.firstErr
}

// OrderIDs reads GET /orders of the service at base and returns every
// order_id in it (an order id may appear more than once; null ids are
// skipped).
func OrderIDs(ctx context.Context, base string) ([]int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/orders", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET /orders: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /orders: %d %q", resp.StatusCode, b)
	}
	var orders []struct {
		ID json.Number `json:"order_id"`
	}
	if err := json.Unmarshal(b, &orders); err != nil {
		return nil, fmt.Errorf("GET /orders: %w", err)
	}
	ids := make([]int64, 0, len(orders))
	for _, o := range orders {
		if o.ID == "" {
			continue // null: no id to match
		}
		id, err := strconv.ParseInt(string(o.ID), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("GET /orders: order_id %q: %w", o.ID, err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// Missing returns the ids of acked that are not in have.
func Missing(acked, have []int64) []int64 {
	present := make(map[int64]bool, len(have))
	for _, id := range have {
		present[id] = true
	}
	var out []int64
	for _, id := range acked {
		if !present[id] {
			out = append(out, id)
		}
	}
	return out
}
