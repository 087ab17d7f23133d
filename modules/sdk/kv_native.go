//go:build !wasip1

package sdk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/edgeplane/edge/internal/kvstore"
)

// The native store: the SQLite file of EDGE_KV, or one in a new temporary
// folder, opened at the first use.
var nativeStore struct {
	once  sync.Once
	store *kvstore.Store
	err   error
}

func nativeKV(ctx context.Context) (*kvstore.Store, error) {
	nativeStore.once.Do(func() {
		path := os.Getenv("EDGE_KV")
		if path == "" {
			dir, err := os.MkdirTemp("", "edge-kv-")
			if err != nil {
				nativeStore.err = err
				return
			}
			path = filepath.Join(dir, "kv.db")
		}
		nativeStore.store, nativeStore.err = kvstore.Open(ctx, path, kvstore.Limits{})
	})
	if nativeStore.err != nil {
		return nil, fmt.Errorf("%w: key-value store: %w", ErrUnavailable, nativeStore.err)
	}
	return nativeStore.store, nil
}

// kvError maps the store's errors to this package's sentinels, as the
// host maps them to codes.
func kvError(op, key string, err error) error {
	var sentinel error
	switch {
	case errors.Is(err, kvstore.ErrConflict):
		sentinel = ErrConflict
	case errors.Is(err, kvstore.ErrQuota), errors.Is(err, kvstore.ErrValue):
		sentinel = ErrTooLarge
	case errors.Is(err, kvstore.ErrKey):
		sentinel = ErrBadRequest
	case errors.Is(err, ErrUnavailable):
		return fmt.Errorf("kv %s %q: %w", op, key, err)
	default:
		sentinel = ErrUnavailable
	}
	return fmt.Errorf("kv %s %q: %w: %w", op, key, sentinel, err)
}

func kvGet(ctx context.Context, key string) (KVEntry, bool, error) {
	s, err := nativeKV(ctx)
	if err != nil {
		return KVEntry{Key: key}, false, kvError("get", key, err)
	}
	e, found, err := s.Get(ctx, key)
	if err != nil {
		return KVEntry{Key: key}, false, kvError("get", key, err)
	}
	return KVEntry{Key: key, Value: e.Value, Version: e.Version}, found, nil
}

func kvPut(ctx context.Context, key string, value []byte, cas bool, version uint64) (uint64, error) {
	s, err := nativeKV(ctx)
	if err != nil {
		return 0, kvError("set", key, err)
	}
	var v uint64
	if cas {
		v, err = s.CompareAndSet(ctx, key, value, version)
	} else {
		v, err = s.Set(ctx, key, value)
	}
	if err != nil {
		return 0, kvError("set", key, err)
	}
	return v, nil
}

func kvDelete(ctx context.Context, key string, version uint64) (bool, error) {
	s, err := nativeKV(ctx)
	if err != nil {
		return false, kvError("delete", key, err)
	}
	ok, err := s.Delete(ctx, key, version)
	if err != nil {
		return false, kvError("delete", key, err)
	}
	return ok, nil
}

func kvList(ctx context.Context, prefix, after string, limit int) ([]KVEntry, bool, error) {
	s, err := nativeKV(ctx)
	if err != nil {
		return nil, false, kvError("list", prefix, err)
	}
	es, more, err := s.List(ctx, prefix, after, limit, 0)
	if err != nil {
		return nil, false, kvError("list", prefix, err)
	}
	out := make([]KVEntry, len(es))
	for i, e := range es {
		out[i] = KVEntry{Key: e.Key, Value: e.Value, Version: e.Version}
	}
	return out, more, nil
}
