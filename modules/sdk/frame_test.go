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

// TestFrameServerBuffers checks that a warm server reuses its response
// buffer, and gives each request a buffer of its own: the request's
// strings and body are views of it.
func TestFrameServerBuffers(t *testing.T) {
	s := &frameServer{h: testMux()}
	req := &abi.Request{Method: "POST", URI: "/hello", Body: []byte(strings.Repeat("x", 1000))}
	roundTrip(t, s, req)
	respPtr := &s.respBuf[:1][0]
	allocs := testing.AllocsPerRun(100, func() { roundTrip(t, s, req) })
	if &s.respBuf[:1][0] != respPtr {
		t.Errorf("response buffer was reallocated between requests")
	}
	t.Logf("allocations per request (frame decode, request, handler): %.0f", allocs)
	if a, b := s.alloc(10), s.alloc(10); &a[0] == &b[0] {
		t.Errorf("alloc returned the same buffer twice")
	}
	if s.handle(nil); s.reqBuf != nil {
		t.Errorf("the server still holds the request buffer after handle")
	}
	if got := s.alloc(-1); got != nil {
		t.Errorf("alloc(-1) = %d bytes, want nil", len(got))
	}
	if got := s.alloc(maxRequest + 1); got != nil {
		t.Errorf("alloc(maxRequest+1) = %d bytes, want nil", len(got))
	}
}

// TestRequestOutlivesCall keeps every Request a handler was given and
// checks that later requests leave them as they were, as net/http's
// are: a handler may keep a request, its header or body past its return
// (a goroutine, a cache), and the guest must not hand the same memory to
// the next request.
func TestRequestOutlivesCall(t *testing.T) {
	var kept []*Request
	s := &frameServer{h: HandlerFunc(func(w ResponseWriter, r *Request) { kept = append(kept, r) })}
	reqs := []abi.Request{
		{Method: "POST", URI: "/a?x=1", RemoteAddr: "10.0.0.1:1", Header: []abi.Header{{Name: "Host", Value: "h1"}, {Name: "X-A", Value: "1"}, {Name: "X-A", Value: "2"}}, Body: []byte("first")},
		{Method: "PUT", URI: "/bb?y=22", RemoteAddr: "10.0.0.2:2", Header: []abi.Header{{Name: "Host", Value: "h2"}, {Name: "X-B", Value: "3"}}, Body: []byte("second body")},
		{Method: "GET", URI: "/c", RemoteAddr: "10.0.0.3:3", Header: []abi.Header{{Name: "Host", Value: "h3"}}},
	}
	for i := range reqs {
		roundTrip(t, s, &reqs[i])
	}
	if len(kept) != len(reqs) {
		t.Fatalf("handler saw %d requests, want %d", len(kept), len(reqs))
	}
	for i, r := range kept {
		w := &reqs[i]
		if r.Method != w.Method || r.RequestURI != w.URI || r.RemoteAddr != w.RemoteAddr || string(r.Body) != string(w.Body) || r.Host != w.Header[0].Value {
			t.Errorf("request %d later reads %s %s from %s host %s body %q, want %s %s from %s host %s body %q",
				i, r.Method, r.RequestURI, r.RemoteAddr, r.Host, r.Body, w.Method, w.URI, w.RemoteAddr, w.Header[0].Value, w.Body)
		}
		for _, f := range w.Header[1:] {
			if got := r.Header.Values(f.Name); len(got) == 0 {
				t.Errorf("request %d lost header %s", i, f.Name)
			}
		}
	}
	if got := kept[0].Header.Values("X-A"); len(got) != 2 || got[0] != "1" || got[1] != "2" {
		t.Errorf("request 0 X-A = %q, want [1 2]", got)
	}
	// A handler that adds a value must not write into a neighbour's.
	kept[1].Header.Add("X-B", "4")
	if got := kept[1].Header.Values("X-B"); len(got) != 2 || got[0] != "3" || got[1] != "4" {
		t.Errorf("X-B after Add = %q, want [3 4]", got)
	}
}

// TestHeaderOf checks the request header built from frame fields: names
// made canonical, repeated names gathered (adjacent or not), values in
// order.
func TestHeaderOf(t *testing.T) {
	h := headerOf([]abi.Header{
		{Name: "Host", Value: "h"}, {Name: "accept", Value: "a"}, {Name: "X-Y", Value: "1"},
		{Name: "X-Y", Value: "2"}, {Name: "Accept", Value: "b"}, {Name: "bad name", Value: "c"},
	})
	want := map[string][]string{"Host": {"h"}, "Accept": {"a", "b"}, "X-Y": {"1", "2"}, "bad name": {"c"}}
	if len(h) != len(want) {
		t.Fatalf("header %v, want %v", h, want)
	}
	for k, v := range want {
		if got := h[k]; strings.Join(got, ",") != strings.Join(v, ",") {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
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
