package supervisor

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/edgeplane/edge/agent/reconcile"
	"github.com/edgeplane/edge/agent/worker"
	"github.com/edgeplane/edge/wire"
)

// Key-value state and module-to-module calls (issue 11).
//
// A module's key-value store is DATA/modules/NAME/kv.db, opened by the
// module's own worker (package kvstore says why the worker and not the
// supervisor): both versions of a blue/green switch open the same file,
// and a rollback leaves it as they wrote it, like the module's database
// (RATIONALE.md, "Key-value state").
//
// Calls go from the caller's worker straight to the callee's listener.
// The supervisor writes where each serving module listens to
// DATA/run/routes.json whenever what serves changes, and gives every
// worker the device's call secret (random, made in New, never on disk),
// which the callee's host checks before it believes who is calling.

// newCallSecret returns a new random call secret.
func newCallSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("supervisor: call secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// routesPath is the routes file, or "" without a data folder.
func (s *Supervisor) routesPath() string {
	if s.cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(s.cfg.DataDir, "run", "routes.json")
}

// capabilities are the worker's key-value store and calls of m.
func (s *Supervisor) capabilities(m *wire.Manifest) (worker.Capabilities, error) {
	c := worker.Capabilities{ModuleName: m.Name, Calls: m.Capabilities.Call, CallSecret: s.callSecret, Routes: s.routesPath()}
	if kv := m.Capabilities.KV; kv != nil {
		if s.cfg.DataDir == "" {
			return c, fmt.Errorf("key-value store: the agent has no data folder: %w", reconcile.ErrConfig)
		}
		dir := filepath.Join(s.cfg.DataDir, "modules", m.Name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return c, fmt.Errorf("key-value store: %w", err)
		}
		c.KV, c.KVMaxKeys, c.KVMaxBytes = filepath.Join(dir, "kv.db"), kv.MaxKeys, kv.MaxBytes
	}
	return c, nil
}

// writeRoutesLocked writes the routes file: the address each serving
// module is reached on from this device. s.mu is held.
func (s *Supervisor) writeRoutesLocked() {
	path := s.routesPath()
	if path == "" {
		return
	}
	r := worker.Routes{Modules: map[string]string{}}
	for name, m := range s.mods {
		if pl := s.ports[m.port]; m.cur != nil && pl != nil {
			r.Modules[name] = dialAddr(pl.ln.Addr().(*net.TCPAddr))
		}
	}
	err := os.MkdirAll(filepath.Dir(path), 0o700)
	if err == nil {
		err = worker.WriteRoutes(path, r)
	}
	if err != nil {
		s.log.Error("module calls: routes file not written; calls may reach a module's old address or none", "path", path, "err", err)
	}
}

// dialAddr is how a listener on a is reached from the same device.
func dialAddr(a *net.TCPAddr) string {
	ip := a.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(a.Port))
}
