//go:build !wasip1

package sdk

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestServeMuxMatchesNetHTTP registers the same exact-path patterns on
// net/http's ServeMux and on this package's, sends both every method on
// every path, and requires the same status and Allow header: HEAD answered
// by a GET pattern, 405 with the methods that would match, 404.
func TestServeMuxMatchesNetHTTP(t *testing.T) {
	patterns := []string{
		"GET /get", "POST /post", "GET /both", "POST /both", "/any",
		"PUT /put", "HEAD /head", "GET /gethead", "HEAD /gethead", "DELETE /del",
	}
	std := http.NewServeMux()
	ours := NewServeMux()
	for _, p := range patterns {
		p := p
		std.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(p + " " + r.Method)) })
		ours.HandleFunc(p, func(w ResponseWriter, r *Request) { w.Write([]byte(p + " " + r.Method)) })
	}
	h := NativeHandler(ours)
	for _, path := range []string{"/get", "/post", "/both", "/any", "/put", "/head", "/gethead", "/del", "/none"} {
		for _, method := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
			want := httptest.NewRecorder()
			std.ServeHTTP(want, httptest.NewRequest(method, path, nil))
			got := httptest.NewRecorder()
			h.ServeHTTP(got, httptest.NewRequest(method, path, nil))
			if got.Code != want.Code || got.Header().Get("Allow") != want.Header().Get("Allow") {
				t.Errorf("%s %s: got %d Allow %q, net/http %d Allow %q",
					method, path, got.Code, got.Header().Get("Allow"), want.Code, want.Header().Get("Allow"))
			}
			if want.Code == 200 && got.Body.String() != want.Body.String() {
				t.Errorf("%s %s: handled by %q, net/http by %q", method, path, got.Body, want.Body)
			}
		}
	}
}

// TestServeMuxHead: HEAD on a GET route runs the GET handler; through
// net/http the client gets GET's headers, Content-Length included, and no
// body.
func TestServeMuxHead(t *testing.T) {
	m := NewServeMux()
	m.HandleFunc("GET /orders", func(w ResponseWriter, r *Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`[{"order_id":1}]`))
	})
	srv := httptest.NewServer(NativeHandler(m))
	defer srv.Close()
	resp, err := http.Head(srv.URL + "/orders")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(`[{"order_id":1}]`)) ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("HEAD /orders = %d, Content-Length %d, Content-Type %q; want 200, %d, application/json",
			resp.StatusCode, resp.ContentLength, resp.Header.Get("Content-Type"), len(`[{"order_id":1}]`))
	}
}
