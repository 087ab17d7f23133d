package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/edgeplane/edge/wire"
)

// Quarantined is a manifest that failed on this device (its probe, a crash
// loop, its grace period) and is not tried again until the operator pushes
// a new manifest (another version or other settings) or clears it.
type Quarantined struct {
	Version string    `json:"version"`
	SHA256  string    `json:"sha256"`
	Reason  string    `json:"reason"`
	Time    time.Time `json:"time"`
}

// RunKey identifies what a manifest makes the agent run: the module's name,
// version and bytes, and every setting that changes how it runs (port,
// bindings, limits, capabilities, config, probe). A re-signed manifest of
// the same thing (new times, key or targets) has the same key; a new
// version or a new configuration of the same bytes has another. The
// quarantine is keyed on it, because what failed is that code with those
// settings: a digest-wide quarantine refused a corrected configuration of
// the very binary that was serving.
func RunKey(m *wire.Manifest) string {
	b, _ := json.Marshal(struct {
		Name, Version, SHA256 string
		Port                  int
		Bindings              wire.Bindings
		Limits                wire.Limits
		Capabilities          wire.Capabilities
		Config                map[string]string
		Probe                 wire.Probe
	}{m.Name, m.Version, m.SHA256, m.Port, m.Bindings, m.Limits, m.Capabilities, m.Config, m.Probe})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// Quarantine records that manifest m failed (probe, crash loop, grace
// period): the same manifest is not tried again.
func (s *Store) Quarantine(m *wire.Manifest, reason string) error {
	now := s.Now()
	return s.update(func(st *state) error {
		ms := moduleLocked(st, m.Name)
		quarantineLocked(ms, m, reason, now)
		if v := ms.Versions[ms.Pending]; v != nil && v.SHA256 == m.SHA256 && ms.Pending == m.Version {
			ms.Pending = ""
		}
		return nil
	})
}

// maxQuarantine bounds a module's quarantine entries; the oldest goes.
// Each failed manifest adds one, so a long history of failures must not
// grow the state file without end.
const maxQuarantine = 8

func quarantineLocked(ms *ModuleState, m *wire.Manifest, reason string, now time.Time) {
	if ms.Quarantine == nil { // omitted from state.json while empty
		ms.Quarantine = map[string]*Quarantined{}
	}
	key := RunKey(m)
	for len(ms.Quarantine) >= maxQuarantine && ms.Quarantine[key] == nil {
		oldest := ""
		for k, q := range ms.Quarantine {
			if oldest == "" || q.Time.Before(ms.Quarantine[oldest].Time) {
				oldest = k
			}
		}
		delete(ms.Quarantine, oldest)
	}
	ms.Quarantine[key] = &Quarantined{Version: m.Version, SHA256: m.SHA256, Reason: reason, Time: now.UTC()}
}

// QuarantineReason returns why manifest m failed here, if it did.
func (s *Store) QuarantineReason(m *wire.Manifest) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ms := s.st.Modules[m.Name]; ms != nil {
		if q := ms.Quarantine[RunKey(m)]; q != nil {
			return q.Reason, true
		}
	}
	return "", false
}

// Quarantined reports whether some manifest of module name with the
// bytes sha is quarantined, and why.
func (s *Store) Quarantined(name, sha string) (reason string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ms := s.st.Modules[name]; ms != nil {
		for _, q := range ms.Quarantine {
			if q.SHA256 == sha {
				return q.Reason, true
			}
		}
	}
	return "", false
}

// Quarantines returns module name's quarantine entries by RunKey.
func (s *Store) Quarantines(name string) map[string]Quarantined {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Quarantined{}
	if ms := s.st.Modules[name]; ms != nil {
		for k, q := range ms.Quarantine {
			out[k] = *q
		}
	}
	return out
}

// ClearQuarantine applies the operator's count-th clear of module name's
// quarantine: when count is above the count applied last, every entry is
// removed. It returns how many were removed. A clear only removes
// refusals: what runs next must still be a signed manifest that passes
// every other check.
func (s *Store) ClearQuarantine(name string, count uint64) (int, error) {
	if count <= s.Module(name).Cleared {
		return 0, nil
	}
	var n int
	err := s.update(func(st *state) error {
		ms := moduleLocked(st, name)
		n = len(ms.Quarantine)
		clear(ms.Quarantine)
		ms.Cleared = count
		return nil
	})
	return n, err
}

// migrateFailed converts the digest-keyed quarantine of older agents into
// per-manifest entries, for the digests whose manifest is still stored; an
// entry whose manifest is gone is dropped (if that manifest is pushed
// again and still fails, it is quarantined again after one attempt). It
// changes memory only: the next write saves the new form.
func (s *Store) migrateFailed() {
	for name, ms := range s.st.Modules {
		if len(ms.Failed) == 0 {
			ms.Failed = nil
			continue
		}
		for _, v := range ms.Versions {
			reason, ok := ms.Failed[v.SHA256]
			if !ok {
				continue
			}
			if m, err := wire.ParseManifest(v.Envelope.Payload); err == nil {
				quarantineLocked(ms, m, reason, s.clock())
			}
		}
		s.log.Info("quarantine converted from digests to manifests", "module", name,
			"digests", len(ms.Failed), "manifests", len(ms.Quarantine))
		ms.Failed = nil
	}
}

// QuarantineList is every quarantine entry of every module, oldest first,
// for the agent's status report.
func (s *Store) QuarantineList() []wire.QuarantineEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []wire.QuarantineEntry
	for _, name := range sortedKeys(s.st.Modules) {
		ms := s.st.Modules[name]
		for _, k := range sortedKeys(ms.Quarantine) {
			q := ms.Quarantine[k]
			out = append(out, wire.QuarantineEntry{Module: name, Version: q.Version, SHA256: q.SHA256, Reason: q.Reason, Since: q.Time})
		}
	}
	// Oldest first: a report cut to its limit keeps the newest.
	slices.SortStableFunc(out, func(a, b wire.QuarantineEntry) int { return a.Since.Compare(b.Since) })
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
