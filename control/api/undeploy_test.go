package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/control/auth"
	"github.com/edgeplane/edge/control/fleet"
	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// undeployEnv is a controller (store, leading fleet, API) with devices
// dev-00..dev-03 registered and one module blob uploaded.
type undeployEnv struct {
	st     *store.Store
	srv    *httptest.Server
	admin  string
	read   string
	key    ed25519.PrivateKey
	module []byte
	sha    string
}

func newUndeployEnv(t *testing.T) *undeployEnv {
	t.Helper()
	ctx := context.Background()
	e := &undeployEnv{st: openStore(t), module: []byte("\x00asm\x01\x00\x00\x00")}
	for i := range 4 {
		if err := e.st.SetCredential(ctx, fmt.Sprintf("dev-%02d", i), []byte("x"), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	sum := sha256.Sum256(e.module)
	e.sha = hex.EncodeToString(sum[:])
	if _, _, err := e.st.PutBlob(ctx, e.sha, e.module, time.Now()); err != nil {
		t.Fatal(err)
	}
	pub := &gatedPublisher{open: make(chan struct{}), got: map[string]bool{}}
	pub.release()
	log := slog.New(slog.DiscardHandler)
	f := fleet.New(fleet.Config{Store: e.st, Publisher: pub, Logger: log})
	if err := f.Load(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { f.Run(runCtx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	h := New(e.st, f, log, Options{})
	e.admin, e.read = issue(t, h, "admin", auth.RoleAdmin), issue(t, h, "reader", auth.RoleRead)
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	if _, e.key, _ = ed25519.GenerateKey(rand.Reader); e.key == nil {
		t.Fatal("no key")
	}
	return e
}

// post sends v to path with token and returns the status and body.
func (e *undeployEnv) post(t *testing.T, path, token string, v any) (int, string) {
	t.Helper()
	body, _ := json.Marshal(v)
	req, _ := http.NewRequest("POST", e.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *undeployEnv) envelope(t *testing.T, name, version string, nodes ...string) wire.Envelope {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	pk := e.key.Public().(ed25519.PublicKey)
	env, err := wire.Sign(&wire.Manifest{Schema: wire.ManifestSchema, Name: name, Version: version,
		SHA256: e.sha, Size: int64(len(e.module)), Created: now, Expires: now.Add(time.Hour), Port: 8081,
		Targets: wire.Targets{Nodes: nodes}, KeyID: wire.KeyID(pk)}, e.key)
	if err != nil {
		t.Fatal(err)
	}
	return *env
}

// deploy pushes name 1.0.0 to nodes and returns the deployment.
func (e *undeployEnv) deploy(t *testing.T, name string, nodes ...string) wire.Deployment {
	t.Helper()
	code, body := e.post(t, "/api/v1/deployments", e.admin, wire.DeployRequest{Envelope: e.envelope(t, name, "1.0.0", nodes...)})
	if code != http.StatusCreated {
		t.Fatalf("deploy %s: %d %s", name, code, body)
	}
	var d wire.Deployment
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func (e *undeployEnv) modules(t *testing.T, device string) []string {
	t.Helper()
	ds, err := e.st.Desired(context.Background(), device)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, dm := range ds.Modules {
		m, err := wire.ParseManifest(dm.Envelope.Payload)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, m.Name)
	}
	return names
}

// TestUndeploy: POST /api/v1/undeploy removes the module from the desired
// state of the devices selected (a new generation), keeps the device's
// other modules, ends the unfinished deployment there as cancelled, and
// answers what it removed per device.
func TestUndeploy(t *testing.T) {
	e := newUndeployEnv(t)
	d := e.deploy(t, "orders", "dev-00", "dev-01")
	e.deploy(t, "telemetry", "dev-00")
	before, err := e.st.Desired(context.Background(), "dev-00")
	if err != nil {
		t.Fatal(err)
	}
	code, body := e.post(t, "/api/v1/undeploy", e.admin, wire.UndeployRequest{Module: "orders", Targets: wire.Targets{Nodes: []string{"dev-00"}}})
	if code != http.StatusOK {
		t.Fatalf("undeploy: %d %s, want 200", code, body)
	}
	// The answer is a wire.UndeployResult (it was a wire.Plan, with an
	// epoch and sources that mean nothing for an undeploy).
	var p wire.UndeployResult
	if err := wire.Decode([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Devices) != 1 || p.Devices[0].Device != "dev-00" ||
		p.Devices[0].Removed.Version != "1.0.0" || p.Devices[0].Removed.Deployment != d.ID || strings.Contains(body, `"epoch"`) {
		t.Fatalf("answer: got %s, want dev-00 with orders 1.0.0 of %s removed", body, d.ID)
	}
	if got, want := e.modules(t, "dev-00"), []string{"telemetry"}; !slices.Equal(got, want) {
		t.Errorf("dev-00 desired modules: got %v, want %v", got, want)
	}
	if got, want := e.modules(t, "dev-01"), []string{"orders"}; !slices.Equal(got, want) {
		t.Errorf("dev-01 (not selected) desired modules: got %v, want %v", got, want)
	}
	after, _ := e.st.Desired(context.Background(), "dev-00")
	if after.Generation <= before.Generation {
		t.Errorf("dev-00 generation: got %d, want above %d", after.Generation, before.Generation)
	}
	dep, err := e.st.Deployment(context.Background(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, dev := range dep.Devices {
		want := wire.StatePending
		if dev.Device == "dev-00" {
			want = wire.StateCancelled
		}
		if dev.State != want {
			t.Errorf("deployment %s on %s: got %s, want %s", d.ID, dev.Device, dev.State, want)
		}
	}
}

// TestUndeployRefused: a module not in a selected device's desired state
// (404, naming the device), a live rollout of the module (409, naming the
// rollout and its abort), a read token (403) and a malformed request
// (400) change nothing.
func TestUndeployRefused(t *testing.T) {
	e := newUndeployEnv(t)
	e.deploy(t, "orders", "dev-00", "dev-01")
	env := e.envelope(t, "telemetry", "1.0.0", "dev-00", "dev-01", "dev-02")
	code, body := e.post(t, "/api/v1/rollouts", e.admin, wire.RolloutRequest{Envelope: env, Waves: []string{"1", "100%"}})
	if code != http.StatusCreated {
		t.Fatalf("create rollout: %d %s", code, body)
	}
	var ro wire.Rollout
	if err := json.Unmarshal([]byte(body), &ro); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		token string
		req   any
		code  int
		says  []string
	}{
		{"not on one device", e.admin, wire.UndeployRequest{Module: "orders", Targets: wire.Targets{Nodes: []string{"dev-00", "dev-03"}}},
			http.StatusNotFound, []string{"orders is not in the desired state of dev-03", "nothing was changed"}},
		{"misspelt", e.admin, wire.UndeployRequest{Module: "ordres", Targets: wire.Targets{Nodes: []string{"dev-00"}}},
			http.StatusNotFound, []string{"ordres", "dev-00"}},
		{"live rollout", e.admin, wire.UndeployRequest{Module: "telemetry", Targets: wire.Targets{Nodes: []string{"dev-00"}}},
			http.StatusConflict, []string{"rollout " + ro.ID, "edgectl rollout abort " + ro.ID}},
		{"read token", e.read, wire.UndeployRequest{Module: "orders", Targets: wire.Targets{Nodes: []string{"dev-00"}}},
			http.StatusForbidden, nil},
		{"no targets", e.admin, wire.UndeployRequest{Module: "orders"}, http.StatusBadRequest, nil},
		{"unknown device", e.admin, wire.UndeployRequest{Module: "orders", Targets: wire.Targets{Nodes: []string{"dev-99"}}},
			http.StatusBadRequest, []string{"dev-99"}},
		{"a plan's fields", e.admin, map[string]any{"module": "orders", "rollback": true, "targets": wire.Targets{Nodes: []string{"dev-00"}}},
			http.StatusBadRequest, []string{"rollback"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := e.post(t, "/api/v1/undeploy", tt.token, tt.req)
			if code != tt.code {
				t.Fatalf("got %d %s, want %d", code, body, tt.code)
			}
			for _, s := range tt.says {
				if !strings.Contains(body, s) {
					t.Errorf("answer %s does not say %q", body, s)
				}
			}
			for _, dev := range []string{"dev-00", "dev-01"} {
				if got := e.modules(t, dev); !slices.Contains(got, "orders") {
					t.Errorf("%s lost orders: desired modules %v", dev, got)
				}
			}
		})
	}
}

// TestErrorsReadable: errors name labels as K=V pairs and devices as a
// comma-separated list, never in Go syntax (map[site:nowhere],
// [dev-02 dev-03]).
func TestErrorsReadable(t *testing.T) {
	e := newUndeployEnv(t)
	e.deploy(t, "orders", "dev-00")
	tests := []struct {
		name, path string
		req        any
		code       int
		says       string
	}{
		{"labels match nothing", "/api/v1/plan", wire.PlanRequest{Module: "orders",
			Targets: wire.Targets{Labels: map[string]string{"site": "nowhere", "ring": "canary"}}},
			http.StatusBadRequest, "ring=canary, site=nowhere"},
		{"undeploy by labels that match nothing", "/api/v1/undeploy", wire.UndeployRequest{Module: "orders",
			Targets: wire.Targets{Labels: map[string]string{"site": "nowhere"}}},
			http.StatusBadRequest, "labels site=nowhere"},
		{"rollback with nothing to go back to", "/api/v1/plan", wire.PlanRequest{Module: "orders", Rollback: true,
			Targets: wire.Targets{Nodes: []string{"dev-00", "dev-02", "dev-03"}}},
			http.StatusNotFound, "dev-00 serves no version of orders; the last push of orders there, 1.0.0 (deployment "},
	}
	for _, tt := range tests {
		code, body := e.post(t, tt.path, e.admin, tt.req)
		if code != tt.code || !strings.Contains(body, tt.says) || strings.Contains(body, "map[") || strings.Contains(body, "[dev") {
			t.Errorf("%s: %d %s, want %d saying %q in no Go syntax", tt.name, code, body, tt.code, tt.says)
		}
	}
}
