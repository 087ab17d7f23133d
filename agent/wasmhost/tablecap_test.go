package wasmhost

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeplane/edge/modules/abi"
)

// hostileGuest reads a module of the hostile corpus (tests/e2e/testdata/hostile).
func hostileGuest(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "tests", "e2e", "testdata", "hostile", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTableGrowCapped: table.grow past MaxTableEntries returns -1 on both
// engines (the guest answers "ok" when refused and traps when it got the
// 2^21 entries), and the instance keeps serving. A table without a maximum
// used to grow as far as asked: to 2^32 entries, 32 GiB that no memory
// limit counted.
func TestTableGrowCapped(t *testing.T) {
	for _, kind := range engines {
		t.Run(kind.String(), func(t *testing.T) {
			e := newTestEngine(t, kind)
			m, err := e.Load(context.Background(), hostileGuest(t, "tablegrow"), Config{Name: "tablegrow", PoolSize: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close(context.Background())
			for _, uri := range []string{"/once", "/"} {
				resp, err := m.Serve(context.Background(), &abi.Request{Method: "GET", URI: uri})
				if err != nil || resp.Status != 200 || string(resp.Body) != "ok" {
					t.Errorf("GET %s = %d %q %v, want 200 ok (table.grow past the cap refused)", uri, resp.Status, resp.Body, err)
				}
			}
			// The bomb: grows until refused, then traps; the instance is replaced.
			if _, err := m.Serve(context.Background(), &abi.Request{Method: "GET", URI: "/x"}); !errors.Is(err, ErrTrap) {
				t.Errorf("GET /x = %v, want a trap after table.grow was refused", err)
			}
			if s := m.Stats(); s.Traps != 1 {
				t.Errorf("Stats.Traps = %d, want 1", s.Traps)
			}
		})
	}
}
