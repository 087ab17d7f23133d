package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/edgeplane/edge/internal/atomicfile"
	"github.com/edgeplane/edge/wire"
)

// Errors callers test with errors.Is.
var (
	ErrDigest   = errors.New("digest mismatch")
	ErrNotFound = errors.New("not found")
)

const stateSchema = 1

// state is the content of state.json.
type state struct {
	Schema  int                     `json:"schema"`
	Floor   time.Time               `json:"floor,omitzero"`
	Modules map[string]*ModuleState `json:"modules,omitempty"`
}

// ModuleState is what the agent knows about one module name.
type ModuleState struct {
	Current  string `json:"current,omitempty"`   // committed version, running or to run
	LastGood string `json:"last_good,omitempty"` // version to roll back to
	// Epoch and Highest are the replay floor: the highest (epoch,
	// version) ever committed, compared epoch first (see Floor).
	Highest string `json:"highest,omitempty"`
	Epoch   uint64 `json:"epoch,omitempty"`
	Pending string `json:"pending,omitempty"` // version being deployed
	// Versions are the verified envelopes by version.
	Versions map[string]*Version `json:"versions,omitempty"`
	// Quarantine holds the manifests that failed here and are not tried
	// again, by RunKey: what failed is that manifest (this code with these
	// settings), not the digest.
	Quarantine map[string]*Quarantined `json:"quarantine,omitempty"`
	// Cleared is the operator's count of quarantine clears applied (the
	// desired state's QuarantineClear for this module).
	Cleared uint64 `json:"cleared,omitempty"`
	// Failed is the quarantine of agents before per-manifest keys (by
	// sha256); Open converts it (see migrateFailed) and never writes it.
	Failed map[string]string `json:"failed,omitempty"`
}

// Version is one verified, stored module version.
type Version struct {
	SHA256     string        `json:"sha256"`
	Size       int64         `json:"size"`
	Deployment string        `json:"deployment,omitempty"`
	Envelope   wire.Envelope `json:"envelope"`
}

// Store is the agent's on-disk state. Open one per data folder.
type Store struct {
	dir   string
	log   *slog.Logger
	clock func() time.Time

	mu sync.Mutex
	st state

	outbox *Outbox
}

// Options tune Open; the zero value is the production setting.
type Options struct {
	// Clock is the system clock; time.Now if nil. Tests set 1970 here.
	Clock func() time.Time
}

// Open opens (creating if needed) the store in dir, removes temp files a
// crash left behind and loads state.json.
func Open(dir string, log *slog.Logger, opts Options) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{dir: dir, log: log, clock: opts.Clock}
	if s.clock == nil {
		s.clock = time.Now
	}
	for _, d := range []string{dir, s.path("blobs"), s.path("partial"), s.path("outbox")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		if _, err := atomicfile.Clean(d); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	b, err := os.ReadFile(s.path("state.json"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		s.st = state{Schema: stateSchema}
	case err != nil:
		return nil, fmt.Errorf("open store: %w", err)
	default:
		if err := json.Unmarshal(b, &s.st); err != nil {
			// state.json is only ever replaced atomically, so this is
			// outside damage; refuse rather than silently start empty
			// (which would forget the replay rule).
			return nil, fmt.Errorf("open store: decode state.json: %w", err)
		}
		if s.st.Schema != stateSchema {
			return nil, fmt.Errorf("open store: state.json schema %d, want %d", s.st.Schema, stateSchema)
		}
	}
	if s.st.Modules == nil {
		s.st.Modules = map[string]*ModuleState{}
	}
	s.migrateFailed()
	s.outbox, err = openOutbox(s.path("outbox"), log)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return s, nil
}

// Dir is the store's folder.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(elem ...string) string {
	return filepath.Join(append([]string{s.dir}, elem...)...)
}

// saveLocked writes state.json; s.mu must be held. On error the caller must
// not keep the in-memory change: use update.
func (s *Store) saveLocked() error {
	b, err := json.MarshalIndent(&s.st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	return atomicfile.Write(s.path("state.json"), b, 0o600)
}

// update applies fn to a copy of the state and saves it; the in-memory state
// changes only if fn and the write both succeed.
func (s *Store) update(fn func(st *state) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := json.Marshal(&s.st)
	if err != nil {
		return err
	}
	var cp state
	if err := json.Unmarshal(b, &cp); err != nil {
		return err
	}
	if cp.Modules == nil {
		cp.Modules = map[string]*ModuleState{}
	}
	if err := fn(&cp); err != nil {
		return err
	}
	old := s.st
	s.st = cp
	if err := s.saveLocked(); err != nil {
		s.st = old
		return err
	}
	return nil
}

// Module returns a copy of the state of module name (zero if unknown).
func (s *Store) Module(name string) ModuleState {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := s.st.Modules[name]
	if ms == nil {
		return ModuleState{}
	}
	b, _ := json.Marshal(ms)
	var cp ModuleState
	_ = json.Unmarshal(b, &cp)
	return cp
}

// ModuleNames lists the modules the store knows.
func (s *Store) ModuleNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.st.Modules {
		names = append(names, n)
	}
	return names
}

// Outbox is the durable queue of reports.
func (s *Store) Outbox() *Outbox { return s.outbox }
