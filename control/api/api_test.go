package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/control/auth"
	"github.com/edgeplane/edge/control/fleet"
	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// newHandler returns the API on a store of its own holding the statuses.
func newHandler(t *testing.T, statuses ...*wire.Status) *Handler {
	t.Helper()
	return newHandlerOpts(t, Options{}, statuses...)
}

// newHandlerOpts is newHandler with options.
func newHandlerOpts(t *testing.T, opts Options, statuses ...*wire.Status) *Handler {
	t.Helper()
	ctx := context.Background()
	st := openStore(t)
	for _, s := range statuses {
		if err := st.PutStatus(ctx, s, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.DiscardHandler)
	return New(st, fleet.New(fleet.Config{Store: st, Logger: log}), log, opts)
}

// openStore opens a store of its own (SQLite in a temporary folder),
// closed at the end of the test.
func openStore(tb testing.TB) *store.Store {
	tb.Helper()
	st, err := store.Open(context.Background(), tb.TempDir(), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// issue creates a token of role on h's store.
func issue(t *testing.T, h *Handler, name string, role auth.Role) string {
	t.Helper()
	tc, err := IssueToken(context.Background(), h.store, name, role, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tc.Secret
}

// TestAnswerToAStalledReader: a client that asks for a large answer and
// stops reading holds its connection only until the answer deadline.
func TestAnswerToAStalledReader(t *testing.T) {
	old := responseWriteTimeout
	responseWriteTimeout = 500 * time.Millisecond
	defer func() { responseWriteTimeout = old }()

	// 100 devices with 60 KB of labels each: a 6 MB device list, more than
	// the socket buffers hold.
	var devices []*wire.Status
	for i := range 100 {
		id := fmt.Sprintf("dev-%d", i)
		devices = append(devices, &wire.Status{Device: id, Online: true, Labels: map[string]string{"note": strings.Repeat("x", 60<<10)}})
	}
	h := newHandler(t, devices...)
	token := issue(t, h, "admin", auth.RoleAdmin)
	srv := httptest.NewUnstartedServer(h)
	closed := make(chan struct{})
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			close(closed)
		}
	}
	srv.Start()
	defer srv.Close()

	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	fmt.Fprintf(c, "GET /api/v1/devices HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n", token)
	// Not reading: the server gives up on the answer at its deadline and
	// closes the connection.
	select {
	case <-closed:
	case <-time.After(time.Minute): // building the answer may be slow (-race); the deadline starts when writing does
		t.Fatalf("connection still open a minute after the request; want it closed %s after the answer started", responseWriteTimeout)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Logf("answer cut within its headers: %v", err)
		return
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil {
		t.Fatalf("read the whole %d-byte answer after stalling; want it cut at the answer deadline", n)
	}
	t.Logf("answer cut after %d bytes: %v", n, err)
}

// TestAnswersAreNotDocuments: every API answer, success or error, tells a
// browser not to sniff it and not to run anything in it. Device-supplied
// text (a label, a reason) travels in these answers.
func TestAnswersAreNotDocuments(t *testing.T) {
	h := newHandler(t, &wire.Status{Device: "pi-1", Online: true, Labels: map[string]string{"note": "<script>alert(1)</script>"}})
	token := issue(t, h, "admin", auth.RoleAdmin)
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, tt := range []struct{ method, path string }{
		{"GET", "/api/v1/devices"},
		{"GET", "/api/v1/devices/pi-1"},
		{"GET", "/api/v1/devices/nope"},
		{"GET", "/api/v1/nope"},
		{"POST", "/api/v1/deployments"},
		{"GET", "/healthz"},
	} {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader("{"))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s (%d): X-Content-Type-Options %q, want nosniff", tt.method, tt.path, resp.StatusCode, got)
		}
		if got := resp.Header.Get("Content-Security-Policy"); !strings.Contains(got, "default-src 'none'") {
			t.Errorf("%s %s (%d): Content-Security-Policy %q, want default-src 'none'", tt.method, tt.path, resp.StatusCode, got)
		}
	}
}
