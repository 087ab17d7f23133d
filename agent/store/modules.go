package store

import (
	"cmp"
	"fmt"

	"github.com/edgeplane/edge/internal/semver"
	"github.com/edgeplane/edge/wire"
)

// Stage records a verified envelope whose blob is already stored (PutBlob)
// and marks its version as the one in progress. Nothing runs it yet.
func (s *Store) Stage(m *wire.Manifest, env *wire.Envelope, deployment string) error {
	if !s.HasBlob(m.SHA256) {
		return fmt.Errorf("stage %s %s: blob %.12s: %w", m.Name, m.Version, m.SHA256, ErrNotFound)
	}
	return s.update(func(st *state) error {
		ms := moduleLocked(st, m.Name)
		ms.Versions[m.Version] = &Version{SHA256: m.SHA256, Size: m.Size, Deployment: deployment, Envelope: *env}
		ms.Pending = m.Version
		return nil
	})
}

// Commit makes version the current one of module name: the previous
// current becomes last-known-good, and the replay floor rises to the
// version's (epoch, version). A commit that raises the epoch is an
// operator's rollback: the version it leaves is not kept as last-known-good,
// so no automatic rollback ever brings back what the operator left.
func (s *Store) Commit(name, version string) error {
	return s.update(func(st *state) error {
		ms := st.Modules[name]
		if ms == nil || ms.Versions[version] == nil {
			return fmt.Errorf("commit %s %s: %w", name, version, ErrNotFound)
		}
		epoch := envelopeEpoch(&ms.Versions[version].Envelope)
		if ms.Current != "" && ms.Current != version {
			ms.LastGood = ms.Current
		}
		if epoch > ms.Epoch {
			ms.LastGood = ""
		}
		ms.Current = version
		if ms.Pending == version {
			ms.Pending = ""
		}
		c, err := CompareFloor(epoch, version, ms.Epoch, ms.Highest)
		if err != nil {
			return fmt.Errorf("commit %s: %w", name, err)
		}
		if c > 0 {
			ms.Epoch, ms.Highest = epoch, version
		}
		return nil
	})
}

// CompareFloor orders (epoch, version) against the floor (floorEpoch,
// floorVersion): epoch first, then semantic version; an empty floor
// version is below everything. It returns -1, 0 or 1.
func CompareFloor(epoch uint64, version string, floorEpoch uint64, floorVersion string) (int, error) {
	switch {
	case floorVersion == "":
		return 1, nil
	case epoch != floorEpoch:
		return cmp.Compare(epoch, floorEpoch), nil
	}
	return semver.Compare(version, floorVersion)
}

// envelopeEpoch reads the epoch of a stored (verified) envelope.
func envelopeEpoch(env *wire.Envelope) uint64 {
	m, err := wire.ParseManifest(env.Payload)
	if err != nil {
		return 0
	}
	return m.Epoch
}

// Rollback quarantines the current version of name and makes the
// last-known-good version current again. It returns that version ("" if
// there was none: the module then has nothing runnable).
func (s *Store) Rollback(name, reason string) (string, error) {
	now := s.Now()
	var back string
	err := s.update(func(st *state) error {
		ms := st.Modules[name]
		if ms == nil || ms.Current == "" {
			return fmt.Errorf("rollback %s: no current version: %w", name, ErrNotFound)
		}
		if v := ms.Versions[ms.Current]; v != nil {
			if m, err := wire.ParseManifest(v.Envelope.Payload); err == nil {
				quarantineLocked(ms, m, reason, now)
			}
		}
		ms.Current, ms.LastGood = ms.LastGood, ""
		back = ms.Current
		return nil
	})
	return back, err
}

// Forget removes module name's current/last-good pointers (the desired
// state no longer lists it). The replay floor and quarantine are kept.
func (s *Store) Forget(name string) error {
	return s.update(func(st *state) error {
		if ms := st.Modules[name]; ms != nil {
			ms.Current, ms.LastGood, ms.Pending = "", "", ""
		}
		return nil
	})
}

func moduleLocked(st *state, name string) *ModuleState {
	ms := st.Modules[name]
	if ms == nil {
		ms = &ModuleState{}
		st.Modules[name] = ms
	}
	if ms.Versions == nil {
		ms.Versions = map[string]*Version{}
	}
	if ms.Quarantine == nil {
		ms.Quarantine = map[string]*Quarantined{}
	}
	return ms
}
