//go:build long

package fleet

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

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
		id := fmt.Sprintf("fleet-%05d", i)
		group := "idle"
		if i%10 == 0 {
			group = "push"
		}
		if err := st.SetCredential(ctx, id, []byte("x"), now); err != nil {
			t.Fatal(err)
		}
		s := wire.Status{Device: id, Online: true, Time: now, AgentVersion: "1", Arch: "amd64", Board: "sim", Engine: "compiler",
			Labels: map[string]string{"group": group}, Generation: 1,
			Modules: []wire.ModuleStatus{{Name: "orders", Version: "1.0.0", State: wire.StateRunning, Port: 8080, Since: now}}}
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

// cpu is this process's CPU time (user + system).
func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
