//go:build wasip1

package sdk

import (
	"context"
	"fmt"

	"github.com/edgeplane/edge/modules/abi"
)

// kvDo sends one request to the kv import.
func kvDo(ctx context.Context, req *abi.KVRequest) (abi.KVResult, error) {
	if err := ctx.Err(); err != nil {
		return abi.KVResult{}, err
	}
	out, err := call("kv", hostKV, abi.AppendKVRequest(nil, req), nil)
	if err != nil {
		return abi.KVResult{}, err
	}
	res, err := abi.DecodeKVResult(req.Op, out)
	if err != nil {
		return abi.KVResult{}, fmt.Errorf("%w: %w", ErrHostCall, err)
	}
	if res.Err != nil {
		return abi.KVResult{}, hostError("kv", res.Err)
	}
	return res, nil
}

func kvGet(ctx context.Context, key string) (KVEntry, bool, error) {
	res, err := kvDo(ctx, &abi.KVRequest{Op: abi.KVGet, Key: key})
	if err != nil {
		return KVEntry{Key: key}, false, fmt.Errorf("kv get %q: %w", key, err)
	}
	return KVEntry{Key: key, Value: res.Value, Version: res.Version}, res.Found, nil
}

func kvPut(ctx context.Context, key string, value []byte, cas bool, version uint64) (uint64, error) {
	op, name := abi.KVSet, "set"
	if cas {
		op, name = abi.KVCompareAndSet, "compare-and-set"
	}
	res, err := kvDo(ctx, &abi.KVRequest{Op: op, Key: key, Value: value, Version: version})
	if err != nil {
		return 0, fmt.Errorf("kv %s %q: %w", name, key, err)
	}
	return res.Version, nil
}

func kvDelete(ctx context.Context, key string, version uint64) (bool, error) {
	res, err := kvDo(ctx, &abi.KVRequest{Op: abi.KVDelete, Key: key, Version: version})
	if err != nil {
		return false, fmt.Errorf("kv delete %q: %w", key, err)
	}
	return res.Found, nil
}

func kvList(ctx context.Context, prefix, after string, limit int) ([]KVEntry, bool, error) {
	res, err := kvDo(ctx, &abi.KVRequest{Op: abi.KVList, Key: prefix, After: after, Limit: uint32(limit)})
	if err != nil {
		return nil, false, fmt.Errorf("kv list %q: %w", prefix, err)
	}
	out := make([]KVEntry, len(res.Entries))
	for i, e := range res.Entries {
		out[i] = KVEntry{Key: e.Key, Value: e.Value, Version: e.Version}
	}
	return out, res.More, nil
}
