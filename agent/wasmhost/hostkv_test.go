package wasmhost

import (
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/edgeplane/edge/internal/kvstore"
)

func TestKV(t *testing.T) {
	for _, kind := range engines {
		t.Run(kind.String(), func(t *testing.T) {
			kv := openKV(t, filepath.Join(t.TempDir(), "kv.db"), kvstore.Limits{})
			_, srv := capModule(t, kind, Config{KV: kv})
			u := srv.URL
			if a := do(t, "GET", u+"/kv?key=a", ""); a.status != 404 {
				t.Fatalf("GET missing = %d %q, want 404", a.status, a.body)
			}
			a := do(t, "PUT", u+"/kv?key=a", "one")
			if a.status != 200 {
				t.Fatalf("PUT = %d %q", a.status, a.body)
			}
			v1 := a.header.Get("Kv-Version")
			if a := do(t, "GET", u+"/kv?key=a", ""); a.status != 200 || a.body != "one" || a.header.Get("Kv-Version") != v1 {
				t.Fatalf("GET = %d %q version %s, want one at %s", a.status, a.body, a.header.Get("Kv-Version"), v1)
			}
			if a := do(t, "PUT", u+"/kv?key=a&version=0", "x"); a.status != 409 || !strings.Contains(a.body, "conflict") {
				t.Fatalf("CAS create of an existing key = %d %q, want 409", a.status, a.body)
			}
			if a := do(t, "PUT", u+"/kv?key=a&version="+v1, "two"); a.status != 200 {
				t.Fatalf("CAS = %d %q", a.status, a.body)
			}
			if a := do(t, "PUT", u+"/kv?key=a&version="+v1, "three"); a.status != 409 {
				t.Fatalf("CAS from a stale version = %d %q, want 409", a.status, a.body)
			}
			for _, k := range []string{"b/1", "b/2", "b/3"} {
				do(t, "PUT", u+"/kv?key="+k, "v"+k[2:])
			}
			if a := do(t, "GET", u+"/list?prefix=b/&limit=2", ""); a.body != "b/1=v1\nb/2=v2\n" || a.header.Get("Kv-More") != "1" {
				t.Fatalf("list = %q more %q", a.body, a.header.Get("Kv-More"))
			}
			if a := do(t, "GET", u+"/list?prefix=b/&after=b/2", ""); a.body != "b/3=v3\n" || a.header.Get("Kv-More") != "" {
				t.Fatalf("list after b/2 = %q more %q", a.body, a.header.Get("Kv-More"))
			}
			if a := do(t, "DELETE", u+"/kv?key=b/1", ""); a.status != 204 {
				t.Fatalf("DELETE = %d", a.status)
			}
			if a := do(t, "GET", u+"/kv?key="+strings.Repeat("k", 513), ""); a.status != 400 {
				t.Fatalf("GET of a 513-byte key = %d %q, want 400", a.status, a.body)
			}
			// What the guest wrote is in the module's store.
			if e, _, _ := kv.Get(t.Context(), "a"); string(e.Value) != "two" {
				t.Fatalf("store has a = %q, want two", e.Value)
			}
		})
	}
}

// TestKVDenied: a module whose manifest grants no store gets "denied".
func TestKVDenied(t *testing.T) {
	_, srv := capModule(t, EngineCompiler, Config{})
	a := do(t, "PUT", srv.URL+"/kv?key=a", "x")
	if a.status != 403 || !strings.Contains(a.body, "grants none") {
		t.Fatalf("PUT without a grant = %d %q, want 403 naming the grant", a.status, a.body)
	}
}

func TestKVQuota(t *testing.T) {
	kv := openKV(t, filepath.Join(t.TempDir(), "kv.db"), kvstore.Limits{MaxKeys: 2, MaxBytes: 1000})
	_, srv := capModule(t, EngineCompiler, Config{KV: kv})
	do(t, "PUT", srv.URL+"/kv?key=a", "1")
	do(t, "PUT", srv.URL+"/kv?key=b", "2")
	if a := do(t, "PUT", srv.URL+"/kv?key=c", "3"); a.status != 413 || !strings.Contains(a.body, "quota is 2") {
		t.Fatalf("third key = %d %q, want 413 naming the quota", a.status, a.body)
	}
	if a := do(t, "PUT", srv.URL+"/kv?key=a", strings.Repeat("x", 1000)); a.status != 413 || !strings.Contains(a.body, "quota is 1000") {
		t.Fatalf("over the bytes = %d %q, want 413 naming the quota", a.status, a.body)
	}
	if a := do(t, "GET", srv.URL+"/kv?key=a", ""); a.body != "1" {
		t.Fatalf("a = %q after a refused write, want 1", a.body)
	}
}

// TestKVIsolation: two modules with their own stores never see each
// other's keys, whatever the key.
func TestKVIsolation(t *testing.T) {
	dir := t.TempDir()
	_, a := capModule(t, EngineCompiler, Config{Name: "a@1.0.0", KV: openKV(t, filepath.Join(dir, "a.kv.db"), kvstore.Limits{})})
	_, b := capModule(t, EngineCompiler, Config{Name: "b@1.0.0", KV: openKV(t, filepath.Join(dir, "b.kv.db"), kvstore.Limits{})})
	do(t, "PUT", a.URL+"/kv?key=secret", "a's")
	for _, k := range []string{"secret", "../a/secret", "a/secret", "a:secret"} {
		if r := do(t, "GET", b.URL+"/kv?key="+k, ""); r.status != 404 {
			t.Fatalf("b GET %q = %d %q, want 404", k, r.status, r.body)
		}
	}
	if r := do(t, "GET", b.URL+"/list", ""); r.body != "" {
		t.Fatalf("b lists %q", r.body)
	}
}

// TestKVCASRace: concurrent requests on several instances increment one
// counter with get and compare-and-set; none is lost.
func TestKVCASRace(t *testing.T) {
	kv := openKV(t, filepath.Join(t.TempDir(), "kv.db"), kvstore.Limits{})
	_, srv := capModule(t, EngineCompiler, Config{KV: kv, PoolSize: 4})
	const workers, each = 6, 15
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				if a := do(t, "POST", srv.URL+"/incr?key=n", ""); a.status != 200 {
					t.Errorf("incr = %d %q", a.status, a.body)
				}
			}
		})
	}
	wg.Wait()
	if a := do(t, "GET", srv.URL+"/kv?key=n", ""); a.body != strconv.Itoa(workers*each) {
		t.Fatalf("counter = %q after %d increments", a.body, workers*each)
	}
}
