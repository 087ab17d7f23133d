package store

import (
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
// current becomes last-known-good, and the replay floor rises to version.
func (s *Store) Commit(name, version string) error {
	return s.update(func(st *state) error {
		ms := st.Modules[name]
		if ms == nil || ms.Versions[version] == nil {
			return fmt.Errorf("commit %s %s: %w", name, version, ErrNotFound)
		}
		if ms.Current != "" && ms.Current != version {
			ms.LastGood = ms.Current
		}
		ms.Current = version
		if ms.Pending == version {
			ms.Pending = ""
		}
		if ms.Highest == "" {
			ms.Highest = version
		} else if c, err := semver.Compare(version, ms.Highest); err != nil {
			return fmt.Errorf("commit %s: %w", name, err)
		} else if c > 0 {
			ms.Highest = version
		}
		return nil
	})
}

// Quarantine records that the module with digest sha failed (probe, crash
// loop, bad bytes): the same desired state will not retry it.
func (s *Store) Quarantine(name, sha, reason string) error {
	return s.update(func(st *state) error {
		ms := moduleLocked(st, name)
		ms.Failed[sha] = reason
		if v := ms.Versions[ms.Pending]; v != nil && v.SHA256 == sha {
			ms.Pending = ""
		}
		return nil
	})
}

// Quarantined returns why sha failed for module name, if it did.
func (s *Store) Quarantined(name, sha string) (reason string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ms := s.st.Modules[name]; ms != nil {
		reason, ok = ms.Failed[sha]
	}
	return reason, ok
}

// Rollback quarantines the current version of name and makes the
// last-known-good version current again. It returns that version ("" if
// there was none: the module then has nothing runnable).
func (s *Store) Rollback(name, reason string) (string, error) {
	var back string
	err := s.update(func(st *state) error {
		ms := st.Modules[name]
		if ms == nil || ms.Current == "" {
			return fmt.Errorf("rollback %s: no current version: %w", name, ErrNotFound)
		}
		if v := ms.Versions[ms.Current]; v != nil {
			if ms.Failed == nil { // omitted from state.json while empty
				ms.Failed = map[string]string{}
			}
			ms.Failed[v.SHA256] = reason
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
	if ms.Failed == nil {
		ms.Failed = map[string]string{}
	}
	return ms
}
