package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestSessions: open, find, end; an ended session is not found, and
// beyond MaxSessions the one that ends first goes, on every engine.
func TestSessions(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		s := e.open(t, Options{})
		ctx := context.Background()
		now := time.Now()
		h := func(i int) []byte { sum := sha256.Sum256(fmt.Appendf(nil, "s%d", i)); return sum[:] }
		if err := s.OpenSession(ctx, h(0), "aaaaaaaaaaaa", now, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if tok, exp, err := s.Session(ctx, h(0), now); err != nil || tok != "aaaaaaaaaaaa" || exp.Before(now) {
			t.Fatalf("Session = %q %v %v", tok, exp, err)
		}
		if _, _, err := s.Session(ctx, h(0), now.Add(time.Hour)); !errors.Is(err, ErrNotFound) {
			t.Errorf("session at its end: %v, want ErrNotFound", err)
		}
		if _, _, err := s.Session(ctx, h(0), now); !errors.Is(err, ErrNotFound) {
			t.Errorf("an ended session is kept: %v", err)
		}
		if err := s.OpenSession(ctx, h(1), "aaaaaaaaaaaa", now, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.EndSession(ctx, h(1)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Session(ctx, h(1), now); !errors.Is(err, ErrNotFound) {
			t.Errorf("session after EndSession: %v", err)
		}
		if err := s.EndSession(ctx, h(1)); err != nil {
			t.Errorf("EndSession of an unknown session: %v", err)
		}
		if testing.Short() {
			return
		}
		// MaxSessions+1 sessions: the first (ending first) goes.
		for i := 10; i < 10+MaxSessions+1; i++ {
			if err := s.OpenSession(ctx, h(i), "aaaaaaaaaaaa", now, now.Add(time.Hour+time.Duration(i)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := s.Session(ctx, h(10), now); !errors.Is(err, ErrNotFound) {
			t.Errorf("the session ending first survived the bound: %v", err)
		}
		if _, _, err := s.Session(ctx, h(10+MaxSessions), now); err != nil {
			t.Errorf("the newest session: %v", err)
		}
		var n int
		s.db.QueryRowContext(ctx, `SELECT count(*) FROM sessions`).Scan(&n)
		if n != MaxSessions {
			t.Errorf("%d sessions kept, want %d", n, MaxSessions)
		}
	})
}
