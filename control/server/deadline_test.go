package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// Issue 7, case 10: every deployment ends, per device, in a terminal state
// within a stated time, whatever happens.

// deployTo uploads blob and deploys it as name@version to the nodes.
func deployTo(t *testing.T, s *Server, sg *signer, version string, blob []byte, nodes ...string) wire.Deployment {
	t.Helper()
	if code := call(t, s, "PUT", "/api/v1/blobs/"+digest(blob), blob, nil); code != 201 && code != 200 {
		t.Fatalf("put blob: %d", code)
	}
	var dep wire.Deployment
	wantCode(t, "deploy "+version, call(t, s, "POST", "/api/v1/deployments",
		wire.DeployRequest{Envelope: sg.sign(t, "orders", version, blob, wire.Targets{Nodes: nodes})}, &dep), 201)
	return dep
}

// deviceState returns the state and reason of device id in deployment dep.
func deviceState(t *testing.T, s *Server, dep, id string) (wire.Deployment, string, string) {
	t.Helper()
	var d wire.Deployment
	wantCode(t, "get deployment", call(t, s, "GET", "/api/v1/deployments/"+dep, nil, &d), 200)
	for _, dd := range d.Devices {
		if dd.Device == id {
			return d, dd.State, dd.Reason
		}
	}
	t.Fatalf("device %s not in deployment %s", id, dep)
	return d, "", ""
}

// TestDamagedBlobFailsDeployment: the controller's stored copy of a module
// is damaged after the upload; a device that asks for its chunks gets the
// deployment failed at once, with a reason naming the damage, instead of
// staying fetching for ever.
func TestDamagedBlobFailsDeployment(t *testing.T) {
	s := startServer(t, nil)
	id := uniqueID("dmg")
	pw := register(t, s, id)
	dev := connectDevice(t, "tcp://"+s.MQTTAddr(), id, pw)
	sg := newSigner(t)
	tests := []struct {
		name   string
		damage func(path string) error
		want   string
	}{
		{"a chunk fails its hash", func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0xff
			return os.WriteFile(p, b, 0o600)
		}, "does not match its hash"},
		{"file truncated", func(p string) error { return os.Truncate(p, 100) }, "damaged"},
		{"file removed", os.Remove, "no such file"},
	}
	for i, tt := range tests {
		blob := moduleBytes(200 << 10)
		wantCode(t, "put blob", call(t, s, "PUT", "/api/v1/blobs/"+digest(blob), blob, nil), 201)
		dep := deployTo(t, s, sg, "1.0."+string(rune('0'+i)), blob, id)
		// Damaged after every upload: an upload repairs a damaged copy.
		if err := tt.damage(filepath.Join(s.cfg.DataDir, "blobs", digest(blob)+".gz")); err != nil {
			t.Fatal(err)
		}
		ds := dev.nextDesired(int64(i + 1))
		ref := ds.Modules[0].Blob
		all := make([]int, len(ref.Chunks))
		for j := range all {
			all[j] = j
		}
		dev.publish(wire.KindFetch, false, wire.FetchChunks{SHA256: ref.SHA256, Indices: all})
		var state, reason string
		eventually(t, tt.name+": deployment failed", func() bool {
			_, state, reason = deviceState(t, s, dep.ID, id)
			return state != wire.StatePending
		})
		if state != wire.StateFailed || !strings.Contains(reason, "blob "+ref.SHA256[:12]) || !strings.Contains(reason, tt.want) {
			t.Errorf("%s: device %s %q, want failed with a reason naming the blob and %q", tt.name, state, reason, tt.want)
		}
	}
}

