// Package verify holds the agent's checks of a module before anything is
// written and after its bytes arrive. The order is fixed and cheap first;
// everything up to the size check happens before a single chunk is fetched:
//
//  1. signature   wire.Keyring.Verify at store.Now() (trusted time floor):
//     unsigned, unknown key, bad signature, wrong payload type,
//     invalid manifest (incl. size > wire.MaxModuleSize), expired
//  2. target      the manifest names this device or matches its labels
//  3. version     (epoch, version) strictly above the highest committed
//     of the module (epoch first, then semver); the committed
//     statement itself, same digest and settings, is "installed"
//     (duplicate delivery, not a rejection). A lower epoch is a
//     replay of something signed before an operator's rollback.
//  4. quarantine  a manifest that failed here before (these bytes with
//     these settings: store.RunKey) is not retried
//  5. blob ref    consistent with the manifest (sha256, size), within limits
//     ── fetch ──
//  6. content     gunzip bounded to size+1 bytes, then size and sha256
//
// Every failure wraps ErrRejected and one specific sentinel (and the wire
// sentinel underneath, for signature failures), and changes nothing: the
// checks only read the store.
package verify

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/edgeplane/edge/agent/store"
	"github.com/edgeplane/edge/wire"
)

// Sentinels, one per check.
var (
	ErrRejected    = errors.New("module rejected")
	ErrSignature   = errors.New("signature check failed") // wraps the wire.Err* cause
	ErrNotTargeted = errors.New("manifest does not target this device")
	ErrReplay      = errors.New("version not newer than the committed one")
	ErrQuarantined = errors.New("manifest quarantined after an earlier failure")
	ErrTooLarge    = errors.New("declared size over the limit")
	ErrBlobRef     = errors.New("blob reference inconsistent with the manifest")
	ErrTruncated   = errors.New("module bytes shorter than declared")
	ErrOversize    = errors.New("module bytes longer than declared")
	ErrDigest      = errors.New("module sha256 mismatch")
	ErrEncoding    = errors.New("module bytes could not be decoded")
)

// Decision is what to do with a manifest that passed the checks.
type Decision int

const (
	// Install: a new version, fetch and deploy it.
	Install Decision = iota + 1
	// Installed: this exact version and digest is already committed.
	Installed
)

// Verifier checks modules for one device.
type Verifier struct {
	Keys   wire.Keyring
	Device string
	Labels map[string]string
	Store  *store.Store
}

func reject(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrRejected, kind, fmt.Sprintf(format, args...))
}

// Check runs checks 1–5 on a desired module. It reads the store only. It
// lowercases the digests in dm.Blob (wire accepts both cases).
func (v *Verifier) Check(dm *wire.DesiredModule) (*wire.Manifest, Decision, error) {
	m, err := v.Keys.Verify(&dm.Envelope, v.Store.Now())
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w: %w", ErrRejected, ErrSignature, err)
	}
	canonicalHex(m, &dm.Blob)
	if !m.Targets.Matches(v.Device, v.Labels) {
		return m, 0, reject(ErrNotTargeted, "%s %s targets %v", m.Name, m.Version, m.Targets)
	}
	ms := v.Store.Module(m.Name)
	d, err := order(m, &ms)
	if err != nil {
		return m, 0, err
	}
	if reason, ok := v.Store.QuarantineReason(m); ok {
		return m, 0, reject(ErrQuarantined, "%s %s with these settings failed here before (%s); push a new version or "+
			"new settings, or clear it: edgectl quarantine clear %s %s", m.Name, m.Version, reason, v.Device, m.Name)
	}
	if m.Size > wire.MaxModuleSize || dm.Blob.Size > wire.MaxModuleSize {
		return m, 0, reject(ErrTooLarge, "%s %s declares %d/%d bytes, limit %d", m.Name, m.Version, m.Size, dm.Blob.Size, wire.MaxModuleSize)
	}
	if dm.Blob.SHA256 != m.SHA256 || dm.Blob.Size != m.Size {
		return m, 0, reject(ErrBlobRef, "%s %s: blob %.12s/%d, manifest %.12s/%d", m.Name, m.Version, dm.Blob.SHA256, dm.Blob.Size, m.SHA256, m.Size)
	}
	if err := dm.Blob.Validate(); err != nil {
		return m, 0, reject(ErrBlobRef, "%s %s: %v", m.Name, m.Version, err)
	}
	return m, d, nil
}

