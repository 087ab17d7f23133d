package server

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// TestCancelDeployment: a deployment cancelled while one device finished
// it and another never reported: the unfinished device's desired entry
// goes back to what the deployment replaced (a new generation), its part
// is cancelled; the finished one keeps the version, with a note pointing
// at edgectl rollback. A device the deployment installed the module on
// gets the module removed.
func TestCancelDeployment(t *testing.T) {
	s := startServer(t, nil)
	sg := newSigner(t)
	done := newSimAgent(t, "done", register(t, s, "done"), nil)
	done.connect("tcp://" + s.MQTTAddr())
	register(t, s, "offline") // registered, never connects
	v1, v2 := moduleBytes(10<<10), moduleBytes(11<<10)
	for _, b := range [][]byte{v1, v2} {
		wantCode(t, "put blob", call(t, s, "PUT", "/api/v1/blobs/"+digest(b), b, nil), 201)
	}
	var d1, d2 wire.Deployment
	wantCode(t, "push 1.0.0", call(t, s, "POST", "/api/v1/deployments",
		wire.DeployRequest{Envelope: sg.sign(t, "orders", "1.0.0", v1, wire.Targets{Nodes: []string{"done", "offline"}})}, &d1), 201)
	eventually(t, "1.0.0 on done", func() bool { return done.serves("orders") == "1.0.0" })
	wantCode(t, "push 1.1.0", call(t, s, "POST", "/api/v1/deployments",
		wire.DeployRequest{Envelope: sg.sign(t, "orders", "1.1.0", v2, wire.Targets{Nodes: []string{"done", "offline"}})}, &d2), 201)
	eventually(t, "1.1.0 on done", func() bool { return done.serves("orders") == "1.1.0" })
	eventually(t, "done reported", func() bool {
		var d wire.Deployment
		call(t, s, "GET", "/api/v1/deployments/"+d2.ID, nil, &d)
		return d.Devices[0].State == wire.StateRunning
	})

	var res wire.CancelResult
	wantCode(t, "cancel", call(t, s, "POST", "/api/v1/deployments/"+d2.ID+"/cancel", nil, &res), 200)
	byDev := map[string]wire.CancelDevice{}
	for _, cd := range res.Devices {
		byDev[cd.Device] = cd
	}
	if cd := byDev["done"]; cd.Cancelled || !strings.Contains(cd.Note, "already running") || !strings.Contains(cd.Note, "edgectl rollback") {
		t.Errorf("finished device: %+v, want left alone with a note on edgectl rollback", cd)
	}
	if cd := byDev["offline"]; !cd.Cancelled || !strings.Contains(cd.Restored, "orders 1.0.0 (deployment "+d1.ID+")") {
		t.Errorf("unfinished device: %+v, want cancelled, back to 1.0.0", cd)
	}
	states := map[string]string{}
	for _, dd := range res.Deployment.Devices {
		states[dd.Device] = dd.State
	}
	if states["done"] != wire.StateRunning || states["offline"] != wire.StateCancelled || !res.Deployment.Done {
		t.Errorf("deployment after cancel: %v done %v, want running/cancelled, done", states, res.Deployment.Done)
	}
	var dev wire.Device
	call(t, s, "GET", "/api/v1/devices/offline", nil, &dev)
	ds, err := s.store.Desired(t.Context(), "offline")
	if err != nil || ds.Generation != 3 || len(ds.Modules) != 1 || ds.Modules[0].Deployment != d1.ID {
		t.Errorf("offline desired after cancel: generation %d, modules %+v (%v); want 3, the 1.0.0 entry", ds.Generation, ds.Modules, err)
	}
	// Cancelling a deployment that installed the module removes it.
	v3 := moduleBytes(12 << 10)
	wantCode(t, "put blob", call(t, s, "PUT", "/api/v1/blobs/"+digest(v3), v3, nil), 201)
	var d3 wire.Deployment
	wantCode(t, "push other", call(t, s, "POST", "/api/v1/deployments",
		wire.DeployRequest{Envelope: sg.sign(t, "other", "1.0.0", v3, wire.Targets{Nodes: []string{"offline"}})}, &d3), 201)
	wantCode(t, "cancel other", call(t, s, "POST", "/api/v1/deployments/"+d3.ID+"/cancel", nil, &res), 200)
	if ds, _ := s.store.Desired(t.Context(), "offline"); slices.ContainsFunc(ds.Modules, func(dm wire.DesiredModule) bool { return dm.Deployment == d3.ID }) {
		t.Errorf("cancelled new module still desired: %+v", ds.Modules)
	}
	if code, _ := callErr(t, s, "POST", "/api/v1/deployments/d-nosuch/cancel", nil); code != 404 {
		t.Errorf("cancel of an unknown deployment = %d, want 404", code)
	}
}

