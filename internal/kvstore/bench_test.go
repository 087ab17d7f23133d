package kvstore

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkStore: what one operation costs on the file (a write is one
// immediate transaction and, with synchronous=FULL, its fsyncs).
//
//	go test -run '^$' -bench . ./internal/kvstore
func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "kv.db"), Limits{MaxKeys: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	value := make([]byte, 100)
	for i := range 1000 {
		s.Set(ctx, "k"+strconv.Itoa(i), value)
	}
	b.Run("get", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, _, err := s.Get(ctx, "k"+strconv.Itoa(i%1000)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("set", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := s.Set(ctx, "k"+strconv.Itoa(i%1000), value); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compare-and-set", func(b *testing.B) {
		e, _, _ := s.Get(ctx, "c")
		v := e.Version
		for b.Loop() {
			if v, err = s.CompareAndSet(ctx, "c", value, v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("list-100", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := s.List(ctx, "k", "", 100, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}
