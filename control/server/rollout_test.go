package server

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// rolloutFixture is a controller with a fleet of simulated agents running
// orders 1.0.0 (one plain push), and the blob of 1.1.0 uploaded.
type rolloutFixture struct {
	s      *Server
	sg     *signer
	agents []*simAgent
	ids    []string
	v1, v2 []byte
	dep1   wire.Deployment
}

func newRolloutFixture(t *testing.T, n int, mod func(*Config)) *rolloutFixture {
	f := &rolloutFixture{s: startServer(t, mod), sg: newSigner(t), v1: moduleBytes(30 << 10), v2: moduleBytes(31 << 10)}
	f.agents = fleetOf(t, f.s, "sim", n)
	for _, a := range f.agents {
		f.ids = append(f.ids, a.id)
	}
	for _, b := range [][]byte{f.v1, f.v2} {
		wantCode(t, "put blob", call(t, f.s, "PUT", "/api/v1/blobs/"+digest(b), b, nil), 201)
	}
	env := f.sg.sign(t, "orders", "1.0.0", f.v1, wire.Targets{Nodes: f.ids})
	wantCode(t, "push 1.0.0", call(t, f.s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: env}, &f.dep1), 201)
	eventually(t, "1.0.0 running everywhere", func() bool {
		var d wire.Deployment
		call(t, f.s, "GET", "/api/v1/deployments/"+f.dep1.ID, nil, &d)
		return d.Done && !slices.ContainsFunc(d.Devices, func(dd wire.DeploymentDevice) bool { return dd.State != wire.StateRunning })
	})
	return f
}

// request is the rollout of 1.1.0 with the operator's rollback statement
// for 1.0.0 (epoch 1), as edgectl push --waves signs them.
func (f *rolloutFixture) request(t *testing.T, waves []string, gate wire.Gate) wire.RolloutRequest {
	rb := f.sg.manifest("orders", "1.0.0", f.v1, wire.Targets{Nodes: f.ids})
	rb.Schema, rb.Epoch = wire.ManifestSchemaEpoch, 1
	env, err := wire.Sign(rb, f.sg.key)
	if err != nil {
		t.Fatal(err)
	}
	return wire.RolloutRequest{Envelope: f.sg.sign(t, "orders", "1.1.0", f.v2, wire.Targets{Nodes: f.ids}),
		Rollbacks: []wire.Envelope{*env}, Waves: waves, Gate: gate}
}

