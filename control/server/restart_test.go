package server

import (
	"testing"

	"github.com/edgeplane/edge/wire"
)

// TestRestartRepublishes checks that desired state survives a controller
// restart and is published again on a fresh (embedded) broker, and that
// credentials survive too.
func TestRestartRepublishes(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, func(c *Config) { c.DataDir = dir })
	pw := register(t, s, "r1")
	blob := moduleBytes(20 << 10)
	wantCode(t, "put blob", call(t, s, "PUT", "/api/v1/blobs/"+digest(blob), blob, nil), 201)
	env := newSigner(t).sign(t, "orders", "1.0.0", blob, wire.Targets{Nodes: []string{"r1"}})
	var dep wire.Deployment
	wantCode(t, "deploy", call(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: env}, &dep), 201)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s2 := startServer(t, func(c *Config) { c.DataDir = dir })
	dev := connectDevice(t, "tcp://"+s2.MQTTAddr(), "r1", pw)
	ds := dev.nextDesired(1)
	if ds.Generation != 1 || len(ds.Modules) != 1 || ds.Modules[0].Deployment != dep.ID {
		t.Fatalf("desired after restart = %+v, want generation 1 of %s", ds, dep.ID)
	}
	fetchAll(t, dev, ds.Modules[0].Blob)
}