// TestUnregisteredTargets: a push to a node never registered is refused
// (400, naming it) before anything is stored, consistently with label
// targets that match nothing; --allow-unregistered lets it through.
func TestUnregisteredTargets(t *testing.T) {
	s := startServer(t, nil)
	sg := newSigner(t)
	register(t, s, "known")
	blob := moduleBytes(10 << 10)
	wantCode(t, "put blob", call(t, s, "PUT", "/api/v1/blobs/"+digest(blob), blob, nil), 201)
	for _, tc := range []struct {
		name    string
		targets wire.Targets
		msg     string
	}{
		{"typo", wire.Targets{Nodes: []string{"known", "knwon"}}, "knwon never registered"},
		{"label matching nothing", wire.Targets{Labels: map[string]string{"site": "mars"}}, "no known device carries the labels"},
	} {
		env := sg.sign(t, "orders", "1.0.0", blob, tc.targets)
		if code, msg := callErr(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: env}); code != 400 || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %d %q, want 400 with %q", tc.name, code, msg, tc.msg)
		}
		if code, msg := callErr(t, s, "POST", "/api/v1/plan", wire.PlanRequest{Module: "orders", Targets: tc.targets}); code != 400 || !strings.Contains(msg, tc.msg) {
			t.Errorf("plan %s: %d %q, want 400 with %q", tc.name, code, msg, tc.msg)
		}
	}
	var deps []wire.Deployment
	call(t, s, "GET", "/api/v1/deployments", nil, &deps)
	if len(deps) != 0 {
		t.Errorf("refused pushes stored %d deployments", len(deps))
	}
	env := sg.sign(t, "orders", "1.0.0", blob, wire.Targets{Nodes: []string{"known", "later"}})
	wantCode(t, "allowed", call(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: env, AllowUnregistered: true}, nil), 201)
}