// waitRollout polls rollout id until cond holds (60 s at most).
func waitRollout(t *testing.T, s *Server, id, what string, cond func(r wire.Rollout) bool) wire.Rollout {
	t.Helper()
	var r wire.Rollout
	deadline := time.Now().Add(60 * time.Second)
	for {
		call(t, s, "GET", "/api/v1/rollouts/"+id, nil, &r)
		if cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollout %s: not %s within 60s: %s: %s (figures %+v)", id, what, r.State, r.Reason, r.Figures)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func state(s string) func(wire.Rollout) bool {
	return func(r wire.Rollout) bool { return r.State == s }
}

// TestRolloutGateFails: 1.1.0 answers half its requests with 5xx. The
// rollout stops after its first wave (one device), sends that device back
// to 1.0.0 with the operator's rollback statement, and never touches the
// others: their desired state keeps its generation.
func TestRolloutGateFails(t *testing.T) {
	f := newRolloutFixture(t, 4, nil)
	for _, a := range f.agents {
		a.behave = func(v string) (uint64, uint64, time.Duration) {
			if v == "1.1.0" {
				return 20, 10, 2 * time.Millisecond
			}
			return 20, 0, 2 * time.Millisecond
		}
	}
	gens := map[string][]int64{}
	for _, a := range f.agents {
		gens[a.id] = a.generations()
	}
	var r wire.Rollout
	wantCode(t, "create rollout", call(t, f.s, "POST", "/api/v1/rollouts",
		f.request(t, []string{"1", "50%", "100%"}, wire.Gate{SoakMillis: 30_000, MinRequests: 50}), &r), 201)
	if len(r.Waves) != 3 || len(r.Waves[0].Devices) != 1 {
		t.Fatalf("waves = %+v, want 1, 1 and 2 devices", r.Waves)
	}
	canary := r.Waves[0].Devices[0]
	r = waitRollout(t, f.s, r.ID, "rolled back", func(r wire.Rollout) bool { return wire.RolloutDone(r.State) })
	if r.State != wire.RolloutRolledBack || !strings.Contains(r.Reason, "gate failed") || !strings.Contains(r.Reason, "5xx share") {
		t.Fatalf("rollout ended %s: %q, want rolled_back by the gate's 5xx share", r.State, r.Reason)
	}
	if r.Waves[0].State != wire.WaveFailed || r.Waves[1].State != wire.WavePending || r.Waves[1].Deployment != "" {
		t.Errorf("waves after the failure: %+v", r.Waves)
	}
	if len(r.Rollback) != 1 || r.Rollback[0].Version != "1.0.0" || !slices.Equal(r.Rollback[0].Devices, []string{canary}) {
		t.Errorf("rollback = %+v, want %s back to 1.0.0", r.Rollback, canary)
	}
	for _, a := range f.agents {
		if a.id == canary {
			eventually(t, canary+" back on 1.0.0", func() bool { return a.serves("orders") == "1.0.0" })
			m, _ := wire.ParseManifest(entryOf(a.lastDesired(), "orders").Envelope.Payload)
			if m.Epoch != 1 || m.Version != "1.0.0" {
				t.Errorf("%s desired: %s epoch %d, want the rollback statement 1.0.0 epoch 1", a.id, m.Version, m.Epoch)
			}
			continue
		}
		if got := a.generations(); !slices.Equal(got, gens[a.id]) || a.serves("orders") != "1.0.0" {
			t.Errorf("%s was touched: generations %v (before %v), serves %s", a.id, got, gens[a.id], a.serves("orders"))
		}
	}
	t.Logf("gate: %s", r.Waves[0].Figures.Reason)
}

func entryOf(ds wire.DesiredState, module string) wire.DesiredModule {
	for _, dm := range ds.Modules {
		if m, err := wire.ParseManifest(dm.Envelope.Payload); err == nil && m.Name == module {
			return dm
		}
	}
	return wire.DesiredModule{}
}

// TestRolloutSurvivesRestart: a healthy version goes through every wave,
// with the controller restarted while the first wave soaks: the rollout,
// its gate figures and its waves come back from the store and it ends
// succeeded. A plain push of the module meanwhile is refused (409).
func TestRolloutSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	mqtt := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	cfgd := func(c *Config) { c.DataDir, c.MQTTAddr = dir, mqtt }
	f := newRolloutFixture(t, 3, cfgd)
	var r wire.Rollout
	wantCode(t, "create rollout", call(t, f.s, "POST", "/api/v1/rollouts",
		f.request(t, []string{"1", "100%"}, wire.Gate{SoakMillis: 3000, MinRequests: 20}), &r), 201)
	waitRollout(t, f.s, r.ID, "soaking", state(wire.RolloutSoaking))
	plain := f.sg.sign(t, "orders", "1.2.0", f.v2, wire.Targets{Nodes: f.ids})
	if code, msg := callErr(t, f.s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: plain}); code != 409 || !strings.Contains(msg, r.ID) {
		t.Errorf("plain push during the rollout = %d %q, want 409 naming the rollout", code, msg)
	}

	f.s.Close()
	f.s = startServer(t, cfgd)
	for _, a := range f.agents {
		a.connect("tcp://" + f.s.MQTTAddr())
	}
	r = waitRollout(t, f.s, r.ID, "done", func(r wire.Rollout) bool { return wire.RolloutDone(r.State) })
	if r.State != wire.RolloutSucceeded {
		t.Fatalf("rollout ended %s: %s", r.State, r.Reason)
	}
	for i, w := range r.Waves {
		if w.State != wire.WavePassed || w.Figures == nil || w.Figures.New.Requests < 20 {
			t.Errorf("wave %d: %s, figures %+v", i+1, w.State, w.Figures)
		}
	}
	for _, a := range f.agents {
		if v := a.serves("orders"); v != "1.1.0" {
			t.Errorf("%s serves %s, want 1.1.0", a.id, v)
		}
	}
}

