package edgectl

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// cutUploads serves f's API, but cuts the first n module uploads as a
// controller killed mid-upload does: the connection is reset.
func cutUploads(t *testing.T, f *fakeControl, n int64) *httptest.Server {
	var cuts atomic.Int64
	cuts.Store(n)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && cuts.Add(-1) >= 0 {
			r.Body.Read(make([]byte, 100))
			c, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			c.(*net.TCPConn).SetLinger(0) // RST, not FIN
			c.Close()
			return
		}
		f.srv.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestUploadRetried: an upload cut by a controller that went away is said
// in the polling's words ("cannot reach the controller", once) and sent
// again; it used to end the push with the raw "readfrom tcp ...: write:
// connection reset by peer".
func TestUploadRetried(t *testing.T) {
	key, pub := testKey(t)
	f := newFakeControl(t, pub, []string{"running"})
	srv := cutUploads(t, f, 2)
	mod := testModule(t, "orders.wasm")
	code, _, stderr := run(t, "push", mod, "--key", key, "--version", "1.0.0", "--port", "8080", "--node", "pi-1", "--control", srv.URL)
	if code != ExitOK {
		t.Fatalf("push: exit %d, want 0\n%s", code, stderr)
	}
	want := "warning: cannot reach the controller at " + srv.URL + ": the connection was cut ("
	if n := strings.Count(stderr, want); n != 1 || !strings.Contains(stderr, "(retrying)") || strings.Contains(stderr, "readfrom") {
		t.Errorf("stderr says %q %d times, want once with (retrying):\n%s", want, n, stderr)
	}
	module, _ := os.ReadFile(mod)
	if got := f.blobs[f.manifest.SHA256]; string(got) != string(module) {
		t.Errorf("stored blob differs from the module")
	}
}

// TestUploadGivesUp: retrying is bounded; the error says why, in words.
func TestUploadGivesUp(t *testing.T) {
	defer func(d time.Duration) { uploadRetryFor = d }(uploadRetryFor)
	uploadRetryFor = 500 * time.Millisecond
	key, pub := testKey(t)
	f := newFakeControl(t, pub, []string{"running"})
	srv := cutUploads(t, f, 1<<30)
	mod := testModule(t, "orders.wasm")
	code, _, stderr := run(t, "push", mod, "--key", key, "--version", "1.0.0", "--port", "8080", "--node", "pi-1", "--control", srv.URL)
	if code != ExitFailed || !strings.Contains(stderr, "upload orders: cannot reach the controller at "+srv.URL+": the connection was cut") ||
		!strings.Contains(stderr, "gave up after") || strings.Contains(stderr, "readfrom") {
		t.Errorf("push: exit %d, want 1 and the reason in words:\n%s", code, stderr)
	}
}
