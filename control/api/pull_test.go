package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/control/auth"
	"github.com/edgeplane/edge/control/fleet"
	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/internal/ociwasm"
	"github.com/edgeplane/edge/tests/harness"
	"github.com/edgeplane/edge/wire"
)

// pullEnv is the API with a registry client, a real registry and a module
// published there.
type pullEnv struct {
	h     *Handler
	token string // admin
	st    *store.Store
	dir   string
	reg   *harness.Registry
	cl    *ociwasm.Client
	pub   ociwasm.Artifact
	bytes []byte
}

func newPullEnv(t *testing.T, quota int64) *pullEnv {
	t.Helper()
	ctx := context.Background()
	e := &pullEnv{dir: t.TempDir(), reg: harness.StartRegistry(t, harness.RegistryOptions{})}
	st, err := store.Open(ctx, e.dir, store.Options{BlobQuota: quota})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	if e.cl, err = ociwasm.NewClient(ociwasm.Options{}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	e.h = New(st, fleet.New(fleet.Config{Store: st, Logger: log}), log, Options{Registry: e.cl})
	e.token = issue(t, e.h, "admin", auth.RoleAdmin)
	e.bytes = append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Repeat([]byte{0, 3, 2, 'x', 'y'}, 2000)...)
	ref, _ := ociwasm.ParseReference("oci://" + e.reg.Addr + "/edge/orders:1.0.0")
	if e.pub, err = e.cl.Publish(ctx, ref, e.bytes, "orders", time.Now()); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *pullEnv) pull(t *testing.T, sha, source string, size int64) (int, string) {
	t.Helper()
	body, _ := json.Marshal(wire.BlobPullRequest{Source: source, Size: size})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/api/v1/blobs/"+sha+"/pull", bytes.NewReader(body))
	req.Host = "localhost" // not httptest's example.com, which the controller does not answer to
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	e.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// nothingStored checks that the store has no blob and no file is left in
// its folder, quota included.
func (e *pullEnv) nothingStored(t *testing.T, sha string) {
	t.Helper()
	if _, err := e.st.Blob(context.Background(), sha); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("blob %s: %v, want not found", sha, err)
	}
	if ents, _ := os.ReadDir(e.dir + "/blobs"); len(ents) != 0 {
		t.Errorf("blob folder holds %d file(s) after a refused pull", len(ents))
	}
	if u := e.st.BlobUsage(); u.Stored != 0 || u.Uploading != 0 {
		t.Errorf("blob usage %+v after a refused pull", u)
	}
}

func TestPullBlob(t *testing.T) {
	e := newPullEnv(t, 0)
	sha, size := e.pub.Module.SHA256, e.pub.Module.Size
	code, body := e.pull(t, sha, e.pub.Ref.String(), size)
	if code != http.StatusCreated {
		t.Fatalf("pull: %d %s", code, body)
	}
	ref, err := e.st.Blob(context.Background(), sha)
	if err != nil || ref.Size != size {
		t.Fatalf("stored blob %+v, %v", ref, err)
	}
	var got []byte
	for i := range ref.Chunks {
		c, err := e.st.ReadChunk(ref, i)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, c...)
	}
	if len(got) != int(ref.Stored) {
		t.Errorf("chunks hold %d bytes, want %d", len(got), ref.Stored)
	}
	// Known: answered from the store, the registry is not asked, and the
	// blob's upload time is refreshed as an upload's would be: garbage
	// collection of unreferenced blobs does not take it from under the
	// deployment that follows.
	e.reg.Stop(t)
	later := time.Now().Add(2 * time.Hour)
	e.h.now = func() time.Time { return later }
	if code, body := e.pull(t, sha, e.pub.Ref.String(), size); code != http.StatusOK {
		t.Errorf("pull again with the registry down: %d %s, want 200", code, body)
	}
	removed, _, err := e.st.CollectBlobs(context.Background(), later.Add(-time.Hour))
	if err != nil || len(removed) != 0 {
		t.Errorf("blobs collected after a pull refreshed them: %v, %v", removed, err)
	}
}

