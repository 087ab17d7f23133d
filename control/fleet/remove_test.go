package fleet

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// recordingPublisher keeps what the fleet publishes.
type recordingPublisher struct{ topics []string }

func (p *recordingPublisher) Publish(_ context.Context, topic string, _ byte, retained bool, payload []byte) error {
	if retained && len(payload) == 0 {
		p.topics = append(p.topics, topic)
	}
	return nil
}

// TestRemoveDeviceForgetsMetrics: metrics applied but not yet stored when
// the device is removed are not written back by the next flush (which
// would bring the device back into the inventory), and reports the
// device still sends are dropped.
func TestRemoveDeviceForgetsMetrics(t *testing.T) {
	f, st, c := newTestFleet(t, t.TempDir())
	pub := &recordingPublisher{}
	f.SetPublisher(pub)
	ctx := context.Background()
	if err := st.AddCredential(ctx, "pi-1", []byte("h"), t0); err != nil {
		t.Fatal(err)
	}
	f.DeviceRegistered("pi-1")
	ingest(t, f, report{seq: 1, at: t0, agentStart: t0.Add(-time.Hour), workerStart: t0.Add(-time.Hour), requests: 10}.metrics("pi-1"))

	closed := ""
	r, err := f.RemoveDevice(ctx, "pi-1", func(id string) bool { closed = id; return true })
	if err != nil || !r.SessionClosed || closed != "pi-1" || len(r.Cleared) != 2 || len(pub.topics) != 2 {
		t.Fatalf("RemoveDevice: %+v %v, closed %q, cleared %v", r, err, closed, pub.topics)
	}
	c.add(2 * time.Minute)
	ingest(t, f, report{seq: 2, at: t0.Add(time.Minute), agentStart: t0.Add(-time.Hour), workerStart: t0.Add(-time.Hour), requests: 20}.metrics("pi-1"))
	f.HandleMessage(wire.DeviceTopic("pi-1", wire.KindMetrics), []byte(`{"device":"pi-1","seq":3}`))
	if err := f.flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Device(ctx, "pi-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after a flush, the removed device is back: %v", err)
	}
	if _, err := f.RemoveDevice(ctx, "pi-1", nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("remove twice: %v, want ErrNotFound", err)
	}
}

// TestRemovedStaysOut: a desired state of a removed device that reaches
// the publisher (stored by an operation that chose the device before
// its removal) does not bring it back into the inventory: no
// edge_device_up series, no device in the views (FINDINGS-1 F14).
func TestRemovedStaysOut(t *testing.T) {
	f, st, _ := newTestFleet(t, t.TempDir())
	f.SetPublisher(&recordingPublisher{})
	ctx := context.Background()
	if err := st.AddCredential(ctx, "pi-1", []byte("h"), t0); err != nil {
		t.Fatal(err)
	}
	f.DeviceRegistered("pi-1")
	if _, err := f.RemoveDevice(ctx, "pi-1", nil); err != nil {
		t.Fatal(err)
	}
	f.deployMu.Lock()
	f.publishLater([]wire.DesiredState{{Device: "pi-1", Generation: 9}}, false)
	f.deployMu.Unlock()
	f.publishDesired(ctx, &wire.DesiredState{Device: "pi-1", Generation: 10})
	for _, d := range f.Snapshot().Devices {
		if d.ID == "pi-1" {
			t.Errorf("removed pi-1 is back in the snapshot /metrics reads: %+v", d)
		}
	}
}
