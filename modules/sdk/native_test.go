//go:build !wasip1

package sdk

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestNativeHandler(t *testing.T) {
	h := NativeHandler(testMux())
	tests := []struct {
		name, method, target, body string
		wantStatus                 int
		wantBody                   string
	}{
		{"get with query", "GET", "/hello?name=x", "", 200, "hello x from 192.0.2.1:1234 via example.com"},
		{"post body", "POST", "/hello", "abc", 201, "abc"},
		{"panic becomes 500, partial body dropped", "GET", "/panic", "", 500, "internal server error\n"},
		{"body over the limit", "POST", "/hello", strings.Repeat("x", MaxNativeBody+1), 413,
			`{"error":"request body too large: 1048577 bytes, over the limit of 1048576 bytes"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body)))
			if rec.Code != tt.wantStatus || rec.Body.String() != tt.wantBody {
				t.Fatalf("got %d %q, want %d %q", rec.Code, rec.Body.String(), tt.wantStatus, tt.wantBody)
			}
		})
	}
}
