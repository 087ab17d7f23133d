package wire

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Schema numbers of Manifest. Verifiers refuse unknown fields, so adding a
// field means a new schema number (and agents that know it) rather than a
// silently ignored field.
//
//	1  the first manifest
//	2  adds Epoch (an operator's rollback); agents that know only 1 refuse
//	   it with "schema 2, want 1"
//	3  adds the platform capabilities (platform.go): messaging and
//	   triggers, key-value state, calls to other modules. Agents that know
//	   only 1 and 2 refuse it with "schema 3, want 1 or 2"
//
// A manifest takes the lowest schema that carries it (SchemaFor,
// Manifest.LowestSchema): a push with epoch 0 and no platform capability
// stays schema 1, which every agent reads.
const (
	ManifestSchema         = 1
	ManifestSchemaEpoch    = 2
	ManifestSchemaPlatform = 3
)

// SchemaFor returns the lowest schema number that can carry a manifest
// with the given epoch.
func SchemaFor(epoch uint64) int {
	if epoch == 0 {
		return ManifestSchema
	}
	return ManifestSchemaEpoch
}

// Manifest describes one signed module version. Its exact JSON bytes are what
// edgectl signs (see Envelope); nothing in it is re-encoded before
// verification.
type Manifest struct {
	Schema  int       `json:"schema"`
	Name    string    `json:"name"`
	Version string    `json:"version"` // semantic version, e.g. "1.4.0"
	SHA256  string    `json:"sha256"`  // hex digest of the raw module bytes
	Size    int64     `json:"size"`    // raw module bytes
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	KeyID   string    `json:"key_id"`
	// Epoch orders this module's statements before Version does, like
	// Debian's and RPM's epoch: an agent accepts a manifest only when its
	// (epoch, version) is above the highest it committed (or equal, with
	// the same bytes and settings). A normal push carries the module's
	// current epoch; an operator's rollback to an older version is a new
	// statement one epoch higher (edgectl rollback), which replays of
	// anything signed before it can never match. Schema 2; 0 (omitted)
	// in schema 1.
	Epoch uint64 `json:"epoch,omitempty"`

	Targets      Targets           `json:"targets"`
	Port         int               `json:"port,omitempty"`    // TCP port the agent serves the module on
	Bindings     Bindings          `json:"bindings,omitzero"` // what the module may reach
	Limits       Limits            `json:"limits,omitzero"`   // zero values: the agent's defaults
	Capabilities Capabilities      `json:"capabilities,omitzero"`
	Config       map[string]string `json:"config,omitempty"` // values for config_get
	Probe        Probe             `json:"probe,omitzero"`

	// Messaging and timers (schema 3; messaging.go).
	Messaging Messaging `json:"messaging,omitzero"`
	Timers    []Timer   `json:"timers,omitempty"`
}

