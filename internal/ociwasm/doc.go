// Package ociwasm moves core WebAssembly modules through OCI registries
// (Docker Hub, GHCR, Harbor, a distribution "registry:2", ...) for edgectl
// and edge-control, using oras-go for the distribution protocol,
// authentication and credential stores. The agent never links it: boards
// keep fetching modules from the controller over MQTT.
//
// # Artifact layout
//
// An artifact is laid out as the CNCF TAG Runtime's Wasm OCI artifact
// layout describes it (the layout of wasmCloud's "wash push" and the
// Bytecode Alliance's wkg / oci-wasm): an OCI image manifest
// (application/vnd.oci.image.manifest.v1+json) without artifactType, whose
// config has media type application/vnd.wasm.config.v0+json
//
//	{"created": "...", "architecture": "wasm", "os": "wasip1", "layerDigests": ["sha256:..."]}
//
// and whose one layer is the module itself, media type application/wasm.
// The layer's digest is then the sha256 of the module's bytes: the same
// digest a signed wire.Manifest names, so "the module the operator signed"
// and "the layer the registry holds" are one content address. Spin's
// application layout (a spin.toml config and layers of type
// application/vnd.wasm.content.layer.v1+wasm) is a different thing: an
// application of several components, not one module; it is refused with
// the media types found (ErrMediaType).
//
// # Trust
//
// The registry is not trusted. Every manifest and blob read is checked
// against its digest (a registry that serves other bytes is refused,
// ErrDigest); Fetch takes the digest the operator signed and refuses a
// layer that names another. Tags are only resolved once, by edgectl before
// it signs; everything after is addressed by digest, so moving a tag
// between the operator's resolve and the controller's pull changes
// nothing.
//
// # References and transport
//
//	oci://REGISTRY[:PORT]/REPOSITORY:TAG
//	oci://REGISTRY[:PORT]/REPOSITORY@sha256:HEX
//
// A tag or a digest is required (no implicit "latest": an operator signs
// a named thing). Registries are spoken to over HTTPS; plain HTTP only for
// a loopback registry (localhost, 127.0.0.0/8, ::1) or a host listed in
// Options.PlainHTTP. Credentials come from a Docker config.json (its auths,
// credsStore and credHelpers, as docker login writes them) or from
// Options.Username/Password/Token, which win for every registry; without
// any, requests are anonymous. Basic and bearer-token challenges are
// answered as the registry asks (oras-go's auth.Client).
package ociwasm
