package edgectl

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/internal/ociwasm"
	"github.com/edgeplane/edge/tests/harness"
	"github.com/edgeplane/edge/wire"
)

// pullBlob pulls as the controller does: the pinned artifact, checked
// against the path's sha256 and the size, with f.pullOpts's credentials.
func (f *fakeControl) pullBlob(w http.ResponseWriter, r *http.Request) {
	var req wire.BlobPullRequest
	if err := wire.Decode(mustRead(r), &req); err != nil {
		apiError(w, http.StatusBadRequest, "decode: %v", err)
		return
	}
	f.mu.Lock()
	f.pulls = append(f.pulls, req)
	f.mu.Unlock()
	ref, err := ociwasm.ParseReference(req.Source)
	if err != nil || ref.Digest == "" {
		apiError(w, http.StatusBadRequest, "source %q: %v (want a digest)", req.Source, err)
		return
	}
	c, _ := ociwasm.NewClient(f.pullOpts)
	rc, err := c.Fetch(r.Context(), ref, r.PathValue("sha256"), req.Size)
	if err != nil {
		apiError(w, http.StatusBadGateway, "%v", err)
		return
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		apiError(w, http.StatusBadGateway, "%v", err)
		return
	}
	f.mu.Lock()
	f.blobs[r.PathValue("sha256")] = b
	f.mu.Unlock()
	answer(w, http.StatusCreated, wire.BlobRef{SHA256: r.PathValue("sha256"), Size: int64(len(b))})
}

const pullToken = "t0ken"

