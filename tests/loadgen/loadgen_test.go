package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	ok := Run(context.Background(), Config{Method: "GET", URL: srv.URL, Concurrency: 4, Duration: 200 * time.Millisecond})
	if ok.Requests == 0 || ok.Failures != 0 || ok.P50 <= 0 || ok.P99 < ok.P50 {
		t.Errorf("good server: %+v", ok)
	}
	bad := Run(context.Background(), Config{Method: "GET", URL: srv.URL + "/bad", Concurrency: 2, Duration: 100 * time.Millisecond})
	if bad.Failures == 0 || bad.FirstErr == nil || bad.Requests != 0 {
		t.Errorf("failing server: %+v, want failures and no samples", bad)
	}
}

// TestOrderWriter: against a service that confirms odd ids, fails even ones
// with 500 and lists what it confirmed plus a null id, the writer records
// exactly the confirmed ids and Missing finds an id the list lost.
func TestOrderWriter(t *testing.T) {
	var (
		mu    sync.Mutex
		saved []int64
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/create_order":
			var o struct {
				ID int64 `json:"order_id"`
			}
			if err := json.NewDecoder(r.Body).Decode(&o); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			if o.ID%2 == 0 {
				http.Error(w, `{"error":"no"}`, 500)
				return
			}
			saved = append(saved, o.ID)
			w.Write([]byte(`{"status":true}`))
		case "/orders":
			b := []byte(`[{"order_id":null}`)
			for _, id := range saved {
				b = fmt.Appendf(b, `,{"order_id":%d}`, id)
			}
			w.Write(append(b, ']'))
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	ow := &OrderWriter{Base: srv.URL, Every: 5 * time.Millisecond, First: 1}
	ow.Run(ctx)
	acked := ow.Acked()
	failed, first := ow.Failed()
	if len(acked) < 2 || failed[500] < 2 || first == "" {
		t.Fatalf("acked %v, failed %v (%q): want several of each", acked, failed, first)
	}
	for _, id := range acked {
		if id%2 == 0 {
			t.Errorf("even id %d recorded as acknowledged", id)
		}
	}
	have, err := OrderIDs(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := Missing(acked, have); len(got) != 0 {
		t.Errorf("Missing = %v, want none", got)
	}
	if got := Missing(append(acked, 1001), have); len(got) != 1 || got[0] != 1001 {
		t.Errorf("Missing with an unknown id = %v, want [1001]", got)
	}
}