// order places m against the replay floor of its module, the highest
// (epoch, version) committed: above it is a new version to install; equal
// to it, with the same bytes and settings, is the committed statement
// delivered again; anything else is refused. An older version at the
// same epoch is a downgrade only the operator may make, with a new signed
// statement one epoch higher (edgectl rollback), which the refusal says;
// a lower epoch is a statement signed before the operator's last rollback
// of the module: a replay, whatever its version.
func order(m *wire.Manifest, ms *store.ModuleState) (Decision, error) {
	c, err := store.CompareFloor(m.Epoch, m.Version, ms.Epoch, ms.Highest)
	if err != nil {
		return 0, reject(ErrReplay, "%s: %v", m.Name, err)
	}
	switch {
	case c > 0:
		return Install, nil
	case m.Epoch < ms.Epoch:
		return 0, reject(ErrReplay, "%s %s (epoch %d) was signed before the operator's rollback of %s to %s (epoch %d): "+
			"a replayed or outdated manifest is refused", m.Name, m.Version, m.Epoch, m.Name, ms.Highest, ms.Epoch)
	case c < 0:
		return 0, reject(ErrReplay, "%s %s is older than committed %s; to go back to it, sign a rollback: "+
			"edgectl rollback %s --to %s", m.Name, m.Version, ms.Highest, m.Name, m.Version)
	}
	rec := ms.Versions[m.Version]
	if rec == nil || rec.SHA256 != m.SHA256 {
		return 0, reject(ErrReplay, "%s %s already committed with another digest", m.Name, m.Version)
	}
	if diff := settingsDiff(&rec.Envelope, m); diff != "" {
		return 0, reject(ErrReplay, "%s %s already committed with other settings (%s): push the change as a new version",
			m.Name, m.Version, diff)
	}
	return Installed, nil
}

// settingsDiff names the settings of m that differ from those of the
// committed manifest in env: port, bindings, limits, capabilities,
// config, probe. A re-signed push of the same version differs in its
// times, key and targets only, which do not change what runs; a version
// whose settings changed is another release and needs its own version.
func settingsDiff(env *wire.Envelope, m *wire.Manifest) string {
	var old wire.Manifest
	if err := json.Unmarshal(env.Payload, &old); err != nil {
		return "" // verified when stored; nothing to compare with
	}
	fields := []struct {
		name     string
		was, now any
	}{
		{"port", old.Port, m.Port}, {"bindings", old.Bindings, m.Bindings}, {"limits", old.Limits, m.Limits},
		{"capabilities", old.Capabilities, m.Capabilities}, {"config", old.Config, m.Config}, {"probe", old.Probe, m.Probe},
	}
	var diff []string
	for _, f := range fields {
		a, _ := json.Marshal(f.was)
		b, _ := json.Marshal(f.now)
		if !bytes.Equal(a, b) && !(isEmptyJSON(a) && isEmptyJSON(b)) {
			diff = append(diff, fmt.Sprintf("%s %s, was %s", f.name, b, a))
		}
	}
	return strings.Join(diff, "; ")
}

func isEmptyJSON(b []byte) bool { return string(b) == "null" || string(b) == "{}" }

// canonicalHex lowercases digests: wire accepts either case, while the
// store names files by digest and compares them as strings.
func canonicalHex(m *wire.Manifest, ref *wire.BlobRef) {
	m.SHA256 = strings.ToLower(m.SHA256)
	ref.SHA256 = strings.ToLower(ref.SHA256)
	for i, h := range ref.Chunks {
		ref.Chunks[i] = strings.ToLower(h)
	}
}

// Decode turns the reassembled encoded blob into the module bytes and
// checks them against the signed manifest (check 6). The gunzip is bounded
// to m.Size+1 bytes, so a zip bomb costs at most that much memory.
func Decode(m *wire.Manifest, ref *wire.BlobRef, encoded []byte) ([]byte, error) {
	if int64(len(encoded)) != ref.Stored {
		return nil, reject(ErrTruncated, "%s %s: %d encoded bytes, want %d", m.Name, m.Version, len(encoded), ref.Stored)
	}
	if ref.Encoding != wire.EncodingGzip {
		return nil, reject(ErrEncoding, "%s %s: encoding %q", m.Name, m.Version, ref.Encoding)
	}
	zr, err := gzip.NewReader(bytes.NewReader(encoded))
	if err != nil {
		return nil, reject(ErrEncoding, "%s %s: %v", m.Name, m.Version, err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, m.Size+1))
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, reject(ErrTruncated, "%s %s: %v", m.Name, m.Version, err)
		}
		return nil, reject(ErrEncoding, "%s %s: %v", m.Name, m.Version, err)
	}
	switch n := int64(len(raw)); {
	case n > m.Size:
		return nil, reject(ErrOversize, "%s %s: more than %d bytes", m.Name, m.Version, m.Size)
	case n < m.Size:
		return nil, reject(ErrTruncated, "%s %s: %d bytes, want %d", m.Name, m.Version, n, m.Size)
	}
	sum := sha256.Sum256(raw)
	if got := hex.EncodeToString(sum[:]); got != m.SHA256 {
		return nil, reject(ErrDigest, "%s %s: sha256 %.12s, want %.12s", m.Name, m.Version, got, m.SHA256)
	}
	return raw, nil
}
