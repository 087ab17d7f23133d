package server

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// TestRemoveDeviceDuringRollout: a device of a later wave removed while
// the first wave soaks (FINDINGS-1 F13). The removal names the rollout;
// the next wave records the device removed instead of waiting for it
// until the deploy timeout (10 min here: the rollout used to sit in
// deploying), and the rollout succeeds on the others.
func TestRemoveDeviceDuringRollout(t *testing.T) {
	f := newRolloutFixture(t, 3, nil)
	r := f.soaking(t, 1500)
	gone := r.Waves[1].Devices[0]
	var rm wire.DeviceRemoval
	wantCode(t, "remove "+gone, call(t, f.s, "DELETE", "/api/v1/devices/"+gone, nil, &rm), 200)
	if !slices.Equal(rm.Rollouts, []string{r.ID}) {
		t.Errorf("removal names rollouts %v, want [%s]", rm.Rollouts, r.ID)
	}
	r = waitRollout(t, f.s, r.ID, "done", func(r wire.Rollout) bool { return wire.RolloutDone(r.State) })
	if r.State != wire.RolloutSucceeded {
		t.Fatalf("rollout ended %s: %s, want succeeded without %s", r.State, r.Reason, gone)
	}
	var d wire.Deployment
	call(t, f.s, "GET", "/api/v1/deployments/"+r.Waves[1].Deployment, nil, &d)
	for _, dd := range d.Devices {
		if want := wire.StateRunning; dd.Device == gone {
			want = wire.StateRemoved
			if dd.State != want {
				t.Errorf("%s in wave 2: %s, want %s", dd.Device, dd.State, want)
			}
		} else if dd.State != want {
			t.Errorf("%s in wave 2: %s, want %s", dd.Device, dd.State, want)
		}
	}
	// F14: no series and no target left for the removed device (the
	// wave used to write it a desired state again, which brought it
	// back into the inventory: edge_device_up 0, TARGETED 3).
	for _, m := range scrape(t, f.s)["edge_device_up"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "device" && l.GetValue() == gone {
				t.Errorf("/metrics still has edge_device_up{device=%q}", gone)
			}
		}
	}
	var mods []wire.ModuleSummary
	wantCode(t, "modules", call(t, f.s, "GET", "/api/v1/modules", nil, &mods), 200)
	if len(mods) != 1 || mods[0].Targeted != 2 {
		t.Errorf("modules = %+v, want orders targeted on the 2 devices left", mods)
	}
}

// TestRollbackWaitingForADevice: the wave's device goes offline, the
// operator aborts, and the rollback deployment waits for it (up to the
// deploy timeout, 10 min). Both ways out end the rollout at once
// (FINDINGS-1 F13: abort was refused while rolling_back, and cancelling
// the rollback deployment pointed back at abort):
//   - abort again: aborted; its rollback deployment may be cancelled,
//     and a new push of the module is accepted;
//   - remove the device: its part ends removed, and the rollback ends
//     aborted, not rollback_failed (removed is not a failure).
func TestRollbackWaitingForADevice(t *testing.T) {
	for _, way := range []string{"abort", "remove"} {
		t.Run(way, func(t *testing.T) {
			f := newRolloutFixture(t, 2, nil)
			r := f.soaking(t, 600_000)
			canary := r.Waves[0].Devices[0]
			for _, a := range f.agents {
				if a.id == canary {
					a.close()
				}
			}
			wantCode(t, "abort", call(t, f.s, "POST", "/api/v1/rollouts/"+r.ID+"/abort", nil, &r), 200)
			time.Sleep(time.Second)
			call(t, f.s, "GET", "/api/v1/rollouts/"+r.ID, nil, &r)
			if r.State != wire.RolloutRollingBack {
				t.Fatalf("after the abort with %s offline: %s (%s), want rolling_back", canary, r.State, r.Reason)
			}
			switch way {
			case "abort":
				if len(r.Rollback) == 1 && r.Rollback[0].Deployment != "" {
					code, msg := callErr(t, f.s, "POST", "/api/v1/deployments/"+r.Rollback[0].Deployment+"/cancel", nil)
					if code != 409 || !strings.Contains(msg, "edgectl rollout abort "+r.ID) {
						t.Errorf("cancel while the rollout rolls back = %d %q, want 409 pointing at abort", code, msg)
					}
				}
				wantCode(t, "abort while rolling back", call(t, f.s, "POST", "/api/v1/rollouts/"+r.ID+"/abort", nil, &r), 200)
				if r.State != wire.RolloutAborted || !strings.Contains(r.Reason, "while rolling back") {
					t.Errorf("after the second abort: %s (%s), want aborted", r.State, r.Reason)
				}
				// Its rollback deployment is the operator's now (409, "abort
				// the rollout instead", while the rollout lived).
				if len(r.Rollback) != 1 || r.Rollback[0].Deployment == "" {
					t.Fatalf("rollback = %+v, want one deployment", r.Rollback)
				}
				wantCode(t, "cancel the rollback deployment", call(t, f.s, "POST",
					"/api/v1/deployments/"+r.Rollback[0].Deployment+"/cancel", nil, nil), 200)
				plain := f.sg.sign(t, "orders", "1.2.0", f.v2, wire.Targets{Nodes: f.ids})
				var d wire.Deployment
				wantCode(t, "push after the abort", call(t, f.s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: plain}, &d), 201)
			case "remove":
				wantCode(t, "remove "+canary, call(t, f.s, "DELETE", "/api/v1/devices/"+canary, nil, nil), 200)
				r = waitRollout(t, f.s, r.ID, "done", func(r wire.Rollout) bool { return wire.RolloutDone(r.State) })
				if r.State != wire.RolloutAborted {
					t.Errorf("rollout ended %s (%s), want aborted", r.State, r.Reason)
				}
			}
		})
	}
}

// soaking creates the rollout of 1.1.0 in waves 1,100% with a soak of
// soakMillis and returns it once its first wave soaks.
func (f *rolloutFixture) soaking(t *testing.T, soakMillis int64) wire.Rollout {
	t.Helper()
	var r wire.Rollout
	wantCode(t, "create rollout", call(t, f.s, "POST", "/api/v1/rollouts",
		f.request(t, []string{"1", "100%"}, wire.Gate{SoakMillis: soakMillis, MinRequests: 10}), &r), 201)
	waitRollout(t, f.s, r.ID, "soaking", state(wire.RolloutSoaking))
	return r
}
