package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
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

		rm, err := s.RemoveDevice(ctx, "pi-1", now)
		if err != nil || rm.Generation != 2 || len(rm.Ended) != 0 {
			t.Fatalf("remove: %+v, %v; want generation 2, no deployment ended", rm, err)
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

// TestRemoveEndsParts: removing a device ends its unfinished part in
// every deployment (removed, terminal), leaves finished parts as they
// are, and a deployment created for a device removed since it was chosen
// records it removed at once. Before, the part stayed pending until the
// deadline (FINDINGS-1 F13).
func TestRemoveEndsParts(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		s := e.open(t, Options{})
		now := time.Now()
		data := []byte("\x00asm\x01\x00\x00\x00module")
		sum := sha256.Sum256(data)
		sha := hex.EncodeToString(sum[:])
		ref, _, err := s.PutBlob(ctx, sha, data, now)
		if err != nil {
			t.Fatal(err)
		}
		m := &wire.Manifest{Name: "orders", Version: "1.0.0", SHA256: sha, Size: int64(len(data))}
		for _, d := range []NewDeployment{
			{ID: "d-1", Devices: []string{"pi-1", "pi-2"}},
			{ID: "d-2", Devices: []string{"pi-1"}, Removed: []string{"pi-3"}},
		} {
			d.Manifest, d.Blob, d.Now, d.Deadline = m, ref, now, now.Add(time.Hour)
			if _, err := s.CreateDeployment(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.SetDeviceState(ctx, "d-1", "pi-1", wire.StateRunning, "", now); err != nil {
			t.Fatal(err)
		}
		rm, err := s.RemoveDevice(ctx, "pi-2", now)
		if err != nil || !slices.Equal(rm.Ended, []string{"d-1"}) {
			t.Fatalf("remove pi-2: %+v, %v; want d-1 ended", rm, err)
		}
		d1, _ := s.Deployment(ctx, "d-1")
		if !d1.Done || d1.Devices[0].State != wire.StateRunning || d1.Devices[1].State != wire.StateRemoved {
			t.Errorf("d-1 after removing pi-2: %+v, want done, pi-1 running, pi-2 removed", d1)
		}
		d2, _ := s.Deployment(ctx, "d-2")
		if len(d2.Devices) != 2 || d2.Devices[1].Device != "pi-3" || d2.Devices[1].State != wire.StateRemoved {
			t.Errorf("d-2: %+v, want pi-3 removed", d2.Devices)
		}
		if _, err := s.Desired(ctx, "pi-3"); !errors.Is(err, ErrNotFound) {
			t.Errorf("desired state of removed pi-3: %v, want none", err)
		}
	})
}
