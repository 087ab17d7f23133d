package edgectl

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edge/internal/ociwasm"
	"github.com/edgeplane/edge/wire"
)

// fakeControl implements the controller endpoints edgectl uses, faithfully
// enough to check what edgectl sends: it stores blobs under their checked
// sha256, verifies envelopes with the operator's public key, and answers
// polls of a deployment with scripted device states. The real controller is
// exercised by the end-to-end tests in tests/.
type fakeControl struct {
	t   *testing.T
	pub ed25519.PublicKey
	srv *httptest.Server

	mu       sync.Mutex
	blobs    map[string][]byte
	pulls    []wire.BlobPullRequest
	pullOpts ociwasm.Options // the credentials the fake pulls with
	manifest *wire.Manifest  // last deployed
	steps    [][]string      // device states per poll; the last repeats
	reasons  map[string]string
	polls    int
	devices  []wire.Device
	created  time.Time
	// current is what the plan says each device is meant to run, and
	// epoch the plan's epoch.
	current map[string]*wire.PlanVersion
	epoch   uint64
	// serving is the version each device serves, where it is not the
	// current one's.
	serving map[string]string
}

func newFakeControl(t *testing.T, pub ed25519.PublicKey, steps ...[]string) *fakeControl {
	f := &fakeControl{t: t, pub: pub, blobs: map[string][]byte{}, steps: steps, reasons: map[string]string{}, created: time.Now().UTC()}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /api/v1/blobs/{sha256}", f.putBlob)
	mux.HandleFunc("POST /api/v1/blobs/{sha256}/pull", f.pullBlob)
	mux.HandleFunc("POST /api/v1/plan", f.postPlan)
	mux.HandleFunc("POST /api/v1/deployments", f.postDeployment)
	mux.HandleFunc("GET /api/v1/deployments/{id}", f.getDeployment)
	mux.HandleFunc("GET /api/v1/deployments", f.listDeployments)
	mux.HandleFunc("GET /api/v1/devices", f.listDevices)
	mux.HandleFunc("POST /api/v1/devices", f.addDevice)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func apiError(w http.ResponseWriter, status int, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(wire.APIError{Error: fmt.Sprintf(format, args...)})
}

func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeControl) putBlob(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "application/wasm" {
		apiError(w, http.StatusUnsupportedMediaType, "content type %q, want application/wasm", ct)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, wire.MaxModuleSize+1))
	if err != nil {
		apiError(w, http.StatusBadRequest, "read: %v", err)
		return
	}
	sum := sha256.Sum256(body)
	if got, want := hex.EncodeToString(sum[:]), r.PathValue("sha256"); got != want {
		apiError(w, http.StatusBadRequest, "body sha256 %s does not match path %s", got, want)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blobs[r.PathValue("sha256")] = body
	w.WriteHeader(http.StatusCreated)
}

// postPlan answers as a controller with no deployment of the module yet:
// epoch 0, every named node known, nothing to re-sign.
func (f *fakeControl) postPlan(w http.ResponseWriter, r *http.Request) {
	var req wire.PlanRequest
	if err := wire.Decode(mustRead(r), &req); err != nil {
		apiError(w, http.StatusBadRequest, "decode: %v", err)
		return
	}
	f.mu.Lock()
	p := wire.Plan{Module: req.Module, Devices: []wire.PlanDevice{}, Epoch: f.epoch}
	for _, n := range req.Targets.Nodes {
		pd := wire.PlanDevice{ID: n, Registered: true, Current: f.current[n], Serving: f.serving[n]}
		if pd.Current != nil && pd.Serving == "" {
			pd.Serving = pd.Current.Version
		}
		p.Devices = append(p.Devices, pd)
	}
	f.mu.Unlock()
	answer(w, http.StatusOK, p)
}

func mustRead(r *http.Request) []byte {
	b, _ := io.ReadAll(io.LimitReader(r.Body, wire.MaxDeployRequestSize))
	return b
}

func (f *fakeControl) postDeployment(w http.ResponseWriter, r *http.Request) {
	var req wire.DeployRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "decode: %v", err)
		return
	}
	m, err := wire.NewKeyring(f.pub).Verify(&req.Envelope, time.Now())
	if err != nil {
		apiError(w, http.StatusForbidden, "verify: %v", err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if blob, ok := f.blobs[m.SHA256]; !ok || int64(len(blob)) != m.Size {
		apiError(w, http.StatusConflict, "blob %s not uploaded", m.SHA256)
		return
	}
	f.manifest = m
	answer(w, http.StatusCreated, f.deploymentLocked())
}

// deploymentLocked is the deployment at the current poll.
func (f *fakeControl) deploymentLocked() *wire.Deployment {
	d := &wire.Deployment{ID: "d-1", Module: f.manifest.Name, Version: f.manifest.Version, SHA256: f.manifest.SHA256, Created: f.created, Done: true}
	states := f.steps[min(f.polls, len(f.steps)-1)]
	for i, id := range f.manifest.Targets.Nodes {
		st := states[min(i, len(states)-1)]
		d.Devices = append(d.Devices, wire.DeploymentDevice{Device: id, State: st, Reason: f.reasons[st], Updated: time.Now().UTC()})
		if !wire.Terminal(st) {
			d.Done = false
		}
	}
	return d
}

func (f *fakeControl) getDeployment(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.manifest == nil || r.PathValue("id") != "d-1" {
		apiError(w, http.StatusNotFound, "no deployment %q", r.PathValue("id"))
		return
	}
	f.polls++
	answer(w, http.StatusOK, f.deploymentLocked())
}

func (f *fakeControl) listDeployments(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ds := []*wire.Deployment{}
	if f.manifest != nil {
		ds = append(ds, f.deploymentLocked())
	}
	answer(w, http.StatusOK, ds)
}

func (f *fakeControl) listDevices(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	answer(w, http.StatusOK, f.devices)
}

func (f *fakeControl) addDevice(w http.ResponseWriter, r *http.Request) {
	var req wire.DeviceCredentialsRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || wire.ValidateDeviceID(req.ID) != nil {
		apiError(w, http.StatusBadRequest, "bad device request")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.devices {
		if d.ID == req.ID {
			apiError(w, http.StatusConflict, "device %s already exists", req.ID)
			return
		}
	}
	f.devices = append(f.devices, wire.Device{ID: req.ID})
	answer(w, http.StatusCreated, wire.DeviceCredentials{ID: req.ID, Password: "s3cret-" + req.ID})
}

// run runs edgectl and returns its exit code, stdout and stderr.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// testKey runs keygen into a temporary folder and returns the key file and
// the public key.
func testKey(t *testing.T) (string, ed25519.PublicKey) {
	t.Helper()
	dir := t.TempDir()
	if code, _, stderr := run(t, "keygen", "--out", dir); code != ExitOK {
		t.Fatalf("keygen: exit %d: %s", code, stderr)
	}
	pemBytes, err := os.ReadFile(filepath.Join(dir, PublicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := wire.ParsePublicKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, PrivateKeyFile), pub
}

// testModule writes a minimal valid Wasm module (the 8-byte header).
func testModule(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, append([]byte("\x00asm\x01\x00\x00\x00"), "custom"...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func init() { pollInterval = 10 * time.Millisecond }