// bearerRegistry serves the registry at addr behind a bearer challenge
// that only "Bearer t0ken" passes.
func bearerRegistry(t *testing.T, addr string) string {
	t.Helper()
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: addr})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+pullToken {
			w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+l.Addr().String()+`/token",service="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		rp.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// isolate keeps the operator's own docker config and registry variables
// out of a test.
func isolate(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	for _, v := range []string{"EDGE_REGISTRY_USER", "EDGE_REGISTRY_PASSWORD", "EDGE_REGISTRY_TOKEN"} {
		t.Setenv(v, "")
	}
}

func TestPublishThenPushOCI(t *testing.T) {
	isolate(t)
	reg := harness.StartRegistry(t, harness.RegistryOptions{User: "op", Password: "pw"})
	key, pub := testKey(t)
	f := newFakeControl(t, pub, []string{wire.StateRunning})
	mod := testModule(t, "orders.wasm")
	tag := "oci://" + reg.Addr + "/acme/orders:1.4.0"

	// Credentials from a docker config.json in DOCKER_CONFIG.
	cfg := `{"auths":{"` + reg.Addr + `":{"auth":"b3A6cHc="}}}` // op:pw
	if err := os.WriteFile(filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "publish", mod, tag, "--json")
	if code != ExitOK {
		t.Fatalf("publish: exit %d\n%s%s", code, stdout, stderr)
	}
	var p Published
	if err := json.Unmarshal([]byte(stdout), &p); err != nil || !strings.HasPrefix(p.Reference, "oci://"+reg.Addr+"/acme/orders@sha256:") || p.Tag != "1.4.0" {
		t.Fatalf("publish --json = %q: %v", stdout, err)
	}

	// The controller's own credentials; edgectl's from the environment
	// now (they win over the file, removed to be sure).
	f.pullOpts = ociwasm.Options{Username: "op", Password: "pw"}
	os.Remove(filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json"))
	t.Setenv("EDGE_REGISTRY_USER", "op")
	t.Setenv("EDGE_REGISTRY_PASSWORD", "pw")
	code, stdout, stderr = run(t, "push", tag, "--key", key, "--version", "1.4.0",
		"--control", f.srv.URL, "--node", "pi-1", "--port", "8080")
	if code != ExitOK {
		t.Fatalf("push oci: exit %d\n%s%s", code, stdout, stderr)
	}
	module, _ := os.ReadFile(mod)
	if m := f.manifest; m == nil || m.SHA256 != p.SHA256 || m.Size != int64(len(module)) || m.Name != "orders" {
		t.Fatalf("signed manifest %+v, want orders with sha256 %s", f.manifest, p.SHA256)
	}
	if len(f.pulls) != 1 || f.pulls[0].Source != p.Reference || f.pulls[0].Size != int64(len(module)) {
		t.Errorf("pull requests %+v, want one of the pinned manifest %s", f.pulls, p.Manifest)
	}
	if string(f.blobs[p.SHA256]) != string(module) {
		t.Errorf("the controller holds other bytes than the module")
	}
	for _, want := range []string{"resolved " + tag + " to " + p.Manifest, "the controller has the"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	// A digest reference: nothing to resolve, the same artifact.
	code, stdout, stderr = run(t, "push", p.Reference, "--key", key, "--version", "1.4.1",
		"--control", f.srv.URL, "--node", "pi-1", "--port", "8080")
	if code != ExitOK || len(f.pulls) != 2 || f.pulls[1].Source != p.Reference || f.manifest.Version != "1.4.1" {
		t.Errorf("push by digest: exit %d, pulls %+v\n%s%s", code, f.pulls, stdout, stderr)
	}

	// Environment credentials: wrong ones are refused with the reason.
	t.Setenv("EDGE_REGISTRY_PASSWORD", "wrong")
	if code, _, stderr := run(t, "publish", mod, tag); code != ExitFailed || !strings.Contains(stderr, "refused access") {
		t.Errorf("publish with a wrong password: exit %d %s, want 1 refused access", code, stderr)
	}
	t.Setenv("EDGE_REGISTRY_PASSWORD", "pw")
	if code, _, stderr := run(t, "publish", mod, tag); code != ExitOK {
		t.Errorf("publish with EDGE_REGISTRY_USER/PASSWORD: exit %d %s", code, stderr)
	}
}

func TestPushOCIBearerToken(t *testing.T) {
	isolate(t)
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	addr := bearerRegistry(t, reg.Addr)
	key, pub := testKey(t)
	f := newFakeControl(t, pub, []string{wire.StateRunning})
	f.pullOpts = ociwasm.Options{Token: pullToken}
	tag := "oci://" + addr + "/acme/orders:1"
	if code, _, stderr := run(t, "publish", testModule(t, "orders.wasm"), tag); code != ExitFailed || !strings.Contains(stderr, "refused access") {
		t.Errorf("publish without the token: exit %d %s, want 1 refused access", code, stderr)
	}
	t.Setenv("EDGE_REGISTRY_TOKEN", pullToken)
	if code, stdout, stderr := run(t, "publish", testModule(t, "orders.wasm"), tag); code != ExitOK {
		t.Fatalf("publish with EDGE_REGISTRY_TOKEN: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, stdout, stderr := run(t, "push", tag, "--key", key, "--version", "1.0.0", "--control", f.srv.URL, "--node", "pi-1", "--port", "8080"); code != ExitOK {
		t.Fatalf("push with EDGE_REGISTRY_TOKEN: exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestPushOCIRefusals(t *testing.T) {
	isolate(t)
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	key, pub := testKey(t)
	f := newFakeControl(t, pub, []string{wire.StateRunning})
	// Something that is not a Wasm module, in the Wasm layout.
	c, _ := ociwasm.NewClient(ociwasm.Options{})
	notWasm, _ := ociwasm.ParseReference("oci://" + reg.Addr + "/acme/text:1")
	if _, err := c.Publish(context.Background(), notWasm, []byte("hello, not wasm"), "", time.Now()); err != nil {
		t.Fatal(err)
	}
	push := func(ref string, extra ...string) (int, string) {
		args := append([]string{"push", ref, "--key", key, "--version", "1.0.0", "--control", f.srv.URL, "--node", "pi-1", "--port", "8080"}, extra...)
		code, stdout, stderr := run(t, args...)
		return code, stdout + stderr
	}
	tests := []struct {
		name  string
		code  int
		out   string
		ref   string
		extra []string
	}{
		{"not wasm", ExitFailed, "not a WebAssembly module", "oci://" + reg.Addr + "/acme/text:1", nil},
		{"missing tag", ExitFailed, "not found in the registry", "oci://" + reg.Addr + "/acme/text:2", nil},
		{"no tag", ExitUsage, "name a tag", "oci://" + reg.Addr + "/acme/text", nil},
		{"bad reference", ExitUsage, "invalid repository", "oci://" + reg.Addr + "/Acme/text:1", nil},
		{"missing config", ExitUsage, "--registry-config", "oci://" + reg.Addr + "/acme/text:1", []string{"--registry-config", "/nonexistent/config.json"}},
		{"down", ExitFailed, "connection refused", "oci://127.0.0.1:1/acme/text:1", nil},
	}
	for _, tt := range tests {
		code, out := push(tt.ref, tt.extra...)
		if code != tt.code || !strings.Contains(out, tt.out) {
			t.Errorf("%s: exit %d, want %d with %q:\n%s", tt.name, code, tt.code, tt.out, out)
		}
	}
	if len(f.pulls) != 0 || f.manifest != nil {
		t.Errorf("pulls %v, deployed %v after refusals", f.pulls, f.manifest)
	}

	for _, args := range [][]string{
		{"publish", testModule(t, "m.wasm"), "oci://" + reg.Addr + "/acme/m@sha256:" + strings.Repeat("0", 64)},
		{"publish", testModule(t, "m.wasm"), reg.Addr + "/acme/m:1"},
		{"publish", testModule(t, "m.wasm")},
	} {
		if code, _, stderr := run(t, args...); code != ExitUsage {
			t.Errorf("%v: exit %d %s, want 2", args, code, stderr)
		}
	}
}

// TestPushOCIOlderController: a controller without the pull endpoint
// answers 404; edgectl says what to do.
func TestPushOCIOlderController(t *testing.T) {
	isolate(t)
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	key, pub := testKey(t)
	f := newFakeControl(t, pub, []string{wire.StateRunning})
	old := http.NewServeMux()
	old.HandleFunc("POST /api/v1/blobs/{sha256}/pull", func(w http.ResponseWriter, _ *http.Request) {
		apiError(w, http.StatusNotFound, "no such API endpoint")
	})
	old.Handle("/", f.srv.Config.Handler)
	srv := httptest.NewServer(old)
	t.Cleanup(srv.Close)
	tag := "oci://" + reg.Addr + "/acme/orders:1"
	if code, _, stderr := run(t, "publish", testModule(t, "orders.wasm"), tag); code != ExitOK {
		t.Fatalf("publish: %d %s", code, stderr)
	}
	code, _, stderr := run(t, "push", tag, "--key", key, "--version", "1.0.0", "--control", srv.URL, "--node", "pi-1", "--port", "8080")
	if code != ExitFailed || !strings.Contains(stderr, "does not pull from registries") {
		t.Errorf("push to an older controller: exit %d %s", code, stderr)
	}
	if f.manifest != nil {
		t.Errorf("deployed %+v after a failed pull", f.manifest)
	}
}
