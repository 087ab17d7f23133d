package dashboard_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeplane/edge/control/dashboard"
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
	bad := badColour(b)
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

// TestDashboardRolloutStates: every rollout and wave state of wire shows
// by its name (underscores as spaces), the bad ones in the bad colour and
// the others not; a failed gate's reason shows in the bad colour. A
// rollouts endpoint that fails leaves its error in its own section and
// the rest of the page live.
func TestDashboardRolloutStates(t *testing.T) {
	fastPolls(t)
	b := browser.New(t)
	now := time.Now().UTC()
	isBad := map[string]bool{wire.RolloutRollingBack: true, wire.RolloutRolledBack: true, wire.RolloutAborted: true, wire.RolloutRollbackFailed: true}
	var rollouts []wire.Rollout
	for i, st := range []string{wire.RolloutDeploying, wire.RolloutSoaking, wire.RolloutPaused, wire.RolloutRollingBack,
		wire.RolloutSucceeded, wire.RolloutRolledBack, wire.RolloutAborted, wire.RolloutRollbackFailed} {
		rollouts = append(rollouts, wire.Rollout{ID: fmt.Sprintf("r-%02d", i), Module: "orders", Version: "1.1.0", State: st, Created: now, Updated: now,
			Gate: wire.Gate{SoakMillis: 300000, MaxErrorRate: 0.01, MaxP99Ratio: 1.5, MinRequests: 100}})
	}
	fail := &wire.GateFigures{Time: now, Verdict: wire.GateFail, Reason: "5xx 9.0% over 1.0%",
		New: wire.GateSample{Devices: 1, Requests: 200, Errors: 18, ErrorRate: 0.09, P99: 0.25}, Old: wire.GateSample{Devices: 2, Requests: 400, Errors: 4, ErrorRate: 0.01, P99: 0.012}}
	rollouts[5].Waves = []wire.RolloutWave{
		{Devices: []string{"pi-1"}, State: wire.WavePassed, Started: now, Ended: now},
		{Devices: []string{"pi-2"}, State: wire.WaveFailed, Started: now, Ended: now, Figures: fail},
		{Devices: []string{"pi-3"}, State: wire.WavePending},
	}
	rollouts[6].Waves = []wire.RolloutWave{{Devices: []string{"pi-1"}, State: wire.WaveAborted, Started: now, Ended: now}}
	for i := range rollouts {
		if rollouts[i].Waves == nil {
			rollouts[i].Waves = []wire.RolloutWave{{Devices: []string{"pi-1"}, State: wire.WavePending}}
		}
	}
	var broken atomic.Bool
	mux := http.NewServeMux()
	dashboard.New(slog.New(slog.DiscardHandler)).Register(mux)
	stub := func(v any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, v) }
	}
	mux.HandleFunc("GET /api/v1/devices", stub([]wire.Device{}))
	mux.HandleFunc("GET /api/v1/modules", stub([]wire.ModuleSummary{}))
	mux.HandleFunc("GET /api/v1/deployments", stub([]wire.Deployment{}))
	mux.HandleFunc("GET /api/v1/rollouts", func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() {
			writeJSON(w, http.StatusInternalServerError, wire.APIError{Error: "store: database is locked"})
			return
		}
		writeJSON(w, http.StatusOK, rollouts)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	b.Open(srv.URL + "/")
	b.WaitText("table.rollouts", "r-07")
	bad := badColour(b)
	colourOf := func(sel string) (string, string) {
		type got struct{ Text, Colour string }
		g := browser.Eval[got](b, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? {text: e.textContent, colour: getComputedStyle(e).color} : {text: "", colour: ""} })()`, sel))
		return g.Text, g.Colour
	}
	for i, r := range rollouts {
		text, colour := colourOf(fmt.Sprintf("table.rollouts tbody tr:nth-child(%d) td:nth-child(4) > .state", i+1))
		if want := strings.ReplaceAll(r.State, "_", " "); text != want {
			t.Errorf("rollout %s: state shows %q, want %q", r.State, text, want)
		}
		if (colour == bad) != isBad[r.State] {
			t.Errorf("rollout %s: colour %s; bad colour %s, want it %v", r.State, colour, bad, isBad[r.State])
		}
	}
	for _, c := range []struct{ row, wave int }{{6, 1}, {6, 2}, {6, 3}, {7, 1}} {
		w := rollouts[c.row-1].Waves[c.wave-1]
		text, colour := colourOf(fmt.Sprintf("table.rollouts tbody tr:nth-child(%d) ol.waves li:nth-child(%d) .state", c.row, c.wave))
		if text != w.State || (colour == bad) != (w.State == wire.WaveFailed || w.State == wire.WaveAborted) {
			t.Errorf("wave %s shows %q in %s (bad colour %s)", w.State, text, colour, bad)
		}
	}
	b.WaitText("table.rollouts tbody tr:nth-child(6)", "wave 2 gate fail: 5xx 9.0% over 1.0%",
		"new 5xx 9.00% (18 of 200 requests), p99 250 ms", "old 5xx 1.00% (4 of 400 requests), p99 12.0 ms",
		"soak 5 min · 5xx at most +1 pt · p99 at most ×1.5 · 100 requests needed")
	if _, colour := colourOf("table.rollouts tbody tr:nth-child(6) .reason.bad"); colour != bad {
		t.Errorf("the failed gate's reason is in %q, want the bad colour %s", colour, bad)
	}
	b.NoErrors()

	broken.Store(true)
	b.WaitText("#rollouts", "rollouts: store: database is locked")
	b.WaitText("#devices", "No device registered")
	b.WaitText("#live", "live · updated")
	if got := b.Text("#banner"); got != "" {
		t.Errorf("one section failing shows the banner %q; want it only in its section", got)
	}
	b.NoErrors("500")
}

// badColour is the colour the page draws bad states in.
func badColour(b *browser.Browser) string {
	return browser.Eval[string](b, `(() => { const e = document.createElement("span"); e.className = "bad"; document.body.append(e); const c = getComputedStyle(e).color; e.remove(); return c })()`)
}
