package ociwasm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/edgeplane/edge/tests/harness"
	"github.com/edgeplane/edge/wire"
)

// module returns a small core Wasm module made distinct by tag.
func module(tag string) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	// A custom section named tag.
	payload := append([]byte{byte(len(tag))}, tag...)
	return append(append(b, 0, byte(len(payload))), payload...)
}

func mustRef(t *testing.T, s string) Reference {
	t.Helper()
	r, err := ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newClient(t *testing.T, o Options) *Client {
	t.Helper()
	c, err := NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPublishResolveFetch(t *testing.T) {
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	ctx := context.Background()
	c := newClient(t, Options{})
	mod := module("v1")
	ref := mustRef(t, "oci://"+reg.Addr+"/edge/orders:1.0.0")
	pub, err := c.Publish(ctx, ref, mod, "orders", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(mod)
	if pub.Module.SHA256 != hex.EncodeToString(sum[:]) || pub.Module.Size != int64(len(mod)) {
		t.Errorf("published layer %+v, want sha256 %x size %d", pub.Module, sum, len(mod))
	}
	got, err := c.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if got != pub {
		t.Errorf("Resolve = %+v, want %+v", got, pub)
	}
	data, err := c.ReadModule(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, mod) {
		t.Errorf("ReadModule = %x, want %x", data, mod)
	}
	// The manifest as the layout wants it, read raw.
	req, _ := http.NewRequest(http.MethodGet, "http://"+reg.Addr+"/v2/edge/orders/manifests/1.0.0", nil)
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m ocispec.Manifest
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if m.MediaType != ocispec.MediaTypeImageManifest || m.Config.MediaType != ConfigMediaType || len(m.Layers) != 1 ||
		m.Layers[0].MediaType != LayerMediaType || m.ArtifactType != "" || m.Annotations[ocispec.AnnotationTitle] != "orders" {
		t.Errorf("manifest %+v: not the Wasm OCI layout", m)
	}

	// Publishing another module to the same tag moves it: the tag
	// resolves to the new manifest, the pinned reference still reaches
	// the first.
	mod2 := module("v2")
	pub2, err := c.Publish(ctx, ref, mod2, "orders", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Resolve(ctx, ref); err != nil || got.Manifest != pub2.Manifest {
		t.Errorf("after the tag moved: Resolve = %+v, %v; want manifest %s", got, err, pub2.Manifest)
	}
	// The pinned reference still reaches the first artifact.
	if data, err := c.ReadModule(ctx, pub); err != nil || !bytes.Equal(data, mod) {
		t.Errorf("pinned first artifact after the tag moved: %x, %v", data, err)
	}
	// Fetch refuses a layer that is not the signed one.
	if _, err := c.Fetch(ctx, pub.Ref, pub2.Module.SHA256, pub2.Module.Size); !errors.Is(err, ErrDigest) {
		t.Errorf("Fetch with another module's digest: %v, want ErrDigest", err)
	}
	if _, err := c.Fetch(ctx, ref, pub.Module.SHA256, pub.Module.Size); !errors.Is(err, ErrReference) {
		t.Errorf("Fetch by tag: %v, want ErrReference", err)
	}
}

func TestRegistryErrors(t *testing.T) {
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	ctx := context.Background()
	c := newClient(t, Options{})
	if _, err := c.Resolve(ctx, mustRef(t, "oci://"+reg.Addr+"/edge/none:1")); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing repository: %v, want ErrNotFound", err)
	}
	ref := mustRef(t, "oci://"+reg.Addr+"/edge/orders:1")
	if _, err := c.Publish(ctx, ref, module("x"), "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resolve(ctx, mustRef(t, "oci://"+reg.Addr+"/edge/orders:2")); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "orders:2") {
		t.Errorf("missing tag: %v, want ErrNotFound naming the tag", err)
	}
	if _, err := c.Resolve(ctx, mustRef(t, "oci://"+reg.Addr+"/edge/orders@sha256:"+hex64)); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing digest: %v, want ErrNotFound", err)
	}

	// A container image (or anything else) is refused with what it is.
	imgRef := mustRef(t, "oci://"+reg.Addr+"/edge/image:1")
	pushManifest(t, reg.Addr, "edge/image", "1", ocispec.MediaTypeImageConfig, []byte("{}"), ocispec.MediaTypeImageLayerGzip, []byte("not a tar"))
	if _, err := c.Resolve(ctx, imgRef); !errors.Is(err, ErrMediaType) || !strings.Contains(err.Error(), ocispec.MediaTypeImageLayerGzip) {
		t.Errorf("image: %v, want ErrMediaType naming its layer type", err)
	}

	// The registry goes down.
	reg.Stop(t)
	start := time.Now()
	if _, err := c.Resolve(ctx, ref); !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("registry down: %v, want ErrUnreachable: connection refused", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("registry down took %v to report", d)
	}
}

// pushManifest pushes an artifact of any layout with oras-go's plain
// calls, for the refusals.
func pushManifest(t *testing.T, addr, repoName, tag, configType string, cfg []byte, layerType string, layer []byte) {
	t.Helper()
	ctx := context.Background()
	c := newClient(t, Options{})
	r := Reference{Registry: addr, Repository: repoName, Tag: tag}
	repo, err := c.repository(r)
	if err != nil {
		t.Fatal(err)
	}
	cd := content.NewDescriptorFromBytes(configType, cfg)
	ld := content.NewDescriptorFromBytes(layerType, layer)
	for _, b := range []struct {
		d ocispec.Descriptor
		b []byte
	}{{cd, cfg}, {ld, layer}} {
		if err := pushBlob(ctx, repo, b.d, b.b); err != nil {
			t.Fatal(err)
		}
	}
	m, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{ld}})
	if err := repo.PushReference(ctx, content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, m), bytes.NewReader(m), tag); err != nil {
		t.Fatal(err)
	}
}

