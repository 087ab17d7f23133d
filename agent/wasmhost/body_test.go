package wasmhost

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// stalledUpload opens a connection, sends a request announcing
// contentLength bytes of body, then only sent bytes of it, and returns the
// connection.
func stalledUpload(t *testing.T, addr string, contentLength, sent int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", contentLength)
	if _, err := c.Write(make([]byte, sent)); err != nil {
		t.Fatal(err)
	}
	return c
}

// answer reads the response on c, within wait; status 0 means the
// connection was closed without one.
func answer(c net.Conn, wait time.Duration) (status int, body string, err error) {
	c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, "", err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), nil
}

// TestBodyStalled: a client that stops sending its body gets 408 after the
// idle timeout, its connection is closed, and the module keeps serving
// other clients meanwhile; a slow but steady body is cut at BodyTimeout.
func TestBodyStalled(t *testing.T) {
	m := load(t, newTestEngine(t, EngineCompiler), "echo", Config{PoolSize: 2,
		Limits: Limits{BodyIdleTimeout: 300 * time.Millisecond, BodyTimeout: time.Second}})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	start := time.Now()
	c := stalledUpload(t, addr, 1000, 500)
	// Meanwhile other clients are served.
	for range 3 {
		resp, err := http.Post(srv.URL, "text/plain", strings.NewReader("hello"))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("other client: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	status, body, err := answer(c, 5*time.Second)
	if status != http.StatusRequestTimeout || !strings.Contains(body, "request body not received in time") {
		t.Fatalf("stalled body: %d %.100q %v, want 408", status, body, err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("408 after %s, want about the 300ms idle timeout", took)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("connection after the 408: read %d, %v; want it closed", n, err)
	}

	// A trickle: one byte every 100ms never stalls, but is cut at 1s.
	c = stalledUpload(t, addr, 1000, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 40 {
			time.Sleep(100 * time.Millisecond)
			if _, err := c.Write([]byte{'x'}); err != nil {
				return
			}
		}
	}()
	status, _, err = answer(c, 5*time.Second)
	if status != http.StatusRequestTimeout {
		t.Errorf("trickled body: %d %v, want 408 at the 1s body timeout", status, err)
	}
	c.Close()
	<-done
	if st := m.Stats(); st.BodyTimeouts != 2 {
		t.Errorf("BodyTimeouts = %d, want 2", st.BodyTimeouts)
	}
}

// TestBodyBudget: slow uploads hold at most MaxBufferedBody between them;
// one more upload waits for room and then gets 503, requests without a body
// are served throughout, and the room comes back once the slow clients
// stall and time out.
func TestBodyBudget(t *testing.T) {
	const limit = 64 << 10
	m := load(t, newTestEngine(t, EngineCompiler), "echo", Config{PoolSize: 2,
		Limits: Limits{MaxRequestBody: limit, MaxBufferedBody: 4 * (limit + 1), BodyIdleTimeout: time.Second}})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	// Four slow uploads, a byte every 200ms: never idle, never done.
	stop := make(chan struct{})
	var slow []net.Conn
	var trickling sync.WaitGroup
	for range 4 {
		c := stalledUpload(t, addr, limit, 10)
		slow = append(slow, c)
		trickling.Add(1)
		go func() {
			defer trickling.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
					c.Write([]byte{'x'})
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)            // let them reserve their room
	extra := stalledUpload(t, addr, limit, limit) // complete, but no room
	resp, err := http.Get(srv.URL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("request without a body while the budget is full: %v %v", resp, err)
	}
	resp.Body.Close()
	status, body, err := answer(extra, 5*time.Second)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "too many request bodies in flight") {
		t.Errorf("upload with no room: %d %.100q %v, want 503", status, body, err)
	}
	close(stop)
	trickling.Wait()
	var wg sync.WaitGroup
	for _, c := range slow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if status, _, err := answer(c, 5*time.Second); status != http.StatusRequestTimeout {
				t.Errorf("stalled upload: %d %v, want 408", status, err)
			}
		}()
	}
	wg.Wait()
	// The room is back.
	resp, err = http.Post(srv.URL, "application/octet-stream", strings.NewReader(strings.Repeat("y", limit)))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("upload after the stalled ones timed out: %v %v", resp, err)
	}
	resp.Body.Close()
	if st := m.Stats(); st.BodyBusy != 1 {
		t.Errorf("BodyBusy = %d, want 1", st.BodyBusy)
	}
}
