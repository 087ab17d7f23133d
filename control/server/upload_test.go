package server

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// stalledRequest opens a connection, sends the headers of a request
// announcing length body bytes and the first sent of them, then stops.
func stalledRequest(t *testing.T, s *Server, method, path string, length, sent int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		method, path, adminToken(t, s), length)
	if _, err := c.Write(make([]byte, sent)); err != nil {
		t.Fatal(err)
	}
	return c
}

// answer reads the status of the answer on c, waiting up to wait.
func answer(t *testing.T, c net.Conn, wait time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer within %s: %v", wait, err)
	}
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

// blobFiles lists the blob folder, but for its identity (on MySQL).
func blobFiles(t *testing.T, s *Server) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.cfg.DataDir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if e.Name() != store.BlobStoreFile {
			names = append(names, e.Name())
		}
	}
	return names
}

// TestStalledUploads is the controller's part of case 2 of issue 7: a
// client that stops sending mid-body must cost a bounded time, never a
// connection and its buffers forever. Four uploads (all the upload slots)
// and a deployment body stall; each gets 408 after the idle time, the
// controller answers other requests meanwhile, and no temp file or quota
// stays held.
func TestStalledUploads(t *testing.T) {
	const idle = 500 * time.Millisecond
	s := startServer(t, func(c *Config) { c.UploadIdle = idle; c.MaxUploads = 4 })
	var conns []net.Conn
	for i := range 4 {
		sha := digest([]byte{byte(i)})
		conns = append(conns, stalledRequest(t, s, "PUT", "/api/v1/blobs/"+sha, 10<<20, 1<<20))
	}
	jsonConn := stalledRequest(t, s, "POST", "/api/v1/deployments", 1000, 10)
	// While they stall, the controller serves others.
	wantCode(t, "healthz while uploads stall", call(t, s, "GET", "/healthz", nil, nil), 200)
	for i, c := range append(conns, jsonConn) {
		code, took := answer(t, c, 20*idle)
		if code != http.StatusRequestTimeout {
			t.Errorf("stalled request %d: status %d, want 408", i, code)
		}
		if took > 15*idle {
			t.Errorf("stalled request %d answered after %s, want about %s", i, took, idle)
		}
	}
	eventually(t, "upload slots and quota released", func() bool {
		u := s.store.BlobUsage()
		return u.Uploading == 0 && len(blobFiles(t, s)) == 0
	})
	blob := moduleBytes(64 << 10)
	wantCode(t, "upload after the stalls", call(t, s, "PUT", "/api/v1/blobs/"+digest(blob), blob, nil), 201)
}

// TestUploadLimits: beyond MaxUploads uploads at once the controller
// answers 429 (with Retry-After); beyond the quota of stored bytes 507;
// refused uploads leave nothing behind.
func TestUploadLimits(t *testing.T) {
	s := startServer(t, func(c *Config) { c.MaxUploads = 2; c.BlobQuota = 1 << 20; c.UploadIdle = 5 * time.Second })
	stalledRequest(t, s, "PUT", "/api/v1/blobs/"+digest([]byte("a")), 200<<10, 10)
	stalledRequest(t, s, "PUT", "/api/v1/blobs/"+digest([]byte("b")), 200<<10, 10)
	blob := moduleBytes(100 << 10)
	eventually(t, "two uploads in progress", func() bool { return s.store.BlobUsage().Uploading > 0 })
	req, _ := http.NewRequest("PUT", "http://"+s.HTTPAddr()+"/api/v1/blobs/"+digest(blob), strings.NewReader(string(blob)))
	req.Header.Set("Authorization", "Bearer "+adminToken(t, s))
	var resp *http.Response
	eventually(t, "429 while both slots are taken", func() bool {
		var err error
		resp, err = http.DefaultClient.Do(req.Clone(req.Context()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		req.Body, _ = req.GetBody()
		return resp.StatusCode == http.StatusTooManyRequests
	})
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}

	q := startServer(t, func(c *Config) { c.BlobQuota = 1 << 20 })
	big := make([]byte, 700<<10) // incompressible: raw + gzip > 1 MiB
	randRead(big)
	code, msg := callErr(t, q, "PUT", "/api/v1/blobs/"+digest(big), big)
	if code != http.StatusInsufficientStorage || !strings.Contains(msg, "quota") {
		t.Errorf("upload over the quota: %d %q, want 507 naming the quota", code, msg)
	}
	if files := blobFiles(t, q); len(files) != 0 {
		t.Errorf("refused upload left %q", files)
	}
	wantCode(t, "upload within the quota", call(t, q, "PUT", "/api/v1/blobs/"+digest(blob), blob, nil), 201)
}

// TestBlobGarbageCollection: a blob no deployment references is removed
// BlobGrace after its upload; a deployed one stays.
func TestBlobGarbageCollection(t *testing.T) {
	s := startServer(t, func(c *Config) { c.BlobGrace = time.Second })
	kept, dropped := moduleBytes(20<<10), moduleBytes(21<<10)
	wantCode(t, "upload kept", call(t, s, "PUT", "/api/v1/blobs/"+digest(kept), kept, nil), 201)
	wantCode(t, "upload dropped", call(t, s, "PUT", "/api/v1/blobs/"+digest(dropped), dropped, nil), 201)
	sg := newSigner(t)
	env := sg.sign(t, "orders", "1.0.0", kept, wire.Targets{Nodes: []string{"gc-1"}})
	wantCode(t, "deploy kept", call(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: env, AllowUnregistered: true}, nil), 201)
	eventually(t, "unreferenced blob removed", func() bool {
		for _, f := range blobFiles(t, s) {
			if strings.HasPrefix(f, digest(dropped)) {
				return false
			}
		}
		return true
	})
	files := blobFiles(t, s)
	if len(files) != 2 || !strings.HasPrefix(files[0], digest(kept)) {
		t.Errorf("blob files %q, want the deployed blob's two", files)
	}
	env = sg.sign(t, "orders", "1.0.1", dropped, wire.Targets{Nodes: []string{"gc-1"}})
	if code, msg := callErr(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: env}); code != 400 || !strings.Contains(msg, "not uploaded") {
		t.Errorf("deploying a collected blob: %d %q, want 400 asking for the upload", code, msg)
	}
}