// TestLyingRegistry puts a proxy in front of a real registry that changes
// the module's bytes: Fetch fails at the end of the bytes with ErrDigest.
func TestLyingRegistry(t *testing.T) {
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	ctx := context.Background()
	mod := module("honest")
	pub, err := newClient(t, Options{}).Publish(ctx, mustRef(t, "oci://"+reg.Addr+"/edge/orders:1"), mod, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	proxy := harness.LyingRegistry(t, reg.Addr, "sha256:"+pub.Module.SHA256)
	c := newClient(t, Options{})
	rc, err := c.Fetch(ctx, pub.Ref.onRegistry(proxy), pub.Module.SHA256, pub.Module.Size)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, ErrDigest) {
		t.Errorf("reading changed bytes: %v, want ErrDigest", err)
	}
}

func (r Reference) onRegistry(addr string) Reference { r.Registry = addr; return r }

func TestBasicAuth(t *testing.T) {
	reg := harness.StartRegistry(t, harness.RegistryOptions{User: "op", Password: "s3cret"})
	ctx := context.Background()
	ref := mustRef(t, "oci://"+reg.Addr+"/edge/orders:1")
	if _, err := newClient(t, Options{}).Publish(ctx, ref, module("a"), "", time.Now()); !errors.Is(err, ErrAuth) {
		t.Errorf("anonymous push to a registry that wants a password: %v, want ErrAuth", err)
	}
	if _, err := newClient(t, Options{Username: "op", Password: "wrong"}).Resolve(ctx, ref); !errors.Is(err, ErrAuth) {
		t.Errorf("wrong password: %v, want ErrAuth", err)
	}
	pub, err := newClient(t, Options{Username: "op", Password: "s3cret"}).Publish(ctx, ref, module("a"), "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The same from a docker config.json, as docker login writes it.
	cfg := filepath.Join(t.TempDir(), "config.json")
	auth := map[string]any{"auths": map[string]any{reg.Addr: map[string]string{"auth": "b3A6czNjcmV0"}}} // op:s3cret
	b, _ := json.Marshal(auth)
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, Options{ConfigFile: cfg})
	if data, err := c.ReadModule(ctx, pub); err != nil || !bytes.Equal(data, module("a")) {
		t.Errorf("with config.json: %x, %v", data, err)
	}
}

