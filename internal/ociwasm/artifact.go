package ociwasm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/edgeplane/edge/wire"
)

// Media types of the artifact layout (package doc).
const (
	manifestMediaType = ocispec.MediaTypeImageManifest
	ConfigMediaType   = "application/vnd.wasm.config.v0+json"
	LayerMediaType    = "application/wasm"
)

// maxManifestSize bounds a manifest read from a registry; a Wasm
// artifact's is under 1 KiB.
const maxManifestSize = 64 << 10

// wasmConfig is the config blob of the layout.
type wasmConfig struct {
	Created      time.Time `json:"created"`
	Architecture string    `json:"architecture"`
	OS           string    `json:"os"`
	LayerDigests []string  `json:"layerDigests"`
}

// Artifact is a resolved module artifact: its manifest's digest and the
// module layer it names.
type Artifact struct {
	Ref      Reference // pinned to Manifest
	Manifest string    // sha256:...
	Module   Layer
}

// Layer is the module layer of an artifact.
type Layer struct {
	SHA256 string // hex, no algorithm prefix: the digest a wire.Manifest names
	Size   int64
}

func (l Layer) descriptor() ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: LayerMediaType, Digest: digest.NewDigestFromEncoded(digest.SHA256, l.SHA256), Size: l.Size}
}

// Publish pushes module to ref (a tag, or a digest the manifest must
// have) as a Wasm artifact and returns it, pinned to its digest. title
// goes in the manifest's org.opencontainers.image.title annotation.
func (c *Client) Publish(ctx context.Context, ref Reference, module []byte, title string, created time.Time) (Artifact, error) {
	repo, err := c.repository(ref)
	if err != nil {
		return Artifact{}, err
	}
	layer := content.NewDescriptorFromBytes(LayerMediaType, module)
	created = created.UTC().Truncate(time.Second)
	cfg, err := json.Marshal(wasmConfig{Created: created, Architecture: "wasm", OS: "wasip1", LayerDigests: []string{layer.Digest.String()}})
	if err != nil {
		return Artifact{}, fmt.Errorf("encode wasm config: %w", err)
	}
	config := content.NewDescriptorFromBytes(ConfigMediaType, cfg)
	for _, b := range []struct {
		desc ocispec.Descriptor
		data []byte
	}{{config, cfg}, {layer, module}} {
		if err := pushBlob(ctx, repo, b.desc, b.data); err != nil {
			return Artifact{}, classify(ref, "publish", err)
		}
	}
	annotations := map[string]string{ocispec.AnnotationCreated: created.Format(time.RFC3339)}
	if title != "" {
		annotations[ocispec.AnnotationTitle] = title
	}
	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   manifestMediaType,
		Config:      config,
		Layers:      []ocispec.Descriptor{layer},
		Annotations: annotations,
	})
	if err != nil {
		return Artifact{}, fmt.Errorf("encode manifest: %w", err)
	}
	desc := content.NewDescriptorFromBytes(manifestMediaType, manifest)
	if ref.Digest != "" && ref.Digest != desc.Digest.String() {
		return Artifact{}, fmt.Errorf("publish %s: the manifest's digest is %s: publish to a tag", ref, desc.Digest)
	}
	if err := repo.PushReference(ctx, desc, bytes.NewReader(manifest), ref.reference()); err != nil {
		return Artifact{}, classify(ref, "publish", err)
	}
	return Artifact{Ref: ref.Pinned(desc.Digest.String()), Manifest: desc.Digest.String(),
		Module: Layer{SHA256: layer.Digest.Encoded(), Size: layer.Size}}, nil
}

// pushBlob pushes a blob the repository does not have yet.
func pushBlob(ctx context.Context, repo interface {
	content.Pusher
	Exists(context.Context, ocispec.Descriptor) (bool, error)
}, desc ocispec.Descriptor, data []byte) error {
	ok, err := repo.Exists(ctx, desc)
	if err != nil || ok {
		return err
	}
	return repo.Push(ctx, desc, bytes.NewReader(data))
}

// Resolve reads the manifest ref names (a tag is resolved once, here),
// checks it against its digest and the artifact layout, and returns the
// artifact pinned to the manifest's digest.
func (c *Client) Resolve(ctx context.Context, ref Reference) (Artifact, error) {
	repo, err := c.repository(ref)
	if err != nil {
		return Artifact{}, err
	}
	desc, rc, err := repo.FetchReference(ctx, ref.reference())
	if err != nil {
		return Artifact{}, classify(ref, "resolve", err)
	}
	defer rc.Close()
	if ref.Digest != "" && desc.Digest.String() != ref.Digest {
		return Artifact{}, classify(ref, "resolve", fmt.Errorf("%w: asked for manifest %s, the registry answered %s", ErrDigest, ref.Digest, desc.Digest))
	}
	if desc.Size > maxManifestSize {
		return Artifact{}, classify(ref, "resolve", fmt.Errorf("%w: manifest of %d bytes (limit %d)", ErrTooLarge, desc.Size, maxManifestSize))
	}
	data, err := content.ReadAll(rc, desc)
	if err != nil {
		return Artifact{}, classify(ref, "resolve", fmt.Errorf("%w: manifest %s: %v", ErrDigest, desc.Digest, err))
	}
	layer, err := parseManifest(desc.MediaType, data)
	if err != nil {
		return Artifact{}, classify(ref, "resolve", err)
	}
	return Artifact{Ref: ref.Pinned(desc.Digest.String()), Manifest: desc.Digest.String(), Module: layer}, nil
}

