package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/edgeplane/edge/internal/atomicfile"
)

type desiredFile struct {
	Generation int64           `json:"generation"`
	Raw        json.RawMessage `json:"raw"`
}

// SaveDesired keeps the last desired state received (its exact bytes) so
// the agent boots from it with no network.
func (s *Store) SaveDesired(generation int64, raw []byte) error {
	if !json.Valid(raw) {
		return fmt.Errorf("save desired: not JSON")
	}
	b, err := json.Marshal(desiredFile{Generation: generation, Raw: raw})
	if err != nil {
		return fmt.Errorf("save desired: %w", err)
	}
	return atomicfile.Write(s.path("desired.json"), b, 0o600)
}

// LoadDesired returns the last desired state saved, or ErrNotFound.
func (s *Store) LoadDesired() (generation int64, raw []byte, err error) {
	b, err := os.ReadFile(s.path("desired.json"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil, fmt.Errorf("load desired: %w", ErrNotFound)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("load desired: %w", err)
	}
	var f desiredFile
	if err := json.Unmarshal(b, &f); err != nil {
		return 0, nil, fmt.Errorf("load desired: %w", err)
	}
	return f.Generation, f.Raw, nil
}