func TestParseManifest(t *testing.T) {
	layer := func(mt string, size int64) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: mt, Digest: "sha256:" + hex64, Size: size}
	}
	cfg := ocispec.Descriptor{MediaType: ConfigMediaType, Digest: "sha256:" + hex64, Size: 2}
	enc := func(m ocispec.Manifest) []byte { b, _ := json.Marshal(m); return b }
	ok := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{layer(LayerMediaType, 10)}}
	with := func(f func(*ocispec.Manifest)) []byte {
		m := ok
		m.Layers = append([]ocispec.Descriptor(nil), ok.Layers...)
		f(&m)
		return enc(m)
	}
	tests := []struct {
		name string
		data []byte
		err  error
	}{
		{"ok", enc(ok), nil},
		{"not json", []byte("{"), ErrMediaType},
		{"index", with(func(m *ocispec.Manifest) { m.MediaType = ocispec.MediaTypeImageIndex }), ErrMediaType},
		{"schema 1", with(func(m *ocispec.Manifest) { m.SchemaVersion = 1 }), ErrMediaType},
		{"image config", with(func(m *ocispec.Manifest) { m.Config.MediaType = ocispec.MediaTypeImageConfig }), ErrMediaType},
		{"spin layer", with(func(m *ocispec.Manifest) { m.Layers[0].MediaType = "application/vnd.wasm.content.layer.v1+wasm" }), ErrMediaType},
		{"two layers", with(func(m *ocispec.Manifest) { m.Layers = append(m.Layers, layer(LayerMediaType, 1)) }), ErrMediaType},
		{"no layer", with(func(m *ocispec.Manifest) { m.Layers = nil }), ErrMediaType},
		{"sha512", with(func(m *ocispec.Manifest) { m.Layers[0].Digest = "sha512:" + hex64 + hex64 }), ErrMediaType},
		{"too large", with(func(m *ocispec.Manifest) { m.Layers[0].Size = wire.MaxModuleSize + 1 }), ErrTooLarge},
		{"empty", with(func(m *ocispec.Manifest) { m.Layers[0].Size = 0 }), ErrTooLarge},
	}
	for _, tt := range tests {
		_, err := parseManifest(ocispec.MediaTypeImageManifest, tt.data)
		if (tt.err == nil && err != nil) || (tt.err != nil && !errors.Is(err, tt.err)) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.err)
		}
	}
}

// FuzzParseManifest: a registry's manifest bytes either fail with one of
// the package's errors or give a module layer within the limits.
func FuzzParseManifest(f *testing.F) {
	cfg := ocispec.Descriptor{MediaType: ConfigMediaType, Digest: "sha256:" + hex64, Size: 2}
	ok, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg,
		Layers: []ocispec.Descriptor{{MediaType: LayerMediaType, Digest: "sha256:" + hex64, Size: 10}}})
	f.Add(ok)
	f.Add([]byte(`{"schemaVersion":2,"layers":[{"mediaType":"application/wasm","digest":"sha256:00","size":-1}]}`))
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := parseManifest(ocispec.MediaTypeImageManifest, b)
		if err != nil {
			if !errors.Is(err, ErrMediaType) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("parseManifest(%q): %v is neither ErrMediaType nor ErrTooLarge", b, err)
			}
			return
		}
		if len(l.SHA256) != 64 || l.Size <= 0 || l.Size > wire.MaxModuleSize {
			t.Fatalf("parseManifest(%q) = %+v", b, l)
		}
	})
}
