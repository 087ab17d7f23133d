package wire

import (
	"fmt"
	"slices"
)

// KVGrant grants a module its key-value store (the kv host import), with
// quotas; a zero quota is the agent's default (10,000 keys, 16 MiB of keys
// and values). The store belongs to the module's name on each device and
// outlives its versions. Schema 3 (a platform capability, platform.go).
type KVGrant struct {
	MaxKeys  int64 `json:"max_keys,omitempty"`
	MaxBytes int64 `json:"max_bytes,omitempty"`
}

// Bounds of the capabilities a manifest may grant.
const (
	MaxKVKeys  = 10_000_000
	MaxKVBytes = 4 << 30
	MaxCallees = 32 // modules in capabilities.call
)

// kvCallFields names the platform capabilities of this file m uses
// (platformFields).
func (m *Manifest) kvCallFields() []string {
	var used []string
	if m.Capabilities.KV != nil {
		used = append(used, "kv")
	}
	if len(m.Capabilities.Call) > 0 {
		used = append(used, "call")
	}
	return used
}

// validateCapabilities checks the kv and call grants.
func (m *Manifest) validateCapabilities() []string {
	var errs []string
	c := &m.Capabilities
	if kv := c.KV; kv != nil {
		if kv.MaxKeys < 0 || kv.MaxKeys > MaxKVKeys {
			errs = append(errs, fmt.Sprintf("kv max_keys %d outside 0..%d", kv.MaxKeys, MaxKVKeys))
		}
		if kv.MaxBytes < 0 || kv.MaxBytes > MaxKVBytes {
			errs = append(errs, fmt.Sprintf("kv max_bytes %d outside 0..%d", kv.MaxBytes, int64(MaxKVBytes)))
		}
	}
	if len(c.Call) > MaxCallees {
		errs = append(errs, fmt.Sprintf("call lists %d modules, at most %d", len(c.Call), MaxCallees))
	}
	for i, callee := range c.Call {
		switch err := ValidateModuleName(callee); {
		case err != nil:
			errs = append(errs, "call: "+err.Error())
		case callee == m.Name:
			errs = append(errs, fmt.Sprintf("call: %q is the module itself (a call loop)", callee))
		case slices.Contains(c.Call[:i], callee):
			errs = append(errs, fmt.Sprintf("call: %q listed twice", callee))
		}
	}
	return errs
}
