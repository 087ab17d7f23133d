package worker

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/edgeplane/edge/agent/wasmhost"
	"github.com/edgeplane/edge/internal/atomicfile"
)

// Routes is the routes file the supervisor writes whenever what serves
// changes (Config.Routes): the host:port each module serving on the device
// is reached on, for module-to-module calls (wasmhost's call import). A
// worker's host dials the callee's listener itself: no hop through the
// supervisor (docs/BENCHMARKS.md has what a call costs).
type Routes struct {
	Modules map[string]string `json:"modules"`
}

// WriteRoutes replaces the routes file at path (crash-safe: a reader sees
// the old file or the new one, never half of one).
func WriteRoutes(path string, r Routes) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o600)
}

// routeFile is a wasmhost.Router reading a routes file, again only when
// the file changed (a stat per call, at most one per routeCheck).
type routeFile struct {
	path string

	mu      sync.Mutex
	checked time.Time
	mod     time.Time
	size    int64
	routes  Routes
	err     error
}

// routeCheck bounds how often the file is looked at: a module deployed
// a moment ago is reachable this much later at worst.
const routeCheck = 100 * time.Millisecond

var _ wasmhost.Router = (*routeFile)(nil)

func (f *routeFile) Route(name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := time.Now(); now.Sub(f.checked) >= routeCheck {
		f.checked = now
		f.reload()
	}
	if f.err != nil {
		return "", fmt.Errorf("module %q: %w: routes: %v", name, wasmhost.ErrNoModule, f.err)
	}
	addr, ok := f.routes.Modules[name]
	if !ok {
		return "", fmt.Errorf("module %q: %w", name, wasmhost.ErrNoModule)
	}
	return addr, nil
}

// reload reads the file if it changed since the last read.
func (f *routeFile) reload() {
	fi, err := os.Stat(f.path)
	if err != nil {
		f.err = err
		return
	}
	if f.err == nil && fi.ModTime().Equal(f.mod) && fi.Size() == f.size && f.routes.Modules != nil {
		return
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		f.err = err
		return
	}
	var r Routes
	if err := json.Unmarshal(b, &r); err != nil {
		f.err = fmt.Errorf("%s: %w", f.path, err)
		return
	}
	if r.Modules == nil {
		r.Modules = map[string]string{}
	}
	f.routes, f.mod, f.size, f.err = r, fi.ModTime(), fi.Size(), nil
}
