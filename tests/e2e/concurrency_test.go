package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentClients: 32 clients create orders and list them at the same
// time through the agent's instance pool; every request succeeds and every
// order is stored exactly once.
func TestConcurrentClients(t *testing.T) {
	_, base := startAgent(t, "sqlite:"+filepath.Join(t.TempDir(), "c.db"), "--pool", "4")
	if status, body := call(t, "GET", base+"/init", ""); status != 200 {
		t.Fatalf("init: %d %s", status, body)
	}
	const clients, perClient = 32, 10
	var wg sync.WaitGroup
	errs := make(chan string, clients*perClient*2)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				id := c*perClient + i + 1
				body := fmt.Sprintf(`{"order_id":%d,"product_id":1,"quantity":1,"amount":1.5,"shipping":0.5,"tax":0.25,"shipping_address":"client %d"}`, id, c)
				if status, resp := call(t, "POST", base+"/create_order", body); status != 200 {
					errs <- fmt.Sprintf("create %d: %d %s", id, status, resp)
				}
				if status, resp := call(t, "GET", base+"/orders", ""); status != 200 || !strings.HasPrefix(resp, "[") {
					errs <- fmt.Sprintf("list: %d %.80s", status, resp)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	_, body := call(t, "GET", base+"/orders", "")
	var got []order
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, o := range got {
		if seen[o.OrderID] {
			t.Errorf("order %d stored twice", o.OrderID)
		}
		seen[o.OrderID] = true
	}
	if len(got) != clients*perClient {
		t.Errorf("stored %d orders, want %d", len(got), clients*perClient)
	}
}

// TestBadRequestsKeepServing sends the agent's HTTP layer bad input and then
// checks a good request still works: oversize body (413), wrong method
// (405), malformed JSON and wrong types (400), unknown path (404).
func TestBadRequestsKeepServing(t *testing.T) {
	_, base := startAgent(t, "sqlite:"+filepath.Join(t.TempDir(), "b.db"), "--body-limit", "1024")
	call(t, "GET", base+"/init", "")
	tests := []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/create_orders", "[" + strings.Repeat(" ", 2048) + "]", 413},
		{"GET", "/create_order", "", 405},
		{"POST", "/create_order", `{"order_id":`, 400},
		{"POST", "/create_order", `{"order_id":"one","product_id":1,"quantity":1,"amount":1,"shipping":1,"tax":1,"shipping_address":"x"}`, 400},
		{"POST", "/create_order", `{"order_id":1,"product_id":1,"quantity":1,"amount":1,"shipping":1,"tax":1,"shipping_address":"` + strings.Repeat("a", 257) + `"}`, 400},
		{"GET", "/delete_order", "", 400},
		{"GET", "/delete_order?id=abc", "", 400},
		{"GET", "/no/such/path", "", 404},
		{"OPTIONS", "/orders", "", 200},
		{"GET", "/orders", "", 200},
	}
	for _, tt := range tests {
		status, body := call(t, tt.method, base+tt.path, tt.body)
		if status != tt.want {
			t.Errorf("%s %s (%.40q) = %d %q, want %d", tt.method, tt.path, tt.body, status, body, tt.want)
		}
	}
}
