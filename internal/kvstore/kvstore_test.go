package kvstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// A child process of TestCASAcrossProcesses runs casIncrements instead of
// the tests.
func TestMain(m *testing.M) {
	if path := os.Getenv("KVSTORE_TEST_CHILD"); path != "" {
		n, _ := strconv.Atoi(os.Getenv("KVSTORE_TEST_N"))
		if err := casIncrements(path, n); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func open(t *testing.T, path string, l Limits) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOps(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "kv.db"), Limits{})
	if _, found, err := s.Get(ctx, "a"); err != nil || found {
		t.Fatalf("Get(missing) = found %v, %v", found, err)
	}
	v1, err := s.Set(ctx, "a", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	e, found, err := s.Get(ctx, "a")
	if err != nil || !found || string(e.Value) != "1" || e.Version != v1 {
		t.Fatalf("Get = %+v %v %v, want value 1 version %d", e, found, err, v1)
	}
	if _, err := s.CompareAndSet(ctx, "a", []byte("2"), v1+100); !errors.Is(err, ErrConflict) {
		t.Fatalf("CAS from a wrong version: %v, want ErrConflict", err)
	}
	if _, err := s.CompareAndSet(ctx, "a", []byte("2"), 0); !errors.Is(err, ErrConflict) {
		t.Fatalf("CAS create of an existing key: %v, want ErrConflict", err)
	}
	v2, err := s.CompareAndSet(ctx, "a", []byte("2"), v1)
	if err != nil || v2 <= v1 {
		t.Fatalf("CAS = %d, %v; want a version above %d", v2, err, v1)
	}
	if _, err := s.Delete(ctx, "a", v1); !errors.Is(err, ErrConflict) {
		t.Fatalf("Delete from an old version: %v, want ErrConflict", err)
	}
	if ok, err := s.Delete(ctx, "a", v2); err != nil || !ok {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	if ok, err := s.Delete(ctx, "a", 0); err != nil || ok {
		t.Fatalf("Delete(missing) = %v, %v; want false", ok, err)
	}
	// Created again: a new version, never an old one (no ABA).
	v3, err := s.CompareAndSet(ctx, "a", nil, 0)
	if err != nil || v3 <= v2 {
		t.Fatalf("CAS create = %d, %v; want a version above %d", v3, err, v2)
	}
	if e, _, _ := s.Get(ctx, "a"); e.Value == nil || len(e.Value) != 0 {
		t.Fatalf("empty value read back as %#v", e.Value)
	}
	for _, k := range []string{"", strings.Repeat("k", MaxKey+1)} {
		if _, err := s.Set(ctx, k, nil); !errors.Is(err, ErrKey) {
			t.Errorf("Set(%d-byte key) = %v, want ErrKey", len(k), err)
		}
	}
}

func TestList(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "kv.db"), Limits{})
	keys := []string{"a", "b/1", "b/2", "b/3", "b\xff", "b\xff\xff", "c", "\xff", "\xff\xff"}
	for _, k := range keys {
		if _, err := s.Set(ctx, k, []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	list := func(prefix, after string, limit int) ([]string, bool) {
		t.Helper()
		es, more, err := s.List(ctx, prefix, after, limit, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			if string(e.Value) != "v"+e.Key {
				t.Errorf("value of %q = %q", e.Key, e.Value)
			}
			out = append(out, e.Key)
		}
		return out, more
	}
	for _, tt := range []struct {
		prefix, after string
		limit         int
		want          string
		more          bool
	}{
		{"", "", 0, "a|b/1|b/2|b/3|b\xff|b\xff\xff|c|\xff|\xff\xff", false},
		{"b/", "", 0, "b/1|b/2|b/3", false},
		{"b/", "", 2, "b/1|b/2", true},
		{"b/", "b/2", 2, "b/3", false},
		{"b", "b/3", 0, "b\xff|b\xff\xff", false},
		{"\xff", "", 0, "\xff|\xff\xff", false},
		{"\xff", "\xff", 0, "\xff\xff", false},
		{"b/", "a", 0, "b/1|b/2|b/3", false}, // after before the prefix
		{"x", "", 0, "", false},
	} {
		got, more := list(tt.prefix, tt.after, tt.limit)
		if strings.Join(got, "|") != tt.want || more != tt.more {
			t.Errorf("List(%q, after %q, %d) = %q more %v, want %q more %v", tt.prefix, tt.after, tt.limit, strings.Join(got, "|"), more, tt.want, tt.more)
		}
	}
	// A byte bound stops early, but never before the first entry.
	es, more, err := s.List(ctx, "", "", 0, 1)
	if err != nil || len(es) != 1 || !more {
		t.Fatalf("List with a 1-byte bound = %d entries more %v %v, want 1 and more", len(es), more, err)
	}
}

func TestQuota(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kv.db")
	s := open(t, path, Limits{MaxKeys: 3, MaxBytes: 20, MaxValue: 8})
	if _, err := s.Set(ctx, "a", make([]byte, 9)); !errors.Is(err, ErrValue) {
		t.Fatalf("9-byte value = %v, want ErrValue", err)
	}
	mustSet := func(k string, n int) {
		t.Helper()
		if _, err := s.Set(ctx, k, make([]byte, n)); err != nil {
			t.Fatalf("Set(%q, %d bytes): %v", k, n, err)
		}
	}
	mustSet("a", 8) // 9 bytes
	mustSet("b", 8) // 18
	mustSet("c", 0) // 19, 3 keys
	if _, err := s.Set(ctx, "d", nil); !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "quota is 3") {
		t.Fatalf("fourth key = %v, want ErrQuota naming 3 keys", err)
	}
	if _, err := s.Set(ctx, "c", make([]byte, 2)); !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "quota is 20") {
		t.Fatalf("growing to 21 bytes = %v, want ErrQuota naming 20 bytes", err)
	}
	mustSet("b", 8) // the same size: no growth
	if _, err := s.CompareAndSet(ctx, "d", nil, 5); !errors.Is(err, ErrConflict) {
		t.Fatalf("CAS conflict is checked before the quota: %v", err)
	}
	if _, err := s.Delete(ctx, "b", 0); err != nil {
		t.Fatal(err)
	}
	mustSet("dd", 8) // 9+1+10 = 20, 3 keys
	keys, bytes, err := s.Usage(ctx)
	if err != nil || keys != 3 || bytes != 20 {
		t.Fatalf("Usage = %d keys %d bytes %v, want 3 and 20", keys, bytes, err)
	}
	// Nothing over the quota was written.
	if e, _, _ := s.Get(ctx, "c"); len(e.Value) != 0 {
		t.Fatalf("c = %d bytes after a refused write, want 0", len(e.Value))
	}
	// A quota lowered under the usage: the store may shrink, not grow.
	s.Close()
	s = open(t, path, Limits{MaxKeys: 1, MaxBytes: 5})
	if _, err := s.Set(ctx, "a", make([]byte, 1)); err != nil {
		t.Fatalf("shrinking under a lowered quota: %v", err)
	}
	if _, err := s.Set(ctx, "a", make([]byte, 3)); !errors.Is(err, ErrQuota) {
		t.Fatalf("growing over a lowered quota: %v", err)
	}
}

