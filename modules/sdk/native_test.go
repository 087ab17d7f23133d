//go:build !wasip1

package sdk

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/modules/abi"
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

// TestNativeRequestTargets sends every form of request target on the wire
// to NativeHandler behind net/http, and the target the agent hands a guest
// for it (agent/wasmhost: the request's URL.RequestURI()) to the guest's
// frame server, and requires the handler to see the same request in both:
// method, path, raw path, query, RequestURI, Host. Before, the native
// build used hr.URL.Path, empty for an absolute-form target without a
// path and for a CONNECT, and answered 404 where the agent's module saw
// "/".
func TestNativeRequestTargets(t *testing.T) {
	seen := HandlerFunc(func(w ResponseWriter, r *Request) {
		w.Write([]byte(strings.Join([]string{r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery,
			r.RequestURI, r.Host, r.Header.Get("Host")}, "|")))
	})
	srv := httptest.NewServer(NativeHandler(seen))
	defer srv.Close()
	tests := []struct {
		name, line string // the request line sent (with "Host: h")
		// The target and the Host header the agent hands the guest:
		// net/http's r.Host is the authority of a target that has one.
		agentURI, agentHost string
		status              int
		body                string // what the handler saw
	}{
		{"origin-form", "GET /a%20b?x=1 HTTP/1.1", "/a%20b?x=1", "h", 200, "GET|/a b|/a%20b|x=1|/a%20b?x=1|h|h"},
		{"origin-form, empty query", "GET /a? HTTP/1.1", "/a?", "h", 200, "GET|/a|/a||/a?|h|h"},
		{"origin-form, two slashes", "GET //a HTTP/1.1", "//a", "h", 200, "GET|//a|//a||//a|h|h"},
		{"origin-form, raw UTF-8", "GET /\xc3\xa4 HTTP/1.1", "/%C3%A4", "h", 200, "GET|/ä|/%C3%A4||/%C3%A4|h|h"},
		{"absolute-form", "GET http://example.com/a?x=1 HTTP/1.1", "/a?x=1", "example.com", 200, "GET|/a|/a|x=1|/a?x=1|example.com|example.com"},
		{"absolute-form without a path, with a query", "GET http://example.com?x=1 HTTP/1.1", "/?x=1", "example.com", 200, "GET|/|/|x=1|/?x=1|example.com|example.com"},
		{"absolute-form without a path", "GET http://example.com HTTP/1.1", "/", "example.com", 200, "GET|/|/||/|example.com|example.com"},
		{"absolute-form, opaque", "GET http:a HTTP/1.1", "a", "h", 400, "malformed request URI\n"},
		{"asterisk-form", "GET * HTTP/1.1", "*", "h", 200, "GET|*|*||*|h|h"},
		{"authority-form", "CONNECT example.com:443 HTTP/1.1", "/", "example.com:443", 200, "CONNECT|/|/||/|example.com:443|example.com:443"},
		// Answered by net/http before any handler, in both builds.
		{"asterisk-form OPTIONS", "OPTIONS * HTTP/1.1", "", "", 200, ""},
		{"bad escape", "GET /%zz HTTP/1.1", "", "", 400, "400 Bad Request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := rawExchange(t, srv.Listener.Addr().String(), tt.line+"\r\nHost: h\r\n\r\n")
			if status != tt.status || body != tt.body {
				t.Errorf("native: %d %q, want %d %q", status, body, tt.status, tt.body)
			}
			if tt.agentURI == "" {
				return // the handler is not called
			}
			method, _, _ := strings.Cut(tt.line, " ")
			resp := roundTrip(t, &frameServer{h: seen}, &abi.Request{Method: method, URI: tt.agentURI,
				Header: []abi.Header{{Name: "Host", Value: tt.agentHost}}})
			if resp.Status != status || string(resp.Body) != body {
				t.Errorf("guest: %d %q; native: %d %q", resp.Status, resp.Body, status, body)
			}
		})
	}
}

// rawExchange writes req on a new connection to addr and reads the answer.
func rawExchange(t *testing.T, addr, req string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	method, _, _ := strings.Cut(req, " ")
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
