package wasmhost

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestHandlerABIViolation: a module whose edge_alloc refuses the request
// (returns 0) is answered 500 naming the export, and the next request is
// served by a fresh instance.
func TestHandlerABIViolation(t *testing.T) {
	m := load(t, newTestEngine(t, EngineCompiler), "echo", Config{PoolSize: 1})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	for _, tt := range []struct {
		body       string
		wantStatus int
		wantBody   string
	}{
		{"\x08\x01", 200, "\x08\x01"}, // later edge_alloc calls return 0
		{"refused", 500, `{"error":"module failed: edge_alloc returned 0 (the module refused the request)","writes_committed":"no"}` + "\n"},
		{"after", 200, "after"},
		{"\x09", 500, `{"error":"module failed: edge_handle returned a null pointer","writes_committed":"no"}` + "\n"},
		{"\x06", 500, `{"error":"module failed: edge_handle returned a pointer outside its memory","writes_committed":"no"}` + "\n"},
	} {
		resp, err := http.Post(srv.URL+"/", "text/plain", strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.wantStatus || string(got) != tt.wantBody {
			t.Errorf("POST %q = %d %q, want %d %q", tt.body, resp.StatusCode, got, tt.wantStatus, tt.wantBody)
		}
	}
}

func TestHandler(t *testing.T) {
	m := load(t, newTestEngine(t, EngineCompiler), "echo", Config{PoolSize: 2,
		Limits: Limits{MaxRequestBody: 100, Deadline: 200 * time.Millisecond}})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	tests := []struct {
		name       string
		body       string
		chunked    bool
		wantStatus int
		wantBody   string // exact, or for errors the JSON "error" field
	}{
		{"echo", "hello", false, 200, "hello"},
		{"empty", "", false, 200, ""},
		{"too large", strings.Repeat("x", 101), false, 413, "request body too large: 101 bytes, over the limit of 100 bytes"},
		{"too large chunked", strings.Repeat("x", 101), true, 413, "request body too large: over the limit of 100 bytes"},
		{"trap", "\x01", false, 500, "module failed"},
		{"after trap", "still here", false, 200, "still here"},
		{"loop", "\x02", false, 504, "module did not answer in time"},
		{"bad frame", "\x07", false, 502, "module answered with an invalid response"},
	}
	for _, tt := range tests {
		var body io.Reader = strings.NewReader(tt.body)
		if tt.chunked {
			body = io.MultiReader(body) // unknown length: sent chunked
		}
		req, _ := http.NewRequest("POST", srv.URL+"/path?q=1", body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.wantStatus {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, resp.StatusCode, tt.wantStatus, got)
			continue
		}
		if tt.wantStatus == 200 {
			if string(got) != tt.wantBody || resp.Header.Get("Server") != "edge-agent" || resp.Header.Get("Date") == "" {
				t.Errorf("%s: body %q, headers %v", tt.name, got, resp.Header)
			}
			continue
		}
		var e struct{ Error string }
		if err := json.Unmarshal(got, &e); err != nil || e.Error != tt.wantBody {
			t.Errorf("%s: error body %q, want error %q", tt.name, got, tt.wantBody)
		}
	}
}

// TestHandlerHeaders: the guest cannot set hop-by-hop headers, a wrong
// Content-Length, invalid names or values with line breaks.
func TestHandlerHeaders(t *testing.T) {
	m := load(t, newTestEngine(t, EngineInterpreter), "echo", Config{PoolSize: 1})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/", strings.NewReader("\x04")))
	h := rec.Result().Header
	if rec.Code != 201 || rec.Body.String() != "hi" {
		t.Errorf("got %d %q, want 201 hi", rec.Code, rec.Body)
	}
	want := map[string]string{"X-Guest": "yes", "Content-Length": "2", "Connection": "", "Transfer-Encoding": "",
		"X-Split": "", "Injected": "", "Bad Name": ""}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

func TestHandlerUnavailable(t *testing.T) {
	settings := map[string]string{}
	m := load(t, newTestEngine(t, EngineInterpreter), "initfail", Config{PoolSize: 1, Settings: settings})
	settings["fail"] = "1"
	h := m.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 {
		t.Fatalf("trap: %d", rec.Code)
	}
	waitFor(t, "503", func() bool {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		return rec.Code == 503
	})
}

// TestDefaultDeadlinePerEngine: with no deadline configured, the
// interpreter (30-50× slower) gets a longer one than the compiler.
func TestDefaultDeadlinePerEngine(t *testing.T) {
	for kind, want := range map[EngineKind]time.Duration{EngineCompiler: DefaultDeadline, EngineInterpreter: DefaultInterpreterDeadline} {
		m := load(t, newTestEngine(t, kind), "echo", Config{PoolSize: 1})
		if got := m.Limits().Deadline; got != want {
			t.Errorf("%s: deadline %s, want %s", kind, got, want)
		}
		if got := DefaultDeadlineFor(kind); got != want {
			t.Errorf("DefaultDeadlineFor(%s) = %s, want %s", kind, got, want)
		}
	}
}
