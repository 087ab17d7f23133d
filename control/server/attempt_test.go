package server

import (
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// TestAttemptInStatus: an agent's status names what serves in the module's
// Version and the latest attempt that does not serve in Attempt. When the
// event of that attempt is lost (events are durable on the agent, but a
// controller may have been down), the retained status alone must still
// finish the deployment with its reason.
func TestAttemptInStatus(t *testing.T) {
	s := startServer(t, nil)
	id := uniqueID("dev")
	var creds wire.DeviceCredentials
	wantCode(t, "register device", call(t, s, "POST", "/api/v1/devices", wire.DeviceCredentialsRequest{ID: id}, &creds), 201)
	dev := connectDevice(t, "tcp://"+s.MQTTAddr(), id, creds.Password)
	dev.publish(wire.KindStatus, true, wire.Status{Device: id, Online: true, Time: time.Now()})

	blob := moduleBytes(10 << 10)
	wantCode(t, "put blob", call(t, s, "PUT", "/api/v1/blobs/"+digest(blob), blob, nil), 201)
	env := newSigner(t).sign(t, "orders", "1.0.1", blob, wire.Targets{Nodes: []string{id}})
	var dep wire.Deployment
	wantCode(t, "deploy", call(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: env}, &dep), 201)

	const reason = "version 1.0.1 is not newer than the committed 1.2.0"
	dev.publish(wire.KindStatus, true, wire.Status{Device: id, Online: true, Time: time.Now(), Generation: 1,
		Modules: []wire.ModuleStatus{{Name: "orders", Version: "1.2.0", SHA256: digest([]byte("old")), State: wire.StateRunning,
			Attempt: &wire.ModuleAttempt{Version: "1.0.1", Deployment: dep.ID, State: wire.StateRejected, Reason: reason, Time: time.Now()}}}})
	d := waitState(t, s, dep.ID, id, wire.StateRejected)
	if d.Devices[0].Reason != reason || !d.Done {
		t.Fatalf("deployment = %+v, want rejected with %q and done", d, reason)
	}
}
