package dashboard_test

import (
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/tests/browser"
	"github.com/edgeplane/edge/wire"
)

// TestDashboardRollouts: a staged rollout of orders 1.1.0 to three devices
// running 1.0.0, in two waves, created through the real API, shows live on
// the fleet page: its state, each wave's state and progress, the gate's
// figures (new against old) with its thresholds and the soak time left;
// paused, what resume returns to.
// Aborted (POST .../abort), the soaking wave says aborted, the next stays
// pending, the rollout ends aborted with the version it went back to, in
// the bad states' colour; the module page lists it too. The browser signs
// in with a read token.
func TestDashboardRollouts(t *testing.T) {
	fastPolls(t)
	b := browser.New(t)
	ctl := startController(t)
	ids := []string{"pi-1", "pi-2", "pi-3"}
	sims, all := simFleet(t, ctl, ids)
	key := newKey(t)
	dep1 := ctl.push(key, "orders", "1.0.0", 8080, ids...)
	for _, s := range all {
		s.waitDesired(1)
		s.serve(dep1, 8080)
	}
	f := newFront(t, ctl, all...)
	// Watching needs only the read role: the page signs in with a read
	// token (every change below goes through the admin client).
	var watcher wire.TokenCreated
	ctl.call("POST", "/api/v1/tokens", jsonBody(wire.TokenRequest{Name: "watcher", Role: wire.RoleRead}), &watcher)
	b.Login(f.srv.URL, watcher.Secret)
	b.Open(f.srv.URL + "/")
	b.WaitText("#deployments", dep1.ID, "3 of 3 running")
	b.WaitText("#rollouts", "No staged rollout yet")

	var ro wire.Rollout
	ctl.call("POST", "/api/v1/rollouts", jsonBody(wire.RolloutRequest{
		Envelope:  ctl.signed(key, "orders", "1.1.0", 8080, 0, ids...),
		Rollbacks: []wire.Envelope{ctl.signed(key, "orders", "1.0.0", 8080, 1, ids...)},
		Waves:     []string{"1", "100%"},
		Gate:      wire.Gate{SoakMillis: time.Hour.Milliseconds(), MinRequests: 10},
	}), &ro)
	if len(ro.Waves) != 2 || len(ro.Waves[0].Devices) != 1 {
		t.Fatalf("rollout %s has waves %+v; want 2, the first of one device", ro.ID, ro.Waves)
	}
	row := "table.rollouts tbody tr:nth-child(1)"
	b.WaitText(row, ro.ID, "orders", "1.1.0", "wave 1 of 2",
		"wave 1 deploying 0 of 1 device running", "wave 2 pending 2 devices",
		"soak 1 h 0 min · 5xx at most +1 pt · p99 at most ×1.5 · 10 requests needed · too few: fail")
	doc := b.Document()

	// The first wave's device takes 1.1.0: the wave soaks and the gate
	// compares it with the two devices still on 1.0.0.
	first := sims[ro.Waves[0].Devices[0]]
	first.waitDesired(2)
	var wave wire.Deployment
	ctl.call("GET", "/api/v1/rollouts/"+ro.ID, nil, &ro)
	ctl.call("GET", "/api/v1/deployments/"+ro.Waves[0].Deployment, nil, &wave)
	first.serve(wave, 8080)
	b.WaitText(row, "soaking", "wave 1 soaking 1 device", "soak 1 h 0 min, 5", "min left")
	deadline := time.Now().Add(60 * time.Second)
	for {
		for _, s := range all {
			s.report(50, 1)
		}
		got := b.Text(row)
		if strings.Contains(got, "new 5xx 2.00% (") && strings.Contains(got, "old 5xx 2.00% (") {
			t.Logf("gate figures shown:\n%s", got)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no gate figures for both versions within 60 s; the rollout shows:\n%s", got)
		}
		time.Sleep(500 * time.Millisecond)
	}
	b.WaitText(row, "gate waiting", "1 device on 1.1.0", "2 devices on 1.0.0", "p99 ",
		"baseline: the old version on the 2 devices not updated yet")
	b.NoErrors()

	// Paused, it says what resume returns to; resumed, it soaks again.
	ctl.call("POST", "/api/v1/rollouts/"+ro.ID+"/pause", nil, &ro)
	b.WaitText(row+" td:nth-child(4) > .state.s-paused", "paused")
	b.WaitText(row, "paused (resumes soaking)")
	ctl.call("POST", "/api/v1/rollouts/"+ro.ID+"/resume", nil, &ro)
	b.WaitText(row+" td:nth-child(4) > .state.s-soaking", "soaking")

	// Aborted: the wave that soaked says so, the device goes back to
	// 1.0.0 with the operator's rollback statement, and the rollout ends
	// aborted.
	ctl.call("POST", "/api/v1/rollouts/"+ro.ID+"/abort", nil, &ro)
	first.waitDesired(3)
	ctl.call("GET", "/api/v1/rollouts/"+ro.ID, nil, &ro)
	if len(ro.Rollback) != 1 || ro.Rollback[0].Deployment == "" {
		t.Fatalf("aborted rollout goes back with %+v; want one rollback deployment", ro.Rollback)
	}
	var back wire.Deployment
	ctl.call("GET", "/api/v1/deployments/"+ro.Rollback[0].Deployment, nil, &back)
	first.serve(back, 8080)
	b.WaitText(row+" td:nth-child(4) > .state.s-aborted", "aborted")
	b.WaitText(row, ro.ID, "aborted by the operator", "back to 1.0.0", "last gate verdict waiting",
		"wave 1 aborted 1 device", "wave 2 pending 2 devices")
	if got := b.Document(); got != doc {
		t.Fatalf("the page was reloaded; want live updates in place")
	}
	styled := browser.Eval[[]string](b, `[...document.querySelectorAll("table.rollouts tbody tr:nth-child(1) .state")].map((e) => e.className + "=" + getComputedStyle(e).color)`)
	bad := browser.Eval[string](b, `(() => { const e = document.createElement("span"); e.className = "bad"; document.body.append(e); const c = getComputedStyle(e).color; e.remove(); return c })()`)
	// The rollout's state and its first wave's are drawn as bad states are.
	if n := strings.Count(strings.Join(styled, "\n"), "state s-aborted="+bad); n != 2 {
		t.Errorf("states of the aborted rollout %q; want the rollout and its first wave as %q", styled, "state s-aborted="+bad)
	}
	b.NoErrors()
	b.Screenshot("dashboard-rollouts.png")

	b.Open(f.srv.URL + "/modules/orders")
	b.WaitText("#rollouts", ro.ID, "aborted", "wave 1 aborted", "wave 2 pending")
	b.NoErrors()
}

// simFleet registers and connects a simulated device for each id, by id
// and in order.
func simFleet(t *testing.T, ctl *controller, ids []string) (map[string]*simDevice, []*simDevice) {
	broker := "tcp://" + ctl.srv.MQTTAddr()
	byID := map[string]*simDevice{}
	var all []*simDevice
	for _, id := range ids {
		s := connectSim(t, broker, id, ctl.register(id), wire.Status{AgentVersion: "1.2.0", Arch: "arm64", Board: "rpi4", Engine: "compiler"})
		byID[id] = s
		all = append(all, s)
	}
	return byID, all
}
