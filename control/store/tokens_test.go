package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestTokens: create, look up, list, revoke on every engine; revoking
// twice, an unknown id and the last admin token are refused, and two
// admin tokens revoked at once leave one active.
func TestTokens(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		s := e.open(t, Options{})
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		for i, tk := range []Token{
			{ID: "aaaaaaaaaaaa", Name: "admin", Role: "admin", Hash: []byte("h1"), Created: now},
			{ID: "bbbbbbbbbbbb", Name: "grafana", Role: "read", Hash: []byte("h2"), Created: now.Add(time.Second)},
			{ID: "cccccccccccc", Name: "alice", Role: "admin", Hash: []byte("h3"), Created: now.Add(2 * time.Second)},
		} {
			if err := s.CreateToken(ctx, tk); err != nil {
				t.Fatalf("create %d: %v", i, err)
			}
		}
		if err := s.CreateToken(ctx, Token{ID: "aaaaaaaaaaaa", Name: "x", Role: "read", Hash: []byte("h"), Created: now}); err == nil {
			t.Error("a second token under an existing id was stored")
		}
		got, err := s.TokenByID(ctx, "bbbbbbbbbbbb")
		if err != nil || got.Name != "grafana" || got.Role != "read" || string(got.Hash) != "h2" || !got.Revoked.IsZero() {
			t.Errorf("TokenByID = %+v, %v", got, err)
		}
		if _, err := s.TokenByID(ctx, "dddddddddddd"); !errors.Is(err, ErrNotFound) {
			t.Errorf("TokenByID(unknown) = %v, want ErrNotFound", err)
		}
		if n, err := s.ActiveAdminTokens(ctx); n != 2 || err != nil {
			t.Errorf("ActiveAdminTokens = %d, %v; want 2", n, err)
		}

		r, err := s.RevokeToken(ctx, "bbbbbbbbbbbb", now)
		if err != nil || r.Revoked.IsZero() || r.Name != "grafana" {
			t.Fatalf("revoke: %+v, %v", r, err)
		}
		if _, err := s.RevokeToken(ctx, "bbbbbbbbbbbb", now); !errors.Is(err, ErrConflict) {
			t.Errorf("revoke twice: %v, want ErrConflict", err)
		}
		if _, err := s.RevokeToken(ctx, "dddddddddddd", now); !errors.Is(err, ErrNotFound) {
			t.Errorf("revoke unknown: %v, want ErrNotFound", err)
		}

		// The two admins revoked at once: one of the two is refused.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, id := range []string{"aaaaaaaaaaaa", "cccccccccccc"} {
			wg.Go(func() { _, errs[i] = s.RevokeToken(ctx, id, now) })
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) || !(errors.Is(errs[0], ErrLastAdmin) || errors.Is(errs[1], ErrLastAdmin)) {
			t.Errorf("two last admins revoked at once: %v, %v; want exactly one ErrLastAdmin", errs[0], errs[1])
		}
		if n, _ := s.ActiveAdminTokens(ctx); n != 1 {
			t.Errorf("%d active admin tokens after, want 1", n)
		}
		ts, err := s.Tokens(ctx)
		if err != nil || len(ts) != 3 || ts[0].ID != "aaaaaaaaaaaa" || ts[2].ID != "cccccccccccc" || ts[1].Revoked.IsZero() {
			t.Errorf("Tokens = %+v, %v; want all three, oldest first, grafana revoked", ts, err)
		}
	})
}
