package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edge/internal/ociwasm"
	"github.com/edgeplane/edge/tests/harness"
)

// pushOCI runs edgectl push with a registry reference for one node.
func (f *fleet) pushOCI(t *testing.T, ref, version, node string, port int, extra ...string) (string, int) {
	t.Helper()
	args := append([]string{"push", ref, "--control", f.control, "--key", filepath.Join(f.keyDir, "edge.key"),
		"--version", version, "--node", node, "--db", "sqlite", "--port", fmt.Sprint(port), "--wait", "2m"}, extra...)
	out, errOut, code := edgectl(t, args...)
	return out + errOut, code
}

// deployments returns the controller's deployments.
func (f *fleet) deployments(t *testing.T) []json.RawMessage {
	t.Helper()
	status, body := call(t, "GET", f.control+"/api/v1/deployments", "")
	var ds []json.RawMessage
	if status != 200 || json.Unmarshal([]byte(body), &ds) != nil {
		t.Fatalf("GET deployments = %d %s", status, body)
	}
	return ds
}

// blobs lists the controller's blob files.
func (f *fleet) blobs(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(f.dataDir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestRegistryPush: publish the order service to a real registry, push
// the reference: the controller pulls it and the board serves it; then
// the ways it must fail, each deploying nothing.
func TestRegistryPush(t *testing.T) {
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	f := startFleet(t)
	start(t, agentRunning, nil, bin(t, "edge-agent"), f.device(t, "a")...)
	wasm := bin(t, "orders.wasm")
	port := freePort(t)
	tag := "oci://" + reg.Addr + "/edge/orders:1.0.0"

	out, errOut, code := edgectl(t, "publish", wasm, tag, "--json")
	if code != 0 {
		t.Fatalf("publish = %d\n%s%s", code, out, errOut)
	}
	var pub struct{ Reference, Manifest, SHA256 string }
	if err := json.Unmarshal([]byte(out), &pub); err != nil || !strings.HasPrefix(pub.Reference, "oci://"+reg.Addr+"/edge/orders@sha256:") {
		t.Fatalf("publish --json = %q: %v", out, err)
	}

	all, code := f.pushOCI(t, tag, "1.0.0", "a", port)
	if code != 0 {
		t.Fatalf("push %s = %d\n%s", tag, code, all)
	}
	for _, want := range []string{"resolved " + tag + " to " + pub.Manifest, "the controller has the", "running"} {
		if !strings.Contains(all, want) {
			t.Errorf("push output lacks %q:\n%s", want, all)
		}
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	runWorkflow(t, base, seedWorkflow(t))
	var ds []struct{ Module, SHA256 string }
	_, body := call(t, "GET", f.control+"/api/v1/deployments", "")
	if json.Unmarshal([]byte(body), &ds) != nil || len(ds) != 1 || ds[0].SHA256 != pub.SHA256 || ds[0].Module != "orders" {
		t.Fatalf("deployments = %s, want one of orders with sha256 %s", body, pub.SHA256)
	}

	// A tag the registry does not have: refused before anything is signed.
	if all, code := f.pushOCI(t, "oci://"+reg.Addr+"/edge/orders:9.9.9", "1.1.0", "a", port); code != 1 || !strings.Contains(all, "not found") {
		t.Errorf("push of a missing tag = %d, want 1 naming it not found:\n%s", code, all)
	}
	// Not a Wasm artifact: refused with what it is.
	pushImage(t, reg.Addr, "edge/image", "1")
	if all, code := f.pushOCI(t, "oci://"+reg.Addr+"/edge/image:1", "1.1.0", "a", port); code != 1 || !strings.Contains(all, "not a Wasm module artifact") {
		t.Errorf("push of a container image = %d, want 1 naming the media types:\n%s", code, all)
	}
	// The registry is down.
	reg.Stop(t)
	all, code = f.pushOCI(t, tag, "1.1.0", "a", port)
	if code != 1 || !strings.Contains(all, "connection refused") || !strings.Contains(all, reg.Addr) {
		t.Errorf("push with the registry down = %d, want 1 naming the registry and connection refused:\n%s", code, all)
	}
	t.Logf("registry down: %s", lastLine(all))
	if n := len(f.deployments(t)); n != 1 {
		t.Errorf("%d deployments after the refused pushes, want 1", n)
	}
	runWorkflow(t, base, seedWorkflow(t)[:1])
}

func sha256hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// pushImage pushes a container-image-like artifact (OCI image config, a
// tar+gzip layer) over the distribution API, raw.
func pushImage(t *testing.T, addr, repo, tag string) {
	t.Helper()
	put := func(method, path, ct string, body []byte) *http.Response {
		req, _ := http.NewRequest(method, "http://"+addr+path, bytes.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s = %d", method, path, resp.StatusCode)
		}
		return resp
	}
	blob := func(b []byte) string {
		d := "sha256:" + sha256hex(b)
		resp := put(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", "", nil)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		q := loc.Query()
		q.Set("digest", d)
		loc.RawQuery = q.Encode()
		put(http.MethodPut, loc.RequestURI(), "application/octet-stream", b)
		return d
	}
	cfg, layer := []byte(`{"architecture":"amd64","os":"linux"}`), []byte("not really a tarball")
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d}]}`,
		blob(cfg), len(cfg), blob(layer), len(layer))
	put(http.MethodPut, "/v2/"+repo+"/manifests/"+tag, "application/vnd.oci.image.manifest.v1+json", []byte(m))
}

// controlProxy serves the registry at addr on another loopback port. The
// controller's requests (its User-Agent) first go through onControl,
// and, when flip is set, get the last byte of every blob changed: a
// registry that serves the operator one thing and the controller another.
type controlProxy struct {
	Addr      string
	mu        sync.Mutex
	onControl func()
	flip      bool
}

func newControlProxy(t *testing.T, addr string) *controlProxy {
	t.Helper()
	p := &controlProxy{}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: addr})
	rp.ModifyResponse = func(resp *http.Response) error {
		p.mu.Lock()
		flip := p.flip
		p.mu.Unlock()
		if !flip || !fromControl(resp.Request) || resp.Request.Method != http.MethodGet || !strings.Contains(resp.Request.URL.Path, "/blobs/") {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		b[len(b)-1] ^= 0xff
		resp.Body = io.NopCloser(bytes.NewReader(b))
		return nil
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fromControl(r) {
			p.mu.Lock()
			f := p.onControl
			p.onControl = nil
			p.mu.Unlock()
			if f != nil {
				f()
			}
		}
		rp.ServeHTTP(w, r)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	p.Addr = l.Addr().String()
	return p
}

func fromControl(r *http.Request) bool { return strings.HasPrefix(r.UserAgent(), "edge-control/") }

// TestRegistryPullByDigest: the tag moves between edgectl's resolve and
// the controller's pull; the controller pulls the digest the operator
// signed, and the board serves that. Then a registry that serves the
// controller other bytes than it served the operator: refused, nothing
// stored, nothing deployed.
func TestRegistryPullByDigest(t *testing.T) {
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	proxy := newControlProxy(t, reg.Addr)
	f := startFleet(t)
	start(t, agentRunning, nil, bin(t, "edge-agent"), f.device(t, "a")...)
	wasm := bin(t, "orders.wasm")
	port := freePort(t)
	tag := "oci://" + proxy.Addr + "/edge/orders:stable"
	if out, errOut, code := edgectl(t, "publish", wasm, tag); code != 0 {
		t.Fatalf("publish = %d\n%s%s", code, out, errOut)
	}
	// When the controller first asks, "stable" moves to another module.
	cl, err := ociwasm.NewClient(ociwasm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	direct, _ := ociwasm.ParseReference("oci://" + reg.Addr + "/edge/orders:stable")
	other := append([]byte("\x00asm\x01\x00\x00\x00"), 0, 4, 3, 'n', 'e', 'w')
	var moved ociwasm.Artifact
	proxy.mu.Lock()
	proxy.onControl = func() {
		a, err := cl.Publish(context.Background(), direct, other, "", time.Now())
		if err != nil {
			t.Errorf("move the tag: %v", err)
		}
		moved = a
	}
	proxy.mu.Unlock()
	all, code := f.pushOCI(t, tag, "1.0.0", "a", port)
	if code != 0 {
		t.Fatalf("push %s = %d\n%s", tag, code, all)
	}
	if now, err := cl.Resolve(context.Background(), direct); err != nil || moved.Manifest == "" || now.Manifest != moved.Manifest {
		t.Fatalf("the tag did not move during the push: %+v %v (moved to %+v)", now, err, moved)
	}
	runWorkflow(t, fmt.Sprintf("http://127.0.0.1:%d", port), seedWorkflow(t))

	// Other bytes for the controller than for the operator, of a module
	// the controller does not have yet (orders.wasm with a custom section).
	b, err := os.ReadFile(wasm)
	if err != nil {
		t.Fatal(err)
	}
	wasm2 := filepath.Join(t.TempDir(), "orders2.wasm")
	if err := os.WriteFile(wasm2, append(b, 0, 2, 1, 'x'), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := edgectl(t, "publish", wasm2, "oci://"+proxy.Addr+"/edge/orders2:1"); code != 0 {
		t.Fatalf("publish = %d\n%s%s", code, out, errOut)
	}
	blobsBefore := f.blobs(t)
	proxy.mu.Lock()
	proxy.flip = true
	proxy.mu.Unlock()
	all, code = f.pushOCI(t, "oci://"+proxy.Addr+"/edge/orders2:1", "1.1.0", "a", port)
	if code != 1 || !strings.Contains(all, "does not match") || !strings.Contains(all, "Bad Gateway") {
		t.Errorf("push with a registry lying to the controller = %d, want 1 naming the mismatch (502):\n%s", code, all)
	}
	t.Logf("lying registry: %s", lastLine(all))
	if n := len(f.deployments(t)); n != 1 {
		t.Errorf("%d deployments after the refused push, want 1", n)
	}
	if after := f.blobs(t); len(after) != len(blobsBefore) {
		t.Errorf("blob files %v after the refused pull, want %v", after, blobsBefore)
	}
}

// TestRegistryQuota: the controller's blob quota applies to a pull as to
// an upload.
func TestRegistryQuota(t *testing.T) {
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	f := startFleet(t, "--blob-quota", "1MiB")
	tag := "oci://" + reg.Addr + "/edge/orders:1"
	if out, errOut, code := edgectl(t, "publish", bin(t, "orders.wasm"), tag); code != 0 {
		t.Fatalf("publish = %d\n%s%s", code, out, errOut)
	}
	all, code := f.pushOCI(t, tag, "1.0.0", "x", 8080, "--allow-unregistered")
	if code != 1 || !strings.Contains(all, "quota") || !strings.Contains(all, "Insufficient Storage") {
		t.Errorf("push over the quota = %d, want 1 with 507:\n%s", code, all)
	}
	if n := len(f.deployments(t)); n != 0 {
		t.Errorf("%d deployments, want 0", n)
	}
	if b := f.blobs(t); len(b) != 0 {
		t.Errorf("blob files %v after a refused pull", b)
	}
}