// parseManifest checks a manifest against the artifact layout and returns
// its module layer.
func parseManifest(mediaType string, data []byte) (Layer, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return Layer{}, fmt.Errorf("%w: manifest is not JSON: %v", ErrMediaType, err)
	}
	if m.MediaType != "" {
		mediaType = m.MediaType
	}
	var layerTypes []string
	for _, l := range m.Layers {
		layerTypes = append(layerTypes, l.MediaType)
	}
	switch {
	case mediaType != manifestMediaType:
		return Layer{}, fmt.Errorf("%w: manifest media type %q, want %s", ErrMediaType, mediaType, manifestMediaType)
	case m.SchemaVersion != 2:
		return Layer{}, fmt.Errorf("%w: manifest schemaVersion %d, want 2", ErrMediaType, m.SchemaVersion)
	case m.Config.MediaType != ConfigMediaType || len(m.Layers) != 1 || m.Layers[0].MediaType != LayerMediaType:
		return Layer{}, fmt.Errorf("%w: config %q and layers %q; want config %s and one layer %s",
			ErrMediaType, m.Config.MediaType, layerTypes, ConfigMediaType, LayerMediaType)
	}
	l := m.Layers[0]
	if err := l.Digest.Validate(); err != nil || l.Digest.Algorithm() != digest.SHA256 {
		return Layer{}, fmt.Errorf("%w: layer digest %q: want sha256", ErrMediaType, l.Digest)
	}
	if l.Size <= 0 || l.Size > wire.MaxModuleSize {
		return Layer{}, fmt.Errorf("%w: module layer of %d bytes (limit %d MiB)", ErrTooLarge, l.Size, wire.MaxModuleSize>>20)
	}
	return Layer{SHA256: l.Digest.Encoded(), Size: l.Size}, nil
}

// Fetch resolves ref (pinned to a digest, as Resolve returns it), checks
// that its module layer is the one signed (sha256 and size), and returns
// a reader of the module. The reader fails with ErrDigest at its end if
// the bytes do not hash to sha256 or are not size long; callers must read
// it to io.EOF before they trust any of it.
func (c *Client) Fetch(ctx context.Context, ref Reference, sha256 string, size int64) (io.ReadCloser, error) {
	if ref.Digest == "" {
		return nil, fmt.Errorf("fetch %s: %w: pin the manifest by digest", ref, ErrReference)
	}
	a, err := c.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	if a.Module.SHA256 != sha256 || a.Module.Size != size {
		return nil, classify(ref, "fetch", fmt.Errorf("%w: its module layer is sha256 %s (%d bytes), the signed manifest names sha256 %s (%d bytes)",
			ErrDigest, a.Module.SHA256, a.Module.Size, sha256, size))
	}
	repo, err := c.repository(ref)
	if err != nil {
		return nil, err
	}
	desc := a.Module.descriptor()
	rc, err := repo.Blobs().Fetch(ctx, desc)
	if err != nil {
		return nil, classify(ref, "fetch module layer of", err)
	}
	return &verifyReader{rc: rc, vr: content.NewVerifyReader(rc, desc), ref: ref, size: desc.Size}, nil
}

// verifyReader turns content's verification errors into ErrDigest.
type verifyReader struct {
	rc   io.ReadCloser
	vr   *content.VerifyReader
	ref  Reference
	size int64
	eof  bool
}

func (v *verifyReader) Read(p []byte) (int, error) {
	if v.eof {
		return 0, io.EOF
	}
	n, err := v.vr.Read(p)
	if err == io.EOF {
		if verr := v.vr.Verify(); verr != nil {
			return n, classify(v.ref, "fetch", fmt.Errorf("%w: module layer: %v", ErrDigest, verr))
		}
		v.eof = true
		return n, io.EOF
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return n, classify(v.ref, "fetch", fmt.Errorf("%w: the module layer ended before its %d bytes", ErrUnreachable, v.size))
	}
	if err != nil {
		return n, classify(v.ref, "fetch module layer of", err)
	}
	return n, nil
}

func (v *verifyReader) Close() error { return v.rc.Close() }

// ReadModule fetches and verifies the whole module (edgectl, before it
// signs).
func (c *Client) ReadModule(ctx context.Context, a Artifact) ([]byte, error) {
	rc, err := c.Fetch(ctx, a.Ref, a.Module.SHA256, a.Module.Size)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	return data, nil
}
