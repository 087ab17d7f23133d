package sdk

import (
	"errors"
	"strings"
	"testing"

	"github.com/edgeplane/edge/modules/abi"
)

func testMux() *ServeMux {
	m := NewServeMux()
	m.HandleFunc("GET /hello", func(w ResponseWriter, r *Request) {
		w.Header().Set("content-type", "text/plain")
		w.Header().Add("X-Multi", "b")
		w.Header().Add("X-Multi", "a")
		w.Write([]byte("hello " + r.URL.Query().Get("name") + " from " + r.RemoteAddr + " via " + r.Host))
	})
	m.HandleFunc("POST /hello", func(w ResponseWriter, r *Request) {
		w.WriteHeader(201)
		w.Write(r.Body)
	})
	m.HandleFunc("/panic", func(w ResponseWriter, r *Request) {
		w.Write([]byte("partial"))
		panic("boom")
	})
	return m
}

// roundTrip passes req through the frame server as the host would.
func roundTrip(t *testing.T, s *frameServer, req *abi.Request) abi.Response {
	t.Helper()
	frame := abi.AppendRequest(nil, req)
	buf := s.alloc(len(frame))
	if len(buf) < len(frame) {
		t.Fatalf("alloc(%d) returned %d bytes", len(frame), len(buf))
	}
	n := copy(buf, frame)
	resp, err := abi.DecodeResponse(s.handle(buf[:n]))
	if err != nil {
		t.Fatalf("%s %s: decode response frame: %v", req.Method, req.URI, err)
	}
	return resp
}

func TestFrameServer(t *testing.T) {
	s := &frameServer{h: testMux()}
	tests := []struct {
		name       string
		req        abi.Request
		wantStatus int
		wantBody   string
		wantHeader []abi.Header
	}{
		{"get", abi.Request{Method: "GET", URI: "/hello?name=a%20b", RemoteAddr: "10.0.0.1:5", Header: []abi.Header{{Name: "host", Value: "example"}}},
			200, "hello a b from 10.0.0.1:5 via example",
			[]abi.Header{{Name: "Content-Type", Value: "text/plain"}, {Name: "X-Multi", Value: "b"}, {Name: "X-Multi", Value: "a"}}},
		{"post echoes body", abi.Request{Method: "POST", URI: "/hello", Body: []byte("payload")}, 201, "payload", nil},
		{"wrong method", abi.Request{Method: "PUT", URI: "/hello"}, 405, "405 method not allowed\n",
			[]abi.Header{{Name: "Allow", Value: "GET, HEAD, POST"}, {Name: "Content-Type", Value: "text/plain; charset=utf-8"}}},
		{"unknown path", abi.Request{Method: "GET", URI: "/nope"}, 404, "404 page not found\n", nil},
		{"panic becomes 500", abi.Request{Method: "GET", URI: "/panic"}, 500, "internal server error\n", nil},
		{"bad escape in URI", abi.Request{Method: "GET", URI: "/hello%zz"}, 400, "malformed request URI\n", nil},
		{"still serving after a panic", abi.Request{Method: "POST", URI: "/hello", Body: []byte("again")}, 201, "again", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := roundTrip(t, s, &tt.req)
			if resp.Status != tt.wantStatus || string(resp.Body) != tt.wantBody {
				t.Fatalf("got %d %q, want %d %q", resp.Status, resp.Body, tt.wantStatus, tt.wantBody)
			}
			if tt.wantHeader != nil && !equalHeaders(resp.Header, tt.wantHeader) {
				t.Fatalf("header %v, want %v", resp.Header, tt.wantHeader)
			}
		})
	}
}

func equalHeaders(a, b []abi.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFrameServerMalformedFrame(t *testing.T) {
	s := &frameServer{h: testMux()}
	for _, frame := range [][]byte{nil, {1, 2, 3}, append(abi.AppendRequest(nil, &abi.Request{Method: "GET", URI: "/hello"}), 0)} {
		resp, err := abi.DecodeResponse(s.handle(frame))
		if err != nil || resp.Status != 500 {
			t.Errorf("handle(%x) = %d, %v; want a 500 response frame", frame, resp.Status, err)
		}
	}
}

// TestFrameServerReusesBuffers checks that a warm server does not grow:
// the same request buffer and response buffer serve every request.
func TestFrameServerReusesBuffers(t *testing.T) {
	s := &frameServer{h: testMux()}
	req := &abi.Request{Method: "POST", URI: "/hello", Body: []byte(strings.Repeat("x", 1000))}
	roundTrip(t, s, req)
	reqPtr, respPtr := &s.alloc(1)[0], &s.respBuf[:1][0]
	allocs := testing.AllocsPerRun(100, func() { roundTrip(t, s, req) })
	if &s.alloc(1)[0] != reqPtr || &s.respBuf[:1][0] != respPtr {
		t.Errorf("buffers were reallocated between requests")
	}
	t.Logf("allocations per request (frame decode, request, handler): %.0f", allocs)
	if got := s.alloc(-1); got != nil {
		t.Errorf("alloc(-1) = %d bytes, want nil", len(got))
	}
	if got := s.alloc(maxRequest + 1); got != nil {
		t.Errorf("alloc(maxRequest+1) = %d bytes, want nil", len(got))
	}
	if got := len(s.alloc(initialBuffer * 3)); got < initialBuffer*3 {
		t.Errorf("alloc(%d) = %d bytes", initialBuffer*3, got)
	}
}

func TestHostErrorIs(t *testing.T) {
	for code, want := range codeErrors {
		err := error(&HostError{Op: "sql", Code: code, Message: "x"})
		if !errors.Is(err, want) || !errors.Is(err, &abi.Error{Code: code}) {
			t.Errorf("code %v: errors.Is(%v, %v) = false", code, err, want)
		}
		if code != abi.CodeUnavailable && errors.Is(err, ErrUnavailable) {
			t.Errorf("code %v matches ErrUnavailable", code)
		}
		if got, wantU := IsUnavailable(err), code == abi.CodeUnavailable || code == abi.CodeTimeout; got != wantU {
			t.Errorf("IsUnavailable(code %v) = %v, want %v", code, got, wantU)
		}
	}
}
