package httpserve

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func start(t *testing.T, h http.Handler, cfg Config) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(h, cfg)
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return s, ln.Addr().String()
}

func get(t *testing.T, c net.Conn) (int, string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMaxConns: connections over the limit are answered 503 with
// Retry-After and closed; once one closes, a new one is served.
func TestMaxConns(t *testing.T) {
	s, addr := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		Config{MaxConns: 3})
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if status, body := get(t, c); status != 200 || body != "ok" {
			t.Fatalf("connection within the limit: %d %q", status, body)
		}
		held = append(held, c)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(extra, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(extra), nil)
	if err != nil {
		t.Fatalf("connection over the limit: %v, want a 503 answer", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(b), "too many connections") {
		t.Errorf("over the limit: %d %v %q, want 503 with Retry-After", resp.StatusCode, resp.Header, b)
	}
	if s.Refused() != 1 || s.Open() != 3 {
		t.Errorf("Refused %d, Open %d; want 1, 3", s.Refused(), s.Open())
	}
	held[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for s.Open() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("Open = %d after a close, want 2", s.Open())
		}
		time.Sleep(10 * time.Millisecond)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if status, _ := get(t, c); status != 200 {
		t.Errorf("after a slot freed: %d, want 200", status)
	}
}
