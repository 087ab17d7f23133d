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
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edge/control/auth"
	"github.com/edgeplane/edge/control/fleet"
	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// gatedPublisher blocks every publish until open is closed, then records
// the desired states' topics.
type gatedPublisher struct {
	open chan struct{}
	once sync.Once
	mu   sync.Mutex
	got  map[string]bool
}

func (g *gatedPublisher) release() { g.once.Do(func() { close(g.open) }) }

func (g *gatedPublisher) Publish(ctx context.Context, topic string, _ byte, _ bool, _ []byte) error {
	select {
	case <-g.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.mu.Lock()
	g.got[topic] = true
	g.mu.Unlock()
	return nil
}

func (g *gatedPublisher) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.got)
}

// TestDeployDoesNotWaitForPublishes: POST /api/v1/deployments answers once
// the deployment and the desired states are stored, while the broker takes
// none of the publishes (each used to be awaited on the request's path);
// every targeted device's state is published when the broker answers.
func TestDeployDoesNotWaitForPublishes(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	const devices = 50
	for i := range devices {
		if err := st.SetCredential(ctx, fmt.Sprintf("dev-%02d", i), []byte("x"), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	module := []byte("\x00asm\x01\x00\x00\x00")
	sum := sha256.Sum256(module)
	sha := hex.EncodeToString(sum[:])
	if _, _, err := st.PutBlob(ctx, sha, module, time.Now()); err != nil {
		t.Fatal(err)
	}
	pub := &gatedPublisher{open: make(chan struct{}), got: map[string]bool{}}
	log := slog.New(slog.DiscardHandler)
	f := fleet.New(fleet.Config{Store: st, Publisher: pub, Logger: log})
	if err := f.Load(ctx); err != nil { // leads: alone on its database
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { f.Run(runCtx); close(done) }()
	t.Cleanup(func() { pub.release(); stop(); <-done })
	h := New(st, f, log, Options{})
	token := issue(t, h, "admin", auth.RoleAdmin)
	srv := httptest.NewServer(h)
	defer srv.Close()

	pk, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	env, err := wire.Sign(&wire.Manifest{Schema: wire.ManifestSchema, Name: "orders", Version: "1.0.0",
		SHA256: sha, Size: int64(len(module)), Created: now, Expires: now.Add(time.Hour), Port: 8081,
		Targets: wire.Targets{Nodes: nodes(devices)}, KeyID: wire.KeyID(pk)}, key)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(wire.DeployRequest{Envelope: *env})
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/deployments", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("POST /api/v1/deployments with the broker not answering: %v (the request waited for the publishes)", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/v1/deployments: %s, want 201 Created", resp.Status)
	}
	if n := pub.count(); n != 0 {
		t.Fatalf("%d publishes taken while the broker was blocked", n)
	}
	pub.release()
	for deadline := time.Now().Add(5 * time.Second); pub.count() < devices; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d desired states published after the broker answered", pub.count(), devices)
		}
	}
}

func nodes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("dev-%02d", i)
	}
	return out
}
