//go:build long

package fleet

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// TestPlanLargeFleet (-tags long: its setup writes 30,000 rows) plans a push by label over 10,000 devices, each with
// a status and a metrics report, and checks the plan selects exactly the
// 1,000 labelled ones. It logs the CPU time of the inventory read and of
// the plan (figures for docs/BENCHMARKS.md, not asserted): a plan
// used to read every device's metrics report too, and a push to 1,000 of
// 10,000 simulated devices timed out in edgectl on a busy machine.
func TestPlanLargeFleet(t *testing.T) {
	f, st, _ := newTestFleet(t, t.TempDir())
	ctx := context.Background()
	now := time.Now()
	for i := range 10000 {
		id, s := largeFleetDevice(t, st, i, now)
		if err := st.PutStatus(ctx, &s, now); err != nil {
			t.Fatal(err)
		}
		m := report{seq: 1, at: now, agentStart: now, workerStart: now, requests: 100}.metrics(id)
		if err := st.PutMetrics(ctx, &m, now); err != nil {
			t.Fatal(err)
		}
	}
	c0 := cpu()
	devs, err := st.Devices(ctx)
	if err != nil || len(devs) != 10000 {
		t.Fatalf("Devices: %d, %v", len(devs), err)
	}
	inventory := cpu() - c0
	c0 = cpu()
	p, err := f.Plan(ctx, wire.PlanRequest{Module: "orders", Targets: wire.Targets{Labels: map[string]string{"group": "push"}}})
	plan := cpu() - c0
	if err != nil || len(p.Devices) != 1000 {
		t.Fatalf("Plan: %d devices, %v; want the 1000 labelled group=push", len(p.Devices), err)
	}
	for _, d := range p.Devices {
		if d.Serving != "1.0.0" || !d.Online {
			t.Fatalf("plan device %+v: want online, serving 1.0.0", d)
		}
	}
	t.Logf("10,000 devices: inventory with metrics %s CPU, plan by label %s CPU", inventory.Round(time.Millisecond), plan.Round(time.Millisecond))
}

// largeFleetDevice registers device i of the large fleet and returns its
// status: online, serving orders 1.0.0, labelled fleet=sim and group=push
// (one device in ten) or group=idle.
func largeFleetDevice(t *testing.T, st *store.Store, i int, now time.Time) (string, wire.Status) {
	t.Helper()
	id := fmt.Sprintf("fleet-%05d", i)
	group := "idle"
	if i%10 == 0 {
		group = "push"
	}
	if err := st.SetCredential(context.Background(), id, []byte("x"), now); err != nil {
		t.Fatal(err)
	}
	return id, wire.Status{Device: id, Online: true, Time: now, AgentVersion: "1", Arch: "amd64", Board: "sim", Engine: "compiler",
		Labels: map[string]string{"group": group, "fleet": "sim"}, Generation: 1,
		Modules: []wire.ModuleStatus{{Name: "orders", Version: "1.0.0", State: wire.StateRunning, Port: 8080, Since: now}}}
}

// cpu is this process's CPU time (user + system).
func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestDeployLargeFleet (-tags long) pushes by label to 1,000 of 10,000
// devices that all run a version of the module already (each with a
// stored desired state), and logs the time and CPU time of the plan and of
// Deploy, which a POST /api/v1/deployments waits for (figures for
// docs/BENCHMARKS.md; go test -cpuprofile shows what dominates). The
// publishes are not part of it: the publisher sends them afterwards.
func TestDeployLargeFleet(t *testing.T) {
	f, st, _ := newTestFleet(t, t.TempDir())
	ctx := context.Background()
	now := time.Now()
	var statuses []store.Report
	for i := range 10000 {
		_, s := largeFleetDevice(t, st, i, now)
		statuses = append(statuses, store.Report{Status: &s, Received: now})
	}
	if err := st.PutReports(ctx, statuses); err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	envelope := func(version string, module []byte, targets wire.Targets) wire.Envelope {
		sum := sha256.Sum256(module)
		if _, _, err := st.PutBlob(ctx, hex.EncodeToString(sum[:]), module, now); err != nil {
			t.Fatal(err)
		}
		created := time.Now().UTC().Truncate(time.Second)
		env, err := wire.Sign(&wire.Manifest{Schema: wire.ManifestSchema, Name: "orders", Version: version,
			SHA256: hex.EncodeToString(sum[:]), Size: int64(len(module)), Created: created, Expires: created.Add(time.Hour),
			Port: 8080, Targets: targets, KeyID: wire.KeyID(pub)}, key)
		if err != nil {
			t.Fatal(err)
		}
		return *env
	}
	c0, t0 := cpu(), time.Now()
	if _, err := f.Deploy(ctx, wire.DeployRequest{Envelope: envelope("1.0.0", []byte("\x00asm\x01\x00\x00\x00v1"), wire.Targets{Labels: map[string]string{"fleet": "sim"}})}); err != nil {
		t.Fatal(err)
	}
	t.Logf("setup: deploy 1.0.0 to all 10,000: %s, %s CPU", time.Since(t0).Round(time.Millisecond), (cpu() - c0).Round(time.Millisecond))

	targets := wire.Targets{Labels: map[string]string{"group": "push"}}
	c0, t0 = cpu(), time.Now()
	p, err := f.Plan(ctx, wire.PlanRequest{Module: "orders", Targets: targets})
	if err != nil || len(p.Devices) != 1000 {
		t.Fatalf("Plan: %d devices, %v; want the 1000 labelled group=push", len(p.Devices), err)
	}
	t.Logf("plan by label: %s, %s CPU", time.Since(t0).Round(time.Millisecond), (cpu() - c0).Round(time.Millisecond))
	c0, t0 = cpu(), time.Now()
	d, err := f.Deploy(ctx, wire.DeployRequest{Envelope: envelope("1.1.0", []byte("\x00asm\x01\x00\x00\x00v2"), targets)})
	if err != nil || len(d.Devices) != 1000 {
		t.Fatalf("Deploy: %d devices, %v; want 1000", len(d.Devices), err)
	}
	t.Logf("deploy 1.1.0 by label to 1,000: %s, %s CPU", time.Since(t0).Round(time.Millisecond), (cpu() - c0).Round(time.Millisecond))
}
