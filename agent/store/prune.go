package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/edgeplane/edge/internal/atomicfile"
)

// Prune keeps, per module, the current, last-known-good and pending
// versions, and deletes every other envelope and every blob or partial
// transfer no kept version names. keepPartial lists blob digests whose
// transfer is in progress.
func (s *Store) Prune(keepPartial ...string) error {
	keep := map[string]bool{}
	for _, k := range keepPartial {
		keep[k] = true
	}
	err := s.update(func(st *state) error {
		for _, ms := range st.Modules {
			for v, rec := range ms.Versions {
				if v == ms.Current || v == ms.LastGood || v == ms.Pending {
					keep[rec.SHA256] = true
					continue
				}
				delete(ms.Versions, v)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	ents, err := os.ReadDir(s.path("blobs"))
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	for _, e := range ents {
		sha, ok := strings.CutSuffix(e.Name(), ".wasm")
		if ok && !keep[sha] {
			s.log.Info("pruning blob", "sha256", sha)
			if err := os.Remove(filepath.Join(s.path("blobs"), e.Name())); err != nil {
				return fmt.Errorf("prune: %w", err)
			}
		}
	}
	ents, err = os.ReadDir(s.path("partial"))
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	for _, e := range ents {
		if !keep[e.Name()] {
			if err := os.RemoveAll(filepath.Join(s.path("partial"), e.Name())); err != nil {
				return fmt.Errorf("prune: %w", err)
			}
		}
	}
	if err := atomicfile.SyncDir(s.path("blobs")); err != nil {
		return err
	}
	return atomicfile.SyncDir(s.path("partial"))
}
