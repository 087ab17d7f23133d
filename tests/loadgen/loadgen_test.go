package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
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