// TestCentralLabels: labels set through the API reach the agent in its
// desired state and target pushes, merged under the agent's own: on a key
// both set, the agent's value wins.
func TestCentralLabels(t *testing.T) {
	s := startServer(t, nil)
	sg := newSigner(t)
	a := newSimAgent(t, "pi-1", register(t, s, "pi-1"), map[string]string{"site": "lyon"})
	a.connect("tcp://" + s.MQTTAddr())
	b := newSimAgent(t, "pi-2", register(t, s, "pi-2"), nil)
	b.connect("tcp://" + s.MQTTAddr())
	eventually(t, "statuses", func() bool {
		var devs []wire.Device
		call(t, s, "GET", "/api/v1/devices", nil, &devs)
		return len(devs) == 2 && devs[0].Status != nil && devs[1].Status != nil
	})
	var l wire.Labels
	wantCode(t, "label pi-1", call(t, s, "POST", "/api/v1/devices/pi-1/labels",
		wire.LabelRequest{Set: map[string]string{"ring": "canary", "site": "paris"}}, &l), 200)
	if l.Effective["ring"] != "canary" || l.Effective["site"] != "lyon" || !slices.Equal(l.Shadowed, []string{"site"}) {
		t.Errorf("labels of pi-1 = %+v, want ring=canary, site=lyon (the agent's), site shadowed", l)
	}
	eventually(t, "labels in pi-1's desired state", func() bool { return a.lastDesired().Labels["ring"] == "canary" })
	wantCode(t, "label pi-2", call(t, s, "POST", "/api/v1/devices/pi-2/labels", wire.LabelRequest{Set: map[string]string{"ring": "stable"}}, nil), 200)

	blob := moduleBytes(10 << 10)
	wantCode(t, "put blob", call(t, s, "PUT", "/api/v1/blobs/"+digest(blob), blob, nil), 201)
	var d wire.Deployment
	wantCode(t, "push to ring=canary", call(t, s, "POST", "/api/v1/deployments",
		wire.DeployRequest{Envelope: sg.sign(t, "orders", "1.0.0", blob, wire.Targets{Labels: map[string]string{"ring": "canary"}})}, &d), 201)
	if len(d.Devices) != 1 || d.Devices[0].Device != "pi-1" {
		t.Errorf("ring=canary targets %+v, want pi-1", d.Devices)
	}
	if code, _ := callErr(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: sg.sign(t, "orders", "1.0.1", blob,
		wire.Targets{Labels: map[string]string{"site": "paris"}})}); code != 400 {
		t.Errorf("site=paris (shadowed by the agent's site=lyon) = %d, want 400: it targets nobody", code)
	}
	// Removal, validation, unknown devices.
	var after wire.Labels
	wantCode(t, "unlabel", call(t, s, "POST", "/api/v1/devices/pi-1/labels", wire.LabelRequest{Remove: []string{"ring"}}, &after), 200)
	if _, ok := after.Central["ring"]; ok || after.Central["site"] != "paris" {
		t.Errorf("after removing ring: %+v, want site=paris only", after)
	}
	for _, tc := range []struct {
		path string
		req  wire.LabelRequest
		code int
	}{
		{"/api/v1/devices/pi-1/labels", wire.LabelRequest{Set: map[string]string{"bad key": "x"}}, 400},
		{"/api/v1/devices/pi-1/labels", wire.LabelRequest{Set: map[string]string{"k": "a/b"}}, 400},
		{"/api/v1/devices/pi-1/labels", wire.LabelRequest{Set: map[string]string{"k": "v"}, Remove: []string{"k"}}, 400},
		{"/api/v1/devices/ghost/labels", wire.LabelRequest{Set: map[string]string{"k": "v"}}, 404},
	} {
		if code, _ := callErr(t, s, "POST", tc.path, tc.req); code != tc.code {
			t.Errorf("POST %s %+v = %d, want %d", tc.path, tc.req, code, tc.code)
		}
	}
}

// TestQuarantineClear: the clear reaches the device as a higher
// QuarantineClear count in its desired state; a module the device reports
// nothing quarantined for is refused (409), so a typo does not look done.
func TestQuarantineClear(t *testing.T) {
	s := startServer(t, nil)
	pw := register(t, s, "q-1")
	dev := connectDevice(t, "tcp://"+s.MQTTAddr(), "q-1", pw)
	dev.publish(wire.KindStatus, true, wire.Status{Device: "q-1", Online: true, Time: time.Now().UTC(),
		Quarantine: []wire.QuarantineEntry{{Module: "orders", Version: "1.1.0", SHA256: strings.Repeat("a", 64), Reason: "crash loop"}}})
	eventually(t, "status", func() bool {
		var d wire.Device
		call(t, s, "GET", "/api/v1/devices/q-1", nil, &d)
		return d.Status != nil && len(d.Status.Quarantine) == 1
	})
	if code, msg := callErr(t, s, "POST", "/api/v1/devices/q-1/quarantine/clear", wire.QuarantineClearRequest{Module: "ordres"}); code != 409 || !strings.Contains(msg, "no quarantined manifest of ordres") {
		t.Errorf("clear of a module not quarantined = %d %q, want 409", code, msg)
	}
	var res wire.QuarantineClear
	wantCode(t, "clear", call(t, s, "POST", "/api/v1/devices/q-1/quarantine/clear", wire.QuarantineClearRequest{Module: "orders"}, &res), 202)
	ds := dev.nextDesired(res.Generation)
	if ds.QuarantineClear["orders"] != 1 || len(res.Cleared) != 1 {
		t.Errorf("desired quarantine clear = %v, answer %+v; want orders: 1", ds.QuarantineClear, res)
	}
	wantCode(t, "clear again", call(t, s, "POST", "/api/v1/devices/q-1/quarantine/clear", wire.QuarantineClearRequest{Module: "orders"}, &res), 202)
	if ds := dev.nextDesired(res.Generation); ds.QuarantineClear["orders"] != 2 {
		t.Errorf("second clear count = %d, want 2", ds.QuarantineClear["orders"])
	}
	if code, _ := callErr(t, s, "POST", "/api/v1/devices/ghost/quarantine/clear", wire.QuarantineClearRequest{Module: "orders"}); code != 404 {
		t.Errorf("clear on an unknown device = %d, want 404", code)
	}
}

