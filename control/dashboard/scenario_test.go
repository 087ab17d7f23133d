package dashboard_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edgeplane/edge/control/dashboard"
	"github.com/edgeplane/edge/wire"
)

const rejectReason = "signature: key 5f2a… is not in the agent's trust set"

// TestDashboard drives the dashboard in Chromium against the real
// controller, fed by a device speaking the real wire protocol over the
// embedded broker: what a person sees on the fleet, device and module
// pages, live updates without a reload, a rejected push, charts that draw,
// logs that refresh, and a console free of errors and CSP violations.
func TestDashboard(t *testing.T) {
	b := newBrowser(t)
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

	// Fleet overview.
	b.open(f.srv.URL + "/")
	b.waitText("#summary", "3\ndevices", "2\nonline", "1\noffline", "0\nwith errors")
	row := b.waitText("table.devices tbody tr:nth-child(1)", "pi-1", "online", "rpi4", "arm64 / compiler", "1.2.0", "orders", "1.0.0", ":8080", "running")
	if strings.Contains(row, "last attempt") {
		t.Errorf("pi-1 shows a last attempt while it serves what it was last sent:\n%s", row)
	}
	b.waitText("table.devices tbody tr:nth-child(2)", "pi-2", "offline", "never")
	b.waitText("table.devices tbody tr:nth-child(3)", "pi-3", "online", "visionfive2", "riscv64 / interpreter", "1.0.0")
	b.waitText("#modules", "orders", "1.0.0 on 2 devices", "2 / 2")
	b.waitText("#deployments", dep1.ID, "orders", "1.0.0", "2 of 2 running", "done", "pi-1", "pi-3", "running")
	b.waitText("#errors", "No device reports a failed attempt.")
	b.waitText("#live", "live · updated")
	b.noErrors()

	// A push that one device takes and the other rejects shows up without
	// a reload: the error, the deployment's state per device and, on the
	// device that refused, the serving version that stays.
	doc := b.document()
	dep2 := ctl.push(key, "orders", "1.1.0", 8080, "pi-1", "pi-3")
	b.waitText("#deployments", dep2.ID, "1.1.0", "0 of 2 running", "pending")
	pi3.waitDesired(2)
	pi3.serve(dep2, 8080)
	pi1.waitDesired(2)
	pi1.reject(dep2, rejectReason)
	b.waitText("#errors", "pi-1", "orders", "1.1.0", "rejected", rejectReason)
	b.waitText("#summary", "1\nwith errors")
	b.waitText("table.devices tbody tr:nth-child(1)", "1.0.0", "running", "last attempt 1.1.0", "rejected", rejectReason)
	b.waitText("table.devices tbody tr:nth-child(3)", "1.1.0", "running")
	b.waitText("#modules", "1.1.0 on 1 device", "1.0.0 on 1 device", "2 / 2")
	b.waitText("#deployments", "1 of 2 running", "rejected: "+rejectReason)
	if got := b.document(); got != doc {
		t.Fatalf("the page was reloaded (document %s, then %s); want live updates in place", doc, got)
	}
	b.noErrors()
	b.screenshot("dashboard.png")

	// Device page.
	b.open(f.srv.URL + "/devices/pi-1")
	b.waitText("#online", "online")
	b.waitText("#facts", "rpi4", "arm64 / compiler", "1.2.0", "site=north", "up 2 h", "broker connected", "RSS 11 MiB", "3.0 GiB of 8.0 GiB")
	b.waitText("table.modules", "orders", "1.0.0", "8080", "running", "1.1.0", "rejected", rejectReason, "120")
	b.waitText("#errors", "rejected", rejectReason)
	b.waitText("#events", "running", "probing", "fetching", "rejected")
	for _, c := range []string{"chart-requests", "chart-errors", "chart-p99", "chart-memory"} {
		checkChart(t, b, c)
	}
	b.waitText("#chart-p99 .summary", "now: orders ", " ms")
	b.waitText("#chart-memory .summary", "agent", "MiB", "orders")
	b.waitText("#logs", "listening on :8080", "slow query", "request served n=1")
	if strings.Contains(b.text("#logs"), "n=2") {
		t.Fatalf("logs show a second request before the refresh:\n%s", b.text("#logs"))
	}
	b.run("refresh logs", chromedp.Click(chromedp.CSS("#log-refresh")))
	b.waitText("#logs", "request served n=2")

	// Counters move without a reload.
	doc = b.document()
	pi1.report(80, 3)
	b.waitText("table.modules", "200")
	if got := b.document(); got != doc {
		t.Fatalf("the device page was reloaded; want live updates in place")
	}
	b.noErrors()
	b.screenshot("dashboard-device.png")

	// Module page.
	b.open(f.srv.URL + "/modules/orders")
	b.waitText("#summary", "2\ndevices targeted", "2\nserving", "2\nversions serving", "1\nattempts not serving")
	b.waitText("table.versions tbody tr:nth-child(1)", "1.1.0", "1", "pi-3")
	b.waitText("table.versions tbody tr:nth-child(2)", "1.0.0", "1", "pi-1")
	b.waitText("table.attempts", "pi-1", "1.1.0", "rejected", rejectReason)
	b.waitText("#deployments", "1.0.0", "1.1.0", "rejected")
	b.noErrors()
	b.screenshot("dashboard-module.png")

	// An unknown device says so.
	b.open(f.srv.URL + "/devices/ghost")
	b.waitText("#facts", "device ghost: not found")
	b.noErrors("404")

	// A device going offline is seen live on its page.
	b.open(f.srv.URL + "/devices/pi-1")
	b.waitText("#online", "online")
	pi1.shutdown()
	b.waitText("#online", "offline")
	b.noErrors()
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
func checkChart(t *testing.T, b *browser, id string) {
	t.Helper()
	expr := fmt.Sprintf(`(() => {
  const fig = document.getElementById(%q);
  const canvas = fig && fig.querySelector("canvas");
  if (!canvas || !fig.dataset.points) return {points: 0, max: 0, colored: 0, rows: 0, summary: ""};
  const {width, height} = canvas;
  const px = canvas.getContext("2d").getImageData(0, 0, width, height).data;
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
		r = eval[chartReading](b, expr)
		if r.Points > 0 && r.Max > 0 && r.Colored > 100 && r.Rows > 10 {
			t.Logf("%s: %d points, highest %v, %d coloured pixels over %d rows: %s", id, r.Points, r.Max, r.Colored, r.Rows, r.Summary)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %+v; want points with a non-zero highest value and a line drawn over more than 10 rows", id, r)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestDashboardSignedOut: with the API answering 401, every page says it
// is not signed in and links to the sign-in page, and renders no data.
func TestDashboardSignedOut(t *testing.T) {
	b := newBrowser(t)
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
		b.open(srv.URL + path)
		b.waitText("#banner", "Not signed in.", "Sign in")
		href := eval[string](b, `document.querySelector("#banner a").getAttribute("href")`)
		if want := "/login?next=" + strings.ReplaceAll(path, "/", "%2F"); href != want {
			t.Errorf("%s: sign-in link %q, want %q", path, href, want)
		}
		if got := b.text("#live"); strings.Contains(got, "updated") {
			t.Errorf("%s: live indicator says %q while signed out", path, got)
		}
		b.noErrors("401")
	}
}

// TestCSPViolationsAreSeen checks the checker: a page with an inline
// script and an inline style under the dashboard's CSP is reported.
func TestCSPViolationsAreSeen(t *testing.T) {
	b := newBrowser(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", dashboard.CSP)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><p style="color:red">x</p><script>document.title = "ran"</script>`)
	}))
	defer srv.Close()
	b.open(srv.URL)
	if got := eval[string](b, `document.title`); got == "ran" {
		t.Fatal("an inline script ran under the dashboard's CSP")
	}
	time.Sleep(300 * time.Millisecond)
	csp := eval[[]string](b, `window.__csp`)
	var inline int
	for _, v := range csp {
		if strings.Contains(v, "inline") {
			inline++
		}
	}
	if inline < 2 {
		t.Fatalf("CSP violations seen: %q; want the inline script and the inline style", csp)
	}
	b.mu.Lock()
	b.console = nil // the violations also went to the console, as expected here
	b.mu.Unlock()
}