// TestRolloutActions: pause stops the gate from passing a soaked wave;
// resume soaks it again; abort sends the updated devices back and ends
// aborted. Actions a state does not allow are 409.
func TestRolloutActions(t *testing.T) {
	f := newRolloutFixture(t, 2, nil)
	var r wire.Rollout
	wantCode(t, "create rollout", call(t, f.s, "POST", "/api/v1/rollouts",
		f.request(t, []string{"1", "100%"}, wire.Gate{SoakMillis: 1000, MinRequests: 10}), &r), 201)
	waitRollout(t, f.s, r.ID, "soaking", state(wire.RolloutSoaking))
	wantCode(t, "pause", call(t, f.s, "POST", "/api/v1/rollouts/"+r.ID+"/pause", nil, &r), 200)
	if code, _ := callErr(t, f.s, "POST", "/api/v1/rollouts/"+r.ID+"/pause", nil); code != 409 {
		t.Errorf("pause twice = %d, want 409", code)
	}
	time.Sleep(2500 * time.Millisecond) // past the soak: a live gate would pass it
	call(t, f.s, "GET", "/api/v1/rollouts/"+r.ID, nil, &r)
	if r.State != wire.RolloutPaused || r.Wave != 0 {
		t.Fatalf("paused rollout moved on: %s, wave %d", r.State, r.Wave)
	}
	wantCode(t, "resume", call(t, f.s, "POST", "/api/v1/rollouts/"+r.ID+"/resume", nil, &r), 200)
	if r.State != wire.RolloutSoaking {
		t.Errorf("resumed into %s, want soaking", r.State)
	}
	wantCode(t, "abort", call(t, f.s, "POST", "/api/v1/rollouts/"+r.ID+"/abort", nil, &r), 200)
	r = waitRollout(t, f.s, r.ID, "aborted", func(r wire.Rollout) bool { return wire.RolloutDone(r.State) })
	if r.State != wire.RolloutAborted || !strings.Contains(r.Reason, "aborted by the operator") {
		t.Fatalf("ended %s: %s, want aborted", r.State, r.Reason)
	}
	// The wave that was soaking says it was aborted; it used to say
	// "soaking" for ever after the rollout ended.
	if w := r.Waves[0]; w.State != wire.WaveAborted || w.Ended.IsZero() {
		t.Errorf("wave 1 after the abort: %s, ended %v; want aborted with an end", w.State, w.Ended)
	}
	if w := r.Waves[1]; w.State != wire.WavePending {
		t.Errorf("wave 2 after the abort: %s, want pending (never started)", w.State)
	}
	for _, a := range f.agents {
		eventually(t, a.id+" on 1.0.0", func() bool { return a.serves("orders") == "1.0.0" })
	}
	for _, action := range []string{"pause", "resume", "abort"} {
		if code, _ := callErr(t, f.s, "POST", "/api/v1/rollouts/"+r.ID+"/"+action, nil); code != 409 {
			t.Errorf("%s after the end = %d, want 409", action, code)
		}
	}
	if code, _ := callErr(t, f.s, "POST", "/api/v1/rollouts/"+r.ID+"/explode", nil); code != 404 {
		t.Errorf("unknown action = %d, want 404", code)
	}
}

// TestRolloutRefusals: what a rollout request must get right before
// anything is stored.
func TestRolloutRefusals(t *testing.T) {
	f := newRolloutFixture(t, 2, nil)
	good := f.request(t, []string{"1", "100%"}, wire.Gate{})
	noRollback := good
	noRollback.Rollbacks = nil
	lowEpoch := f.request(t, nil, wire.Gate{})
	m := f.sg.manifest("orders", "1.0.0", f.v1, wire.Targets{Nodes: f.ids})
	env, _ := wire.Sign(m, f.sg.key) // epoch 0: not above the new version's
	lowEpoch.Rollbacks = []wire.Envelope{*env}
	badWaves := good
	badWaves.Waves = []string{"1", "50%"}
	ghost := good
	ghost.Envelope = f.sg.sign(t, "orders", "1.1.0", f.v2, wire.Targets{Nodes: append(slices.Clone(f.ids), "ghost")})
	for _, tc := range []struct {
		name string
		req  wire.RolloutRequest
		code int
		msg  string
	}{
		{"no rollback statement for devices that run 1.0.0", noRollback, 400, "no rollback statement covers"},
		{"rollback not above the new version's epoch", lowEpoch, 400, "at an epoch above 0"},
		{"waves that do not reach everyone", badWaves, 400, "end the waves with 100%"},
		{"a node never registered", ghost, 400, "ghost never registered"},
		{"gate ratio under 1", func() wire.RolloutRequest { r := good; r.Gate.MaxP99Ratio = 0.5; return r }(), 400, "ratio"},
		{"unknown low-traffic rule", func() wire.RolloutRequest { r := good; r.Gate.LowTraffic = "maybe"; return r }(), 400, "low traffic"},
	} {
		if code, msg := callErr(t, f.s, "POST", "/api/v1/rollouts", tc.req); code != tc.code || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %d %q, want %d with %q", tc.name, code, msg, tc.code, tc.msg)
		}
	}
	var rs []wire.Rollout
	call(t, f.s, "GET", "/api/v1/rollouts", nil, &rs)
	if len(rs) != 0 {
		t.Errorf("refused requests stored rollouts: %+v", rs)
	}
	// A second live rollout of the module is refused.
	wantCode(t, "first", call(t, f.s, "POST", "/api/v1/rollouts", f.request(t, nil, wire.Gate{SoakMillis: 60_000}), nil), 201)
	if code, msg := callErr(t, f.s, "POST", "/api/v1/rollouts", good); code != 409 || !strings.Contains(msg, "in progress") {
		t.Errorf("second rollout = %d %q, want 409", code, msg)
	}
}
