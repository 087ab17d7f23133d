//go:build !wasip1

package sdk

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

func TestNativeKV(t *testing.T) {
	t.Setenv("EDGE_KV", filepath.Join(t.TempDir(), "kv.db"))
	ctx := context.Background()
	kv := KV()
	e, found, err := kv.Get(ctx, "n")
	if err != nil || found || e.Version != 0 {
		t.Fatalf("Get(missing) = %+v %v %v", e, found, err)
	}
	v, err := kv.CompareAndSet(ctx, "n", []byte("0"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.CompareAndSet(ctx, "n", []byte("x"), 0); !errors.Is(err, ErrConflict) {
		t.Fatalf("CAS create of an existing key = %v, want ErrConflict", err)
	}
	if _, err := kv.Set(ctx, "", nil); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("empty key = %v, want ErrBadRequest", err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				if _, err := kv.Update(ctx, "n", func(b []byte, _ bool) ([]byte, error) {
					n, _ := strconv.Atoi(string(b))
					return []byte(strconv.Itoa(n + 1)), nil
				}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	e, _, _ = kv.Get(ctx, "n")
	if string(e.Value) != "40" || e.Version <= v {
		t.Fatalf("after 40 updates: %q at version %d (first %d)", e.Value, e.Version, v)
	}
	es, more, err := kv.List(ctx, "", "", 0)
	if err != nil || len(es) != 1 || more || es[0].Key != "n" {
		t.Fatalf("List = %+v %v %v", es, more, err)
	}
	if ok, err := kv.DeleteVersion(ctx, "n", v); !errors.Is(err, ErrConflict) || ok {
		t.Fatalf("DeleteVersion(old) = %v %v, want ErrConflict", ok, err)
	}
	if ok, err := kv.Delete(ctx, "n"); !ok || err != nil {
		t.Fatalf("Delete = %v %v", ok, err)
	}
}

func TestNativeCallWithoutAddress(t *testing.T) {
	t.Setenv("EDGE_CALL_NO_SUCH", "")
	_, err := Call(context.Background(), "no-such", &CallRequest{Path: "/"})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Call to a module with no address = %v, want ErrUnavailable", err)
	}
}
