package server

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeplane/edge/wire"
)

// TestDeployStrictParsing is case 9 of issue 7: a deployment whose signed
// manifest is followed by trailing data was accepted (the controller read
// the first JSON value) while the controller's module-naming helper failed
// on the same bytes, so the entry replaced nothing and could never be
// removed. Every malformed shape is now refused with 400, with and without
// --trust, and changes nothing.
func TestDeployStrictParsing(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		name := "no trust"
		if trusted {
			name = "trust"
		}
		t.Run(name, func(t *testing.T) { strictParsing(t, trusted) })
	}
}

func strictParsing(t *testing.T, trusted bool) {
	sg := newSigner(t)
	s := startServer(t, func(c *Config) {
		if trusted {
			pem, _ := wire.MarshalPublicKey(sg.pub)
			f := filepath.Join(t.TempDir(), "edge.pub")
			os.WriteFile(f, pem, 0o644)
			c.TrustFiles = []string{f}
		}
	})
	pw := register(t, s, "strict-1")
	dev := connectDevice(t, "tcp://"+s.MQTTAddr(), "strict-1", pw)
	blob := moduleBytes(10 << 10)
	wantCode(t, "put blob", call(t, s, "PUT", "/api/v1/blobs/"+digest(blob), blob, nil), 201)
	targets := wire.Targets{Nodes: []string{"strict-1"}}
	good := sg.sign(t, "orders", "1.0.0", blob, targets)
	wantCode(t, "deploy 1.0.0", call(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: good}, nil), 201)
	if ds := dev.nextDesired(1); len(ds.Modules) != 1 {
		t.Fatalf("desired state %+v, want one module", ds)
	}

	next, _ := json.Marshal(sg.manifest("orders", "1.0.1", blob, targets))
	payload := func(f func(string) string) wire.DeployRequest {
		return wire.DeployRequest{Envelope: sg.signRaw([]byte(f(string(next))))}
	}
	goodBody, _ := json.Marshal(wire.DeployRequest{Envelope: sg.signRaw(next)})
	for _, tc := range []struct {
		name string
		body any
	}{
		{"manifest with trailing data", payload(func(m string) string { return m + ` {}` })},
		{"manifest given twice", payload(func(m string) string { return m + m })},
		{"manifest with a duplicate name", payload(func(m string) string {
			return strings.Replace(m, `"name":"orders"`, `"name":"orders","name":"other"`, 1)
		})},
		{"manifest with a case-variant name", payload(func(m string) string {
			return strings.Replace(m, `"name":"orders"`, `"name":"orders","Name":"other"`, 1)
		})},
		{"manifest with an unknown field", payload(func(m string) string { return strings.Replace(m, `{`, `{"admin":true,`, 1) })},
		{"body with trailing data", append(bytes.Clone(goodBody), " {}"...)},
		{"body with a duplicate envelope", bytes.Replace(goodBody, []byte(`{"envelope":`), []byte(`{"envelope":{},"envelope":`), 1)},
		{"body with an unknown field", bytes.Replace(goodBody, []byte(`{"envelope":`), []byte(`{"force":true,"envelope":`), 1)},
	} {
		if got := call(t, s, "POST", "/api/v1/deployments", tc.body, nil); got != 400 {
			t.Errorf("%s: status %d, want 400", tc.name, got)
		}
	}
	var deps []wire.Deployment
	call(t, s, "GET", "/api/v1/deployments", nil, &deps)
	if len(deps) != 1 {
		t.Errorf("after malformed deployments: %d deployments, want 1", len(deps))
	}
	// The well-formed 1.0.1 replaces 1.0.0: one entry, the new one.
	wantCode(t, "deploy 1.0.1", call(t, s, "POST", "/api/v1/deployments", goodBody, nil), 201)
	ds := dev.nextDesired(2)
	if len(ds.Modules) != 1 {
		t.Fatalf("desired state has %d modules, want 1", len(ds.Modules))
	}
	m, err := wire.ParseManifest(ds.Modules[0].Envelope.Payload)
	if err != nil || m.Version != "1.0.1" {
		t.Fatalf("desired module = %+v (%v), want orders 1.0.1", m, err)
	}
}

// TestDeployDropsUnparseableEntries: a desired state stored by an older
// controller may hold an entry whose manifest no agent can parse (the
// trailing-data case); the next deployment to the device drops it.
func TestDeployDropsUnparseableEntries(t *testing.T) {
	dir := t.TempDir()
	sg := newSigner(t)
	s := startServer(t, func(c *Config) { c.DataDir = dir })
	blob := moduleBytes(10 << 10)
	wantCode(t, "put blob", call(t, s, "PUT", "/api/v1/blobs/"+digest(blob), blob, nil), 201)
	targets := wire.Targets{Nodes: []string{"legacy-1"}}
	wantCode(t, "deploy", call(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: sg.sign(t, "orders", "1.0.0", blob, targets), AllowUnregistered: true}, nil), 201)

	// What an older controller stored: a second entry, trailing data.
	db := stateDB(t, dir)
	defer db.Close()
	var state string
	if err := db.QueryRow(`SELECT state FROM desired WHERE device = 'legacy-1'`).Scan(&state); err != nil {
		t.Fatal(err)
	}
	var ds wire.DesiredState
	json.Unmarshal([]byte(state), &ds)
	bad, _ := json.Marshal(sg.manifest("orders", "1.0.1", blob, targets))
	ds.Modules = append(ds.Modules, wire.DesiredModule{Deployment: "d-old", Envelope: sg.signRaw(append(bad, " {}"...)), Blob: ds.Modules[0].Blob})
	b, _ := json.Marshal(ds)
	if _, err := db.Exec(`UPDATE desired SET state = ? WHERE device = 'legacy-1'`, string(b)); err != nil {
		t.Fatal(err)
	}

	wantCode(t, "deploy 1.0.2", call(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: sg.sign(t, "orders", "1.0.2", blob, targets), AllowUnregistered: true}, nil), 201)
	if err := db.QueryRow(`SELECT state FROM desired WHERE device = 'legacy-1'`).Scan(&state); err != nil {
		t.Fatal(err)
	}
	ds = wire.DesiredState{}
	if err := wire.Decode([]byte(state), &ds); err != nil {
		t.Fatal(err)
	}
	if len(ds.Modules) != 1 || ds.Modules[0].Deployment == "d-old" {
		var ids []string
		for _, m := range ds.Modules {
			ids = append(ids, m.Deployment)
		}
		t.Fatalf("desired state after a new deployment holds deployments %q, want only the new one", ids)
	}
}