func TestPullBlobRefused(t *testing.T) {
	e := newPullEnv(t, 0)
	sha, size := e.pub.Module.SHA256, e.pub.Module.Size
	ctx := context.Background()
	other := append(bytes.Clone(e.bytes), 0, 1, 'z')
	otherRef, _ := ociwasm.ParseReference("oci://" + e.reg.Addr + "/edge/orders:other")
	otherPub, err := e.cl.Publish(ctx, otherRef, other, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	imgSum := sha256.Sum256([]byte("x"))
	tests := []struct {
		name, sha, source string
		size              int64
		code              int
		msg               string
	}{
		{"tag, not digest", sha, "oci://" + e.reg.Addr + "/edge/orders:1.0.0", size, 400, "pin the artifact"},
		{"not oci", sha, "https://" + e.reg.Addr + "/edge/orders", size, 400, "want oci://"},
		{"bad sha", "abc", e.pub.Ref.String(), size, 400, "64 lowercase hex"},
		{"no size", sha, e.pub.Ref.String(), 0, 400, "size 0"},
		{"over the module limit", sha, e.pub.Ref.String(), wire.MaxModuleSize + 1, 413, "limit"},
		{"another module than the signed one", sha, otherPub.Ref.String(), size, 502, "signed manifest names sha256 " + sha},
		{"the signed module, another size", sha, e.pub.Ref.String(), size + 1, 502, "does not match"},
		{"manifest missing", hex.EncodeToString(imgSum[:]), e.pub.Ref.Pinned("sha256:" + hex.EncodeToString(imgSum[:])).String(), size, 502, "not found"},
	}
	for _, tt := range tests {
		code, body := e.pull(t, tt.sha, tt.source, tt.size)
		if code != tt.code || !strings.Contains(body, tt.msg) {
			t.Errorf("%s: %d %s, want %d with %q", tt.name, code, body, tt.code, tt.msg)
		}
	}
	e.nothingStored(t, sha)

	// A registry that serves other bytes under the signed digest.
	lying := harness.LyingRegistry(t, e.reg.Addr, "sha256:"+sha)
	src := e.pub.Ref
	src.Registry = lying
	if code, body := e.pull(t, sha, src.String(), size); code != http.StatusBadGateway || !strings.Contains(body, "does not match") {
		t.Errorf("lying registry: %d %s, want 502 naming the mismatch", code, body)
	}
	e.nothingStored(t, sha)

	// The registry is down.
	e.reg.Stop(t)
	if code, body := e.pull(t, sha, e.pub.Ref.String(), size); code != http.StatusBadGateway || !strings.Contains(body, "connection refused") {
		t.Errorf("registry down: %d %s, want 502 connection refused", code, body)
	}
	e.nothingStored(t, sha)
}

func TestPullBlobQuota(t *testing.T) {
	e := newPullEnv(t, 8<<10) // the module is ~10 KB
	code, body := e.pull(t, e.pub.Module.SHA256, e.pub.Ref.String(), e.pub.Module.Size)
	if code != http.StatusInsufficientStorage || !strings.Contains(body, "quota") {
		t.Errorf("over the quota: %d %s, want 507", code, body)
	}
	e.nothingStored(t, e.pub.Module.SHA256)
}

// TestPullBlobNotAllowed: edge-control --registry-allow keeps pulls to the
// registries it names.
func TestPullBlobNotAllowed(t *testing.T) {
	e := newPullEnv(t, 0)
	cl, err := ociwasm.NewClient(ociwasm.Options{Allow: []string{"ghcr.io"}})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	e.h = New(e.st, fleet.New(fleet.Config{Store: e.st, Logger: log}), log, Options{Registry: cl})
	code, body := e.pull(t, e.pub.Module.SHA256, e.pub.Ref.String(), e.pub.Module.Size)
	if code != http.StatusForbidden || !strings.Contains(body, "not one of ghcr.io") {
		t.Errorf("pull from a registry not allowed: %d %s, want 403", code, body)
	}
	e.nothingStored(t, e.pub.Module.SHA256)
}
