package store

import (
	"fmt"
	"os"
)

// Problem is a stored blob that failed the boot check and was removed.
type Problem struct {
	Module, Version, SHA256 string
	Err                     error
}

func (p Problem) String() string {
	return fmt.Sprintf("%s %s (%.12s): %v", p.Module, p.Version, p.SHA256, p.Err)
}

// Verify re-hashes every stored blob against its manifest's digest and size
// and removes the ones that fail (flash corruption, outside tampering). The
// version records stay: a removed blob is fetched again if still desired.
// It returns what it removed, for the caller to log and report.
func (s *Store) Verify() ([]Problem, error) {
	type item struct {
		name, version, sha string
		size               int64
	}
	var items []item
	s.mu.Lock()
	for name, ms := range s.st.Modules {
		for v, rec := range ms.Versions {
			items = append(items, item{name, v, rec.SHA256, rec.Size})
		}
	}
	s.mu.Unlock()
	var probs []Problem
	for _, it := range items {
		if !s.HasBlob(it.sha) {
			continue
		}
		if _, err := s.ReadBlob(it.sha, it.size); err != nil {
			if rerr := os.Remove(s.BlobPath(it.sha)); rerr != nil && !os.IsNotExist(rerr) {
				return probs, fmt.Errorf("verify store: %w", rerr)
			}
			s.log.Warn("stored blob failed its digest check; removed", "module", it.name, "version", it.version, "err", err)
			probs = append(probs, Problem{it.name, it.version, it.sha, err})
		}
	}
	return probs, nil
}