// TestDeploymentsTimeOut: with --deploy-timeout 2s, a device that never
// connected, one that is online but says nothing, and one stuck after
// "fetching" are timed_out at the deadline, each with what the controller
// last knew; the deployment is then done. A later report from the device
// still counts. A controller that was down at the deadline times the
// deployment out when it starts again.
func TestDeploymentsTimeOut(t *testing.T) {
	dir := t.TempDir()
	short := func(c *Config) { c.DataDir, c.DeployTimeout = dir, 2*time.Second }
	s := startServer(t, short)
	never, silent, stuck := uniqueID("never"), uniqueID("silent"), uniqueID("stuck")
	register(t, s, never)
	devs := map[string]*device{}
	for _, id := range []string{silent, stuck} {
		devs[id] = connectDevice(t, "tcp://"+s.MQTTAddr(), id, register(t, s, id))
		devs[id].publish(wire.KindStatus, true, wire.Status{Device: id, Online: true, Time: time.Now()})
	}
	sg := newSigner(t)
	dep := deployTo(t, s, sg, "1.0.0", moduleBytes(10<<10), never, silent, stuck)
	if got := dep.Deadline.Sub(dep.Created); got != 2*time.Second {
		t.Errorf("deadline %v after creation, want the deploy timeout 2s", got)
	}
	devs[stuck].publish(wire.KindEvents, false, wire.Event{Device: stuck, Deployment: dep.ID, Module: "orders", Version: "1.0.0",
		State: wire.StateFetching, Reason: "no chunk for 30s"})
	waitState(t, s, dep.ID, stuck, wire.StateFetching)

	d := waitState(t, s, dep.ID, never, wire.StateTimedOut)
	eventually(t, "deployment done", func() bool {
		d, _, _ = deviceState(t, s, dep.ID, never)
		return d.Done
	})
	want := map[string]string{
		never:  "the device never connected",
		silent: "the device is online but reported nothing about this deployment",
		stuck:  "last step reported: fetching (no chunk for 30s)",
	}
	for _, dd := range d.Devices {
		if dd.State != wire.StateTimedOut || !strings.Contains(dd.Reason, "no terminal state within 2s of the push") ||
			!strings.Contains(dd.Reason, want[dd.Device]) {
			t.Errorf("%s: %s %q, want timed_out saying %q", dd.Device, dd.State, dd.Reason, want[dd.Device])
		}
	}
	if elapsed := d.Devices[0].Updated.Sub(dep.Created); elapsed < 2*time.Second {
		t.Errorf("timed out %v after creation, before the deadline", elapsed)
	}
	devs[stuck].publish(wire.KindEvents, false, wire.Event{Device: stuck, Deployment: dep.ID, Module: "orders", Version: "1.0.0",
		State: wire.StateRunning})
	waitState(t, s, dep.ID, stuck, wire.StateRunning)
	devs[silent].publish(wire.KindEvents, false, wire.Event{Device: silent, Deployment: dep.ID, Module: "orders", Version: "1.0.0",
		State: wire.StateFetching})
	time.Sleep(300 * time.Millisecond)
	if _, st, _ := deviceState(t, s, dep.ID, silent); st != wire.StateTimedOut {
		t.Errorf("a late step reopened a timed out device: %s", st)
	}

	// Down over the deadline: the restarted controller ends it.
	dep2 := deployTo(t, s, sg, "1.1.0", moduleBytes(10<<10), never)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(dep2.Deadline))
	s2 := startServer(t, short)
	waitState(t, s2, dep2.ID, never, wire.StateTimedOut)
}

// TestNewerDeploymentSupersedes: a deployment replaced in a device's
// desired state by a newer one of the same module before it finished
// ends superseded for that device, naming its successor; a device that had
// finished it keeps its state.
func TestNewerDeploymentSupersedes(t *testing.T) {
	s := startServer(t, nil)
	busy, done := uniqueID("busy"), uniqueID("done")
	devs := map[string]*device{}
	for _, id := range []string{busy, done} {
		devs[id] = connectDevice(t, "tcp://"+s.MQTTAddr(), id, register(t, s, id))
	}
	sg := newSigner(t)
	dep1 := deployTo(t, s, sg, "1.0.0", moduleBytes(10<<10), busy, done)
	devs[busy].publish(wire.KindEvents, false, wire.Event{Device: busy, Deployment: dep1.ID, Module: "orders", Version: "1.0.0", State: wire.StateCompiling})
	devs[done].publish(wire.KindEvents, false, wire.Event{Device: done, Deployment: dep1.ID, Module: "orders", Version: "1.0.0", State: wire.StateRunning})
	waitState(t, s, dep1.ID, busy, wire.StateCompiling)
	waitState(t, s, dep1.ID, done, wire.StateRunning)

	dep2 := deployTo(t, s, sg, "1.1.0", moduleBytes(10<<10), busy, done)
	d, state, reason := deviceState(t, s, dep1.ID, busy)
	if state != wire.StateSuperseded || !strings.Contains(reason, dep2.ID) || !strings.Contains(reason, "orders 1.1.0") {
		t.Errorf("busy device in the replaced deployment: %s %q, want superseded naming %s (orders 1.1.0)", state, reason, dep2.ID)
	}
	if _, st, _ := deviceState(t, s, dep1.ID, done); st != wire.StateRunning {
		t.Errorf("finished device in the replaced deployment: %s, want running kept", st)
	}
	if !d.Done {
		t.Errorf("replaced deployment %+v not done", d)
	}
	// A late step of the old deployment does not reopen it.
	devs[busy].publish(wire.KindEvents, false, wire.Event{Device: busy, Deployment: dep1.ID, Module: "orders", Version: "1.0.0", State: wire.StateProbing})
	time.Sleep(300 * time.Millisecond)
	if _, st, _ := deviceState(t, s, dep1.ID, busy); st != wire.StateSuperseded {
		t.Errorf("a late step reopened a superseded device: %s", st)
	}
}