// TestPlan: the plan names each device's current deployment, the
// module's highest epoch, and what a rollback goes back to.
func TestPlan(t *testing.T) {
	s := startServer(t, nil)
	sg := newSigner(t)
	a := newSimAgent(t, "p-1", register(t, s, "p-1"), nil)
	a.connect("tcp://" + s.MQTTAddr())
	v1, v2 := moduleBytes(10<<10), moduleBytes(11<<10)
	for _, b := range [][]byte{v1, v2} {
		wantCode(t, "put blob", call(t, s, "PUT", "/api/v1/blobs/"+digest(b), b, nil), 201)
	}
	targets := wire.Targets{Nodes: []string{"p-1"}}
	var d1, d2 wire.Deployment
	wantCode(t, "push 1.0.0", call(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: sg.sign(t, "orders", "1.0.0", v1, targets)}, &d1), 201)
	wantCode(t, "push 1.3.0", call(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: sg.sign(t, "orders", "1.3.0", v2, targets)}, &d2), 201)
	// A plan starts from what the device serves (its status), not from
	// what it was last sent.
	waitState(t, s, d2.ID, "p-1", wire.StateRunning)

	var p wire.Plan
	wantCode(t, "plan push", call(t, s, "POST", "/api/v1/plan", wire.PlanRequest{Module: "orders", Targets: targets}, &p), 200)
	if p.Epoch != 0 || len(p.Devices) != 1 || p.Devices[0].Current == nil || p.Devices[0].Current.Version != "1.3.0" ||
		len(p.Sources) != 1 || p.Sources[0].Deployment != d2.ID {
		t.Errorf("push plan = %+v", p)
	}
	wantCode(t, "plan rollback", call(t, s, "POST", "/api/v1/plan", wire.PlanRequest{Module: "orders", Targets: targets, Rollback: true}, &p), 200)
	if len(p.Sources) != 1 || p.Sources[0].Version != "1.0.0" || p.Sources[0].Deployment != d1.ID {
		t.Errorf("rollback plan sources = %+v, want 1.0.0 (what 1.3.0 replaced)", p.Sources)
	}
	// A rollback statement at epoch 1 raises the module's epoch.
	rb := sg.manifest("orders", "1.0.0", v1, targets)
	rb.Schema, rb.Epoch = wire.ManifestSchemaEpoch, 1
	env, _ := wire.Sign(rb, sg.key)
	wantCode(t, "push rollback", call(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: *env}, nil), 201)
	wantCode(t, "plan after", call(t, s, "POST", "/api/v1/plan", wire.PlanRequest{Module: "orders", Targets: targets, Rollback: true, To: "1.3.0"}, &p), 200)
	if p.Epoch != 1 || len(p.Sources) != 1 || p.Sources[0].Version != "1.3.0" {
		t.Errorf("plan after the rollback: epoch %d, sources %+v; want 1 and 1.3.0", p.Epoch, p.Sources)
	}
	if code, _ := callErr(t, s, "POST", "/api/v1/plan", wire.PlanRequest{Module: "orders", Targets: targets, Rollback: true, To: "9.9.9"}); code != 404 {
		t.Errorf("rollback to a version never deployed = %d, want 404", code)
	}
	// A rollback never installs the module where it does not run.
	register(t, s, "p-2")
	if code, msg := callErr(t, s, "POST", "/api/v1/plan", wire.PlanRequest{Module: "orders", Targets: wire.Targets{Nodes: []string{"p-1", "p-2"}},
		Rollback: true, To: "1.0.0"}); code != 404 || !strings.Contains(msg, "p-2 runs no version of orders") || strings.Contains(msg, "[p-2") {
		t.Errorf("rollback including a device without the module = %d %q, want 404 naming p-2 plainly", code, msg)
	}
}