// casIncrement adds one to the counter under key with get and
// compare-and-set, retrying on a conflict.
func casIncrement(ctx context.Context, s *Store, key string) error {
	for {
		e, found, err := s.Get(ctx, key)
		if err != nil {
			return err
		}
		n := 0
		if found {
			n, _ = strconv.Atoi(string(e.Value))
		}
		_, err = s.CompareAndSet(ctx, key, []byte(strconv.Itoa(n+1)), e.Version)
		if !errors.Is(err, ErrConflict) {
			return err
		}
	}
}

func casIncrements(path string, n int) error {
	ctx := context.Background()
	s, err := Open(ctx, path, Limits{})
	if err != nil {
		return err
	}
	defer s.Close()
	for range n {
		if err := casIncrement(ctx, s, "counter"); err != nil {
			return err
		}
	}
	return nil
}

func TestCASRace(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kv.db")
	a, b := open(t, path, Limits{}), open(t, path, Limits{}) // two pools on one file
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for range 25 {
				if err := casIncrement(ctx, s, "counter"); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	e, _, _ := a.Get(ctx, "counter")
	if string(e.Value) != "200" {
		t.Fatalf("counter = %s after 8×25 increments, want 200 (a lost update)", e.Value)
	}
}

// TestCASAcrossProcesses: two processes (as the two versions of a module
// during a blue/green switch) increment one counter with compare-and-set.
func TestCASAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	const n = 40
	var cmds []*exec.Cmd
	for range 3 {
		c := exec.Command(os.Args[0], "-test.run=^$")
		c.Env = append(os.Environ(), "KVSTORE_TEST_CHILD="+path, "KVSTORE_TEST_N="+strconv.Itoa(n))
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
	}
	s := open(t, path, Limits{})
	e, _, _ := s.Get(context.Background(), "counter")
	if string(e.Value) != strconv.Itoa(3*n) {
		t.Fatalf("counter = %s after 3 processes × %d increments, want %d", e.Value, n, 3*n)
	}
}

// TestIsolation: each module's store is its own file; a key of one is not
// in another's, whatever its name.
func TestIsolation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, d := range []string{"a", "b"} { // the agent makes each module's folder (dbbind.Open does not)
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	a := open(t, filepath.Join(dir, "a", "kv.db"), Limits{})
	b := open(t, filepath.Join(dir, "b", "kv.db"), Limits{})
	a.Set(ctx, "shared-name", []byte("a's"))
	if _, found, _ := b.Get(ctx, "shared-name"); found {
		t.Fatal("b sees a's key")
	}
	for _, k := range []string{"../a/kv.db", "a/shared-name", "/shared-name"} {
		if _, found, _ := b.Get(ctx, k); found {
			t.Fatalf("b reaches a's key through %q", k)
		}
	}
}
