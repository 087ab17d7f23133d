package dashboard_test

import (
	"encoding/json"
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

const rejectReason = "signature: key 5f2a… is not in the agent's trust set"

// TestDashboard drives the dashboard in Chromium against the real
// controller, fed by a device speaking the real wire protocol over the
// embedded broker: what a person sees on the fleet, device and module
// pages, live updates without a reload, a rejected push, charts that draw,
// logs that refresh, and a console free of errors and CSP violations.
func TestDashboard(t *testing.T) {
	fastPolls(t)
	b := browser.New(t)
	ctl := startController(t)
	broker := "tcp://" + ctl.srv.MQTTAddr()
	key := newKey(t)

	ctl.register("pi-2") // registered, never connected: offline
	pi1 := connectSim(t, broker, "pi-1", ctl.register("pi-1"), wire.Status{
		AgentVersion: "1.2.0", Arch: "arm64", Board: "rpi4", Engine: "compiler", Labels: map[string]string{"site": "north"},
	})
	pi3 := connectSim(t, broker, "pi-3", ctl.register("pi-3"), wire.Status{
		AgentVersion: "1.2.0", Arch: "riscv64", Board: "visionfive2", Engine: "interpreter", Labels: map[string]string{"site": "south"},
	})
	dep1 := ctl.push(key, "orders", "1.0.0", 8080, "pi-1", "pi-3")
	for _, d := range []*simDevice{pi1, pi3} {
		d.waitDesired(1)
		d.serve(dep1, 8080)
		d.report(120, 0)
	}
	f := newFront(t, ctl, pi1, pi3)
	b.Login(f.srv.URL, ctl.token)

	// Fleet overview.
	b.Open(f.srv.URL + "/")
	b.WaitText("#summary", "3\ndevices", "2\nonline", "1\noffline", "0\nwith errors")
	row := b.WaitText("table.devices tbody tr:nth-child(1)", "pi-1", "online", "rpi4", "arm64 / compiler", "1.2.0", "orders", "1.0.0", ":8080", "running")
	if strings.Contains(row, "last attempt") {
		t.Errorf("pi-1 shows a last attempt while it serves what it was last sent:\n%s", row)
	}
	b.WaitText("table.devices tbody tr:nth-child(2)", "pi-2", "offline", "never")
	b.WaitText("table.devices tbody tr:nth-child(3)", "pi-3", "online", "visionfive2", "riscv64 / interpreter", "1.0.0")
	b.WaitText("#modules", "orders", "1.0.0 on 2 devices", "2 / 2")
	b.WaitText("#deployments", dep1.ID, "orders", "1.0.0", "2 of 2 running", "done", "pi-1", "pi-3", "running")
	b.WaitText("#errors", "No device reports a failed attempt.")
	b.WaitText("#live", "live · updated")
	b.NoErrors()

	// A push that one device takes and the other rejects shows up without
	// a reload: the error, the deployment's state per device and, on the
	// device that refused, the serving version that stays.
	doc := b.Document()
	dep2 := ctl.push(key, "orders", "1.1.0", 8080, "pi-1", "pi-3")
	b.WaitText("#deployments", dep2.ID, "1.1.0", "0 of 2 running", "pending")
	pi3.waitDesired(2)
	pi3.serve(dep2, 8080)
	pi1.waitDesired(2)
	pi1.reject(dep2, rejectReason)
	b.WaitText("#errors", "pi-1", "orders", "1.1.0", "rejected", rejectReason)
	b.WaitText("#summary", "1\nwith errors")
	b.WaitText("table.devices tbody tr:nth-child(1)", "1.0.0", "running", "last attempt 1.1.0", "rejected", rejectReason)
	b.WaitText("table.devices tbody tr:nth-child(3)", "1.1.0", "running")
	b.WaitText("#modules", "1.1.0 on 1 device", "1.0.0 on 1 device", "2 / 2")
	b.WaitText("#deployments", "1 of 2 running", "rejected: "+rejectReason)
	if got := b.Document(); got != doc {
		t.Fatalf("the page was reloaded (document %s, then %s); want live updates in place", doc, got)
	}
	b.NoErrors()
	b.Screenshot("dashboard.png")

	// Device page.
	b.Open(f.srv.URL + "/devices/pi-1")
	b.WaitText("#online", "online")
	b.WaitText("#facts", "rpi4", "arm64 / compiler", "1.2.0", "site=north", "up 2 h", "broker connected", "RSS 11 MiB", "3.0 GiB of 8.0 GiB")
	b.WaitText("table.modules", "orders", "1.0.0", "8080", "running", "1.1.0", "rejected", rejectReason, "120")
	b.WaitText("#errors", "rejected", rejectReason)
	b.WaitText("#events", "running", "probing", "fetching", "rejected")
	for _, c := range []string{"chart-requests", "chart-errors", "chart-p99", "chart-memory"} {
		checkChart(t, b, c)
	}
	b.WaitText("#chart-p99 .summary", "now: orders ", " ms")
	// Another range asks for it again and redraws.
	hour := browser.Eval[int](b, `+document.getElementById("chart-requests").dataset.points`)
	browser.Eval[bool](b, `(() => { const s = document.getElementById("range"); s.value = "24h"; s.dispatchEvent(new Event("change")); return true })()`)
	deadline := time.Now().Add(30 * time.Second)
	for browser.Eval[int](b, `+document.getElementById("chart-requests").dataset.points`) < 10*hour {
		if time.Now().After(deadline) {
			t.Fatalf("the last 24 hours show %d points, want at least %d (the hour showed %d)", browser.Eval[int](b, `+document.getElementById("chart-requests").dataset.points`), 10*hour, hour)
		}
		time.Sleep(200 * time.Millisecond)
	}
	checkChart(t, b, "chart-requests")
	browser.Eval[bool](b, `(() => { const s = document.getElementById("range"); s.value = "1h"; s.dispatchEvent(new Event("change")); return true })()`)
	b.WaitText("#chart-requests .summary", "now: orders ")
	b.WaitText("#chart-memory .summary", "agent", "MiB", "orders")
	b.WaitText("#logs", "listening on :8080", "slow query", "request served n=1")
	if strings.Contains(b.Text("#logs"), "n=2") {
		t.Fatalf("logs show a second request before the refresh:\n%s", b.Text("#logs"))
	}
	b.Click("#log-refresh")
	b.WaitText("#logs", "request served n=2", "lines from the agent")
	browser.Eval[bool](b, `(() => { const s = document.getElementById("log-source"); s.value = "orders"; s.dispatchEvent(new Event("change")); return true })()`)
	b.WaitText("#logs", "lines from orders", "request served n=3")

	// Counters move without a reload.
	doc = b.Document()
	pi1.report(80, 3)
	b.WaitText("table.modules", "200")
	if got := b.Document(); got != doc {
		t.Fatalf("the device page was reloaded; want live updates in place")
	}
	b.NoErrors()
	b.Screenshot("dashboard-device.png")

	// Module page.
	b.Open(f.srv.URL + "/modules/orders")
	b.WaitText("#summary", "2\ndevices targeted", "2\nserving", "2\nversions serving", "1\nattempts not serving")
	b.WaitText("table.versions tbody tr:nth-child(1)", "1.1.0", "1", "pi-3")
	b.WaitText("table.versions tbody tr:nth-child(2)", "1.0.0", "1", "pi-1")
	b.WaitText("table.attempts", "pi-1", "1.1.0", "rejected", rejectReason)
	b.WaitText("#deployments", "1.0.0", "1.1.0", "rejected")
	b.NoErrors()
	b.Screenshot("dashboard-module.png")

	// An unknown device says so.
	b.Open(f.srv.URL + "/devices/ghost")
	b.WaitText("#facts", "device ghost: not found")
	b.NoErrors("404")

	// A device going offline is seen live on its page.
	b.Open(f.srv.URL + "/devices/pi-1")
	b.WaitText("#online", "online")
	pi1.shutdown()
	b.WaitText("#online", "offline")
	b.NoErrors()
}

// TestDashboardPausesWhenHidden: a hidden tab asks the controller nothing;
// shown again, it refreshes at once.
func TestDashboardPausesWhenHidden(t *testing.T) {
	fastPolls(t)
	b := browser.New(t)
	ctl := startController(t)
	f := newFront(t, ctl)
	b.Login(f.srv.URL, ctl.token)
	b.Open(f.srv.URL + "/")
	b.WaitText("#devices", "No device registered")
	b.WaitText("#live", "live · updated")

	setHidden := func(hidden bool) {
		browser.Eval[bool](b, fmt.Sprintf(`(() => {
  if (%t) {
    Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
    Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
  } else {
    delete document.hidden;
    delete document.visibilityState;
  }
  document.dispatchEvent(new Event("visibilitychange"));
  return document.hidden;
})()`, hidden))
	}
	setHidden(true)
	b.WaitText("#live", "paused while hidden")
	time.Sleep(time.Second) // a request already on its way may finish
	before := f.count("/api/v1/devices")
	time.Sleep(2*dashboard.PollInterval + time.Second)
	if got := f.count("/api/v1/devices"); got != before {
		t.Errorf("hidden for two poll intervals: %d requests for devices, want none", got-before)
	}
	// Hiding cleared the timer: only the return of visibility can start
	// polling again, so any request now is the resume (a loaded machine
	// may take a moment).
	setHidden(false)
	deadline := time.Now().Add(2 * dashboard.PollInterval)
	for f.count("/api/v1/devices") == before {
		if time.Now().After(deadline) {
			t.Fatalf("shown again: no request within %s; want one at once", 2*dashboard.PollInterval)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.WaitText("#live", "live · updated")
	b.NoErrors()

	// The controller goes away: the page says so, keeps what it showed,
	// and recovers by itself.
	f.down.Store(true)
	b.WaitText("#banner", "Controller unreachable", fmt.Sprintf("retrying every %d s", int(dashboard.PollInterval.Seconds())))
	b.WaitText("#devices", "No device registered")
	f.down.Store(false)
	deadline = time.Now().Add(2 * dashboard.PollInterval)
	for b.Text("#banner") != "" {
		if time.Now().After(deadline) {
			t.Fatalf("controller back for %s, the banner still says %q", 2*dashboard.PollInterval, b.Text("#banner"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.NoErrors("ERR_EMPTY_RESPONSE")
}

// TestDashboardLargeFleet: 2000 devices render, the counts are right, a
// page whose answers are large asks for them less often, and times are
// told by the controller's clock (here an hour ahead of the browser's).
func TestDashboardLargeFleet(t *testing.T) {
	fastPolls(t)
	b := browser.New(t)
	const n = 2000
	skew := time.Hour
	now := time.Now().Add(skew)
	devices := make([]wire.Device, n)
	for i := range devices {
		id := fmt.Sprintf("pi-%04d", i)
		d := wire.Device{ID: id, Online: i%10 != 0, LastSeen: now.Add(-10 * time.Minute),
			Status: &wire.Status{Device: id, Online: i%10 != 0, Time: now, AgentVersion: "1.2.0", Arch: "arm64", Board: "rpi4", Engine: "compiler",
				Labels: map[string]string{"site": "north"}, Generation: 3,
				Modules: []wire.ModuleStatus{{Name: "orders", Version: "1.0.0", State: wire.StateRunning, Port: 8080, Since: now}}}}
		if i%100 == 0 {
			d.Status.Modules[0].Attempt = &wire.ModuleAttempt{Version: "1.1.0", State: wire.StateFailed, Reason: "probe: GET / answered 500", Time: now}
		}
		devices[i] = d
	}
	var devicesAsked atomic.Int64
	mux := http.NewServeMux()
	dashboard.New(slog.New(slog.DiscardHandler)).Register(mux)
	api := func(v any, count *atomic.Int64) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if count != nil {
				count.Add(1)
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Date", time.Now().Add(skew).UTC().Format(http.TimeFormat))
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ") // as the controller answers
			enc.Encode(v)
		}
	}
	mux.HandleFunc("GET /api/v1/devices", api(devices, &devicesAsked))
	mux.HandleFunc("GET /api/v1/modules", api([]wire.ModuleSummary{}, nil))
	big := wire.Deployment{ID: "d-big", Module: "orders", Version: "1.1.0", Created: now}
	for i, d := range devices {
		state, reason := wire.StateRunning, ""
		if i%100 == 0 {
			state, reason = wire.StateFailed, "probe: GET / answered 500"
		}
		big.Devices = append(big.Devices, wire.DeploymentDevice{Device: d.ID, State: state, Reason: reason, Updated: now})
	}
	mux.HandleFunc("GET /api/v1/deployments", api([]wire.Deployment{big}, nil))
	mux.HandleFunc("GET /api/v1/rollouts", api([]wire.Rollout{}, nil))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	b.Open(srv.URL + "/")
	b.WaitText("#summary", "2000\ndevices", "1800\nonline", "200\noffline", "20\nwith errors")
	b.WaitText("table.devices tbody tr:nth-child(1)", "pi-0000", "10 min ago")
	t.Logf("%d devices shown %.0f ms after navigation began (polled every 200 ms)", n, browser.Eval[float64](b, `performance.now()`))
	if rows := browser.Eval[int](b, `document.querySelectorAll("table.devices tbody tr").length`); rows != n {
		t.Errorf("%d device rows, want %d", rows, n)
	}
	if rows := browser.Eval[int](b, `document.querySelectorAll("table.errors tbody tr").length`); rows != n/100 {
		t.Errorf("%d rows of devices with errors, want %d", rows, n/100)
	}
	// A deployment to 2000 devices: counts per state, the failures by name.
	b.WaitText("table.deployments", "d-big", "1980 of 2000 running", "1980 running, 20 failed", "pi-0000 failed: probe: GET / answered 500", "and 1990 more")
	if items := browser.Eval[int](b, `document.querySelectorAll("table.deployments li").length`); items != 10 {
		t.Errorf("the deployment lists %d devices by name, want 10", items)
	}
	live := b.WaitText("#live", "live · updated", "(large answers)")
	t.Logf("live indicator: %s", live)
	asked := devicesAsked.Load()
	time.Sleep(dashboard.PollInterval + time.Second)
	if got := devicesAsked.Load(); got != asked {
		t.Errorf("device list asked %d more time(s) within %s of a %d-device answer; want the poll stretched", got-asked, dashboard.PollInterval+time.Second, n)
	}
	b.NoErrors()
}

// chartReading is what a chart shows, read from the page and its canvas.
type chartReading struct {
	Points  int     `json:"points"`
	Max     float64 `json:"max"`
	Colored int     `json:"colored"` // pixels of a series colour
	Rows    int     `json:"rows"`    // rows they span
	Summary string  `json:"summary"`
}

// checkChart checks that a chart drew a line with non-zero points: the
// page's own count and, independently, the pixels of the canvas.
func checkChart(t *testing.T, b *browser.Browser, id string) {
	t.Helper()
	expr := fmt.Sprintf(`(() => {
  const fig = document.getElementById(%q);
  const canvas = fig && fig.querySelector("canvas");
  if (!canvas || !fig.dataset.points) return {points: 0, max: 0, colored: 0, rows: 0, summary: ""};
  const {width, height} = canvas;
  // Read a copy: reading the chart's own canvas again and again makes
  // Chromium warn (willReadFrequently).
  const copy = document.createElement("canvas");
  copy.width = width; copy.height = height;
  const ctx = copy.getContext("2d", {willReadFrequently: true});
  ctx.drawImage(canvas, 0, 0);
  const px = ctx.getImageData(0, 0, width, height).data;
  let colored = 0, top = height, bottom = -1;
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const i = (y * width + x) * 4;
    const r = px[i], g = px[i + 1], b = px[i + 2];
    if (px[i + 3] > 128 && Math.max(r, g, b) - Math.min(r, g, b) > 80) { colored++; top = Math.min(top, y); bottom = Math.max(bottom, y); }
  }
  return {points: +fig.dataset.points, max: +fig.dataset.max, colored, rows: bottom - top + 1, summary: fig.querySelector(".summary").textContent};
})()`, id)
	var r chartReading
	deadline := time.Now().Add(30 * time.Second)
	for {
		r = browser.Eval[chartReading](b, expr)
		if r.Points > 0 && r.Max > 0 && r.Colored > 100 && r.Rows > 5 {
			t.Logf("%s: %d points, highest %v, %d coloured pixels over %d rows: %s", id, r.Points, r.Max, r.Colored, r.Rows, r.Summary)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %+v; want points with a non-zero highest value and a varying line drawn over more than 5 rows", id, r)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// fastPolls makes the pages of controllers the test starts poll every
// second, so that the test waits less for what it checks.
func fastPolls(t *testing.T) {
	old := dashboard.PollInterval
	dashboard.PollInterval = time.Second
	t.Cleanup(func() { dashboard.PollInterval = old })
}

// TestDashboardSignedOut: with the API answering 401, every page says it
// is not signed in and links to the sign-in page, and renders no data.
func TestDashboardSignedOut(t *testing.T) {
	b := browser.New(t)
	ui := http.NewServeMux()
	dashboard.New(slog.New(slog.DiscardHandler)).Register(ui)
	mux := http.NewServeMux()
	mux.Handle("/", ui)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(wire.APIError{Error: "not signed in"})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, path := range []string{"/", "/devices/pi-1", "/modules/orders"} {
		b.Open(srv.URL + path)
		b.WaitText("#banner", "Not signed in.", "Sign in")
		href := browser.Eval[string](b, `document.querySelector("#banner a").getAttribute("href")`)
		if want := "/login?next=" + strings.ReplaceAll(path, "/", "%2F"); href != want {
			t.Errorf("%s: sign-in link %q, want %q", path, href, want)
		}
		if got := b.Text("#live"); strings.Contains(got, "updated") {
			t.Errorf("%s: live indicator says %q while signed out", path, got)
		}
		b.NoErrors("401")
	}
}

// TestCSPViolationsAreSeen checks the checker: a page with an inline
// script and an inline style under the dashboard's CSP is reported.
func TestCSPViolationsAreSeen(t *testing.T) {
	b := browser.New(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", dashboard.CSP)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><p style="color:red">x</p><script>document.title = "ran"</script>`)
	}))
	defer srv.Close()
	b.Open(srv.URL)
	if got := browser.Eval[string](b, `document.title`); got == "ran" {
		t.Fatal("an inline script ran under the dashboard's CSP")
	}
	csp := b.CSPViolations()
	var inline int
	for _, v := range csp {
		if strings.Contains(v, "inline") {
			inline++
		}
	}
	if inline < 2 {
		t.Fatalf("CSP violations seen: %q; want the inline script and the inline style", csp)
	}
	b.Messages() // the violations also went to the console, as expected here
}
