package breaker

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestBreaker walks the state diagram with a fake clock.
func TestBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &Breaker{Min: time.Second, Max: 3 * time.Second}
		down := errors.New("connect: i/o timeout")
		if err := b.Allow(); err != nil {
			t.Fatalf("closed breaker refused: %v", err)
		}
		b.Done(nil)
		if err := b.Allow(); err != nil {
			t.Fatal(err)
		}
		b.Done(down)

		// Open: refused at once, with both errors visible.
		err := b.Allow()
		var oe *OpenError
		if !errors.Is(err, ErrOpen) || !errors.Is(err, down) || !errors.As(err, &oe) || oe.RetryIn != time.Second {
			t.Fatalf("open breaker: Allow = %v, want an OpenError wrapping ErrOpen and the failure, retry in 1s", err)
		}

		// After the back-off: exactly one probe.
		time.Sleep(time.Second)
		if err := b.Allow(); err != nil {
			t.Fatalf("probe refused: %v", err)
		}
		if err := b.Allow(); !errors.Is(err, ErrOpen) {
			t.Fatalf("second call during the probe = %v, want ErrOpen", err)
		}
		b.Done(down) // back-off doubles
		time.Sleep(time.Second)
		if err := b.Allow(); !errors.Is(err, ErrOpen) {
			t.Fatalf("1s into a 2s back-off: %v, want ErrOpen", err)
		}
		time.Sleep(time.Second)
		if err := b.Allow(); err != nil {
			t.Fatalf("probe after 2s refused: %v", err)
		}
		b.Done(down) // 4s, capped at Max = 3s
		time.Sleep(3 * time.Second)

		// A probe whose caller gave up lets the next call probe.
		if err := b.Allow(); err != nil {
			t.Fatalf("probe after 3s refused: %v", err)
		}
		b.Abort()
		if err := b.Allow(); err != nil {
			t.Fatalf("probe after an aborted probe refused: %v", err)
		}
		b.Done(nil)
		if b.Open() {
			t.Fatal("open after a successful probe")
		}
		for range 3 {
			if err := b.Allow(); err != nil {
				t.Fatalf("closed after recovery: %v", err)
			}
		}
	})
}