// Targets selects devices: a device is targeted when its id is in Nodes or
// when it carries every label in Labels. Both empty targets nobody.
type Targets struct {
	Nodes  []string          `json:"nodes,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Matches reports whether a device with the given id and labels is targeted.
func (t Targets) Matches(id string, labels map[string]string) bool {
	for _, n := range t.Nodes {
		if n == id {
			return true
		}
	}
	if len(t.Labels) == 0 {
		return false
	}
	for k, v := range t.Labels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Bindings name the resources the agent binds to the module. DB is "" (no
// database), "sqlite" (a SQLite file private to the module in the agent's
// data folder) or the name of a database defined in the agent's own
// configuration: credentials stay on the device.
type Bindings struct {
	DB string `json:"db,omitempty"`
}

// Limits bound the module; zero means the agent's default.
type Limits struct {
	MemoryPages uint32 `json:"memory_pages,omitempty"` // 64 KiB Wasm pages per instance
	DeadlineMS  int64  `json:"deadline_ms,omitempty"`  // per request
	BodyBytes   int64  `json:"body_bytes,omitempty"`   // request body
	Pool        int    `json:"pool,omitempty"`         // warm instances
}

// Capabilities grant host imports beyond SQL and logging.
type Capabilities struct {
	HTTPAllow []string `json:"http_allow,omitempty"` // hosts (host or host:port) http_fetch may reach

	// Schema 3 (capabilities.go).
	KV   *KVGrant `json:"kv,omitempty"`   // the key-value store; nil: none
	Call []string `json:"call,omitempty"` // modules on the device the call import may reach
}

// Probe is the health check run before traffic switches to a new version:
// a GET of Path on the new version's private listener, healthy only when
// it answers 2xx (a redirect is not followed and fails).
type Probe struct {
	Path string `json:"path,omitempty"` // default "/"
}

// ProbePath returns the probe path, "/" by default.
func (m *Manifest) ProbePath() string {
	if m.Probe.Path == "" {
		return "/"
	}
	return m.Probe.Path
}

// ErrManifest is wrapped by every manifest validation error.
var ErrManifest = errors.New("invalid manifest")

// Validate checks the manifest's own consistency (not its signature, expiry
// or targeting, which depend on the verifier).
func (m *Manifest) Validate() error {
	var errs []string
	switch {
	case m.Schema < ManifestSchema || m.Schema > ManifestSchemaPlatform:
		errs = append(errs, fmt.Sprintf("schema %d, want %d to %d", m.Schema, ManifestSchema, ManifestSchemaPlatform))
	case m.Schema == ManifestSchema && m.Epoch != 0:
		errs = append(errs, fmt.Sprintf("epoch %d needs schema %d", m.Epoch, ManifestSchemaEpoch))
	case m.Schema < ManifestSchemaPlatform && m.usesPlatform():
		errs = append(errs, fmt.Sprintf("platform capabilities (%s) need schema %d", strings.Join(m.platformFields(), ", "), ManifestSchemaPlatform))
	}
	errs = append(errs, m.validatePlatform()...)
	if err := ValidateModuleName(m.Name); err != nil {
		errs = append(errs, err.Error())
	}
	if !validVersion(m.Version) {
		errs = append(errs, fmt.Sprintf("version %q is not a semantic version like 1.2.3", m.Version))
	}
	if b, err := hex.DecodeString(m.SHA256); err != nil || len(b) != 32 {
		errs = append(errs, fmt.Sprintf("sha256 %q is not 64 hex digits", m.SHA256))
	}
	if m.Size <= 0 || m.Size > MaxModuleSize {
		errs = append(errs, fmt.Sprintf("size %d outside 1..%d", m.Size, MaxModuleSize))
	}
	if m.Created.IsZero() || m.Expires.IsZero() || !m.Expires.After(m.Created) {
		errs = append(errs, "created and expires must be set, expires after created")
	}
	if m.Port < 0 || m.Port > 65535 {
		errs = append(errs, fmt.Sprintf("port %d out of range", m.Port))
	}
	if m.Bindings.DB != "" && m.Bindings.DB != "sqlite" {
		if err := ValidateModuleName(m.Bindings.DB); err != nil {
			errs = append(errs, "database binding: "+err.Error())
		}
	}
	if m.Limits.DeadlineMS < 0 || m.Limits.BodyBytes < 0 || m.Limits.Pool < 0 {
		errs = append(errs, "limits must not be negative")
	}
	if m.Probe.Path != "" && !strings.HasPrefix(m.Probe.Path, "/") {
		errs = append(errs, fmt.Sprintf("probe path %q must start with /", m.Probe.Path))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrManifest, strings.Join(errs, "; "))
	}
	return nil
}

// validVersion accepts MAJOR.MINOR.PATCH with an optional pre-release
// ("-rc.1") or build ("+meta") suffix. Ordering is the agent's business (it uses a semver library);
// this only keeps garbage out of signed manifests.
func validVersion(v string) bool {
	rest, build, hasBuild := strings.Cut(v, "+")
	core, pre, hasPre := strings.Cut(rest, "-")
	if (hasBuild && !validIdents(build)) || (hasPre && !validIdents(pre)) {
		return false
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || (len(p) > 1 && p[0] == '0') || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// validIdents checks dot-separated pre-release or build identifiers: each
// non-empty, of [0-9A-Za-z-].
func validIdents(s string) bool {
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		for _, c := range id {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
				return false
			}
		}
	}
	return true
}
