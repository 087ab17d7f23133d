package sdk

import (
	"context"
	"errors"
	"fmt"
)

// KVStore is the module's key-value state: keys of up to 512 bytes, each
// with a value and a version that changes on every write. The agent keeps
// it in a SQLite file on the device, one per module name: every version of
// the module sees the same keys, they survive upgrades and rollbacks, and
// no other module can reach them. The signed manifest must grant it
// (capabilities.kv, with quotas of keys and bytes); otherwise every call
// fails with ErrDenied. A write over a quota fails with ErrTooLarge.
//
// Native builds keep the state in the SQLite file named by EDGE_KV (by
// default a new file in a temporary folder, gone with the process), with
// the agent's default quotas.
type KVStore struct{}

// KVEntry is a key with its value and version.
type KVEntry struct {
	Key     string
	Value   []byte
	Version uint64 // 0: the key does not exist
}

// KV returns the module's key-value store.
func KV() *KVStore { return &KVStore{} }

// Get returns the entry of key and whether it exists; a missing key's
// entry has Version 0, which CompareAndSet takes as "must not exist".
func (s *KVStore) Get(ctx context.Context, key string) (KVEntry, bool, error) {
	return kvGet(ctx, key)
}

// Set stores value under key whatever its version; it returns the new
// version.
func (s *KVStore) Set(ctx context.Context, key string, value []byte) (uint64, error) {
	return kvPut(ctx, key, value, false, 0)
}

// CompareAndSet stores value under key only if the key's version is
// version now (0: only if it does not exist), and returns the new
// version; otherwise it fails with ErrConflict and writes nothing.
func (s *KVStore) CompareAndSet(ctx context.Context, key string, value []byte, version uint64) (uint64, error) {
	return kvPut(ctx, key, value, true, version)
}

// Delete removes key and reports whether it existed.
func (s *KVStore) Delete(ctx context.Context, key string) (bool, error) {
	return kvDelete(ctx, key, 0)
}

// DeleteVersion removes key only if it has version (ErrConflict otherwise).
func (s *KVStore) DeleteVersion(ctx context.Context, key string, version uint64) (bool, error) {
	if version == 0 {
		return false, fmt.Errorf("kv delete %q: %w: version 0", key, ErrBadRequest)
	}
	return kvDelete(ctx, key, version)
}

// List returns the entries whose key starts with prefix, in byte order,
// after the key after ("" from the first), at most limit of them (0: the
// host's default of 100; at most 1000). more says that keys are left:
// call again with after set to the last key returned.
func (s *KVStore) List(ctx context.Context, prefix, after string, limit int) (entries []KVEntry, more bool, err error) {
	if limit < 0 {
		limit = 0
	}
	return kvList(ctx, prefix, after, min(limit, 1<<20))
}

// Update changes the value of key with f atomically: it reads the entry,
// calls f with the value (nil and found false if the key does not exist)
// and stores what f returns with CompareAndSet, again from the start when
// another request changed the key meanwhile. It returns the new version.
// f may run more than once; an error from it ends Update with that error.
func (s *KVStore) Update(ctx context.Context, key string, f func(value []byte, found bool) ([]byte, error)) (uint64, error) {
	for {
		e, found, err := s.Get(ctx, key)
		if err != nil {
			return 0, err
		}
		v, err := f(e.Value, found)
		if err != nil {
			return 0, err
		}
		ver, err := s.CompareAndSet(ctx, key, v, e.Version)
		if !errors.Is(err, ErrConflict) {
			return ver, err
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
	}
}
