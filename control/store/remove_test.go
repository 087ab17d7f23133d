package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestDeviceLifecycle: register, register again (refused), rotate,
// remove, and register again under the same id, on every engine.
func TestDeviceLifecycle(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		s := e.open(t, Options{})
		ctx := context.Background()
		now := time.Now()
		if err := s.AddCredential(ctx, "pi-1", []byte("h1"), now); err != nil {
			t.Fatal(err)
		}
		if err := s.AddCredential(ctx, "pi-1", []byte("h2"), now); !errors.Is(err, ErrConflict) {
			t.Errorf("second registration: %v, want ErrConflict", err)
		}
		if h, _ := s.CredentialHash(ctx, "pi-1"); string(h) != "h1" {
			t.Errorf("hash after a refused registration: %q, want h1", h)
		}
		if err := s.RotateCredential(ctx, "pi-1", []byte("h3"), now); err != nil {
			t.Fatal(err)
		}
		if h, _ := s.CredentialHash(ctx, "pi-1"); string(h) != "h3" {
			t.Errorf("hash after rotate: %q, want h3", h)
		}
		if err := s.RotateCredential(ctx, "pi-9", []byte("h"), now); !errors.Is(err, ErrNotFound) {
			t.Errorf("rotate an unknown device: %v, want ErrNotFound", err)
		}
		for range 2 { // two desired generations, with central labels
			if _, _, err := s.SetLabels(ctx, "pi-1", map[string]string{"site": time.Now().String()}, nil, now); err != nil {
				t.Fatal(err)
			}
		}

		gen, err := s.RemoveDevice(ctx, "pi-1", now)
		if err != nil || gen != 2 {
			t.Fatalf("remove: generation %d, %v; want 2", gen, err)
		}
		if _, err := s.RemoveDevice(ctx, "pi-1", now); !errors.Is(err, ErrNotFound) {
			t.Errorf("remove twice: %v, want ErrNotFound", err)
		}
		if _, err := s.CredentialHash(ctx, "pi-1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("credential after remove: %v", err)
		}
		if _, err := s.Device(ctx, "pi-1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("device after remove: %v", err)
		}
		if _, err := s.Desired(ctx, "pi-1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("desired state after remove: %v", err)
		}
		if labels, err := s.CentralLabels(ctx, "pi-1"); err != nil || len(labels) != 0 {
			t.Errorf("central labels after remove: %v %v", labels, err)
		}
		if ids, err := s.RemovedDevices(ctx); err != nil || len(ids) != 1 || ids[0] != "pi-1" {
			t.Errorf("removed devices: %v %v", ids, err)
		}

		if err := s.AddCredential(ctx, "pi-1", []byte("h4"), now); err != nil {
			t.Fatalf("register a removed id again: %v", err)
		}
		if ids, _ := s.RemovedDevices(ctx); len(ids) != 0 {
			t.Errorf("removed devices after registering again: %v", ids)
		}
		ds, _, err := s.SetLabels(ctx, "pi-1", map[string]string{"site": "x"}, nil, now)
		if err != nil || ds.Generation != 3 {
			t.Errorf("first desired state after registering again: generation %d, %v; want 3", ds.Generation, err)
		}
	})
}
