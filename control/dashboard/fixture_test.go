package dashboard_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// front is what the browser talks to: the real controller behind a reverse
// proxy, plus wire-encoded fixtures for the API endpoints of issue 8 that
// the controller may not serve yet (device detail, modules, logs). Such a
// fixture answers only when the controller itself answers 404 "no such API
// endpoint", so once the real endpoints exist the same test runs against
// them (the simulated devices answer log requests over MQTT as agents do);
// the test log says which answered. History always comes from a fixture.
type front struct {
	t   *testing.T
	ctl *controller
	srv *httptest.Server

	sims     map[string]*simDevice
	mu       sync.Mutex
	used     map[string]string // endpoint → "controller" or "fixture"
	requests map[string]int    // by path
	down     atomic.Bool       // drop every connection, as a dead controller would
}

func newFront(t *testing.T, ctl *controller, sims ...*simDevice) *front {
	f := &front{t: t, ctl: ctl, sims: map[string]*simDevice{}, used: map[string]string{}, requests: map[string]int{}}
	for _, s := range sims {
		f.sims[s.id] = s
	}
	u, _ := url.Parse(ctl.url)
	mux := http.NewServeMux()
	mux.Handle("/", httputil.NewSingleHostReverseProxy(u))
	mux.HandleFunc("GET /api/v1/devices/{id}/detail", f.orFixture("detail", f.detail))
	mux.HandleFunc("GET /api/v1/modules", f.orFixture("modules", f.modules))
	// History is always the fixture's: a test cannot wait for an hour of
	// downsampled points, and the page needs only wire.History values.
	mux.HandleFunc("GET /api/v1/history", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.used["history"] = "fixture (always)"
		f.mu.Unlock()
		f.history(w, r)
	})
	mux.HandleFunc("GET /api/v1/devices/{id}/logs", f.orFixture("logs", f.logs))
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() && strings.HasPrefix(r.URL.Path, "/api/") {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		f.mu.Lock()
		f.requests[r.URL.Path]++
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		t.Logf("API endpoints answered by: %v", f.used)
	})
	return f
}

// orFixture asks the controller first and serves the fixture only when the
// controller has no such endpoint.
func (f *front) orFixture(name string, fixture http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		resp, err := f.ctl.hc.Get(f.ctl.url + r.URL.RequestURI())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e wire.APIError
		missing := resp.StatusCode == http.StatusNotFound && json.Unmarshal(body, &e) == nil && e.Error == "no such API endpoint"
		f.mu.Lock()
		f.used[name] = map[bool]string{true: "fixture", false: "controller"}[missing]
		f.mu.Unlock()
		if missing {
			fixture(w, r)
			return
		}
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
	}
}

// count is how many requests for path the browser made.
func (f *front) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[path]
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// device fetches one device from the real controller.
func (f *front) device(id string) (wire.Device, int) {
	resp, err := f.ctl.hc.Get(f.ctl.url + "/api/v1/devices/" + url.PathEscape(id))
	if err != nil {
		return wire.Device{}, http.StatusBadGateway
	}
	defer resp.Body.Close()
	var d wire.Device
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return d, resp.StatusCode
	}
	if err := wire.Decode(body, &d); err != nil {
		f.t.Errorf("controller's device %s does not decode: %v", id, err)
		return d, http.StatusBadGateway
	}
	return d, http.StatusOK
}

// detail: the controller's device, with the events its simulator sent.
func (f *front) detail(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, code := f.device(id)
	if code != http.StatusOK {
		writeJSON(w, code, wire.APIError{Error: "device " + id + ": not found"})
		return
	}
	out := wire.DeviceDetail{Device: d, Events: []wire.Event{}, Errors: []wire.Event{}}
	if d.Status != nil {
		out.Labels = d.Status.Labels
	}
	if s := f.sims[id]; s != nil {
		for _, ev := range s.Events() {
			if len(out.Events) < 50 {
				out.Events = append(out.Events, ev)
			}
			bad := ev.State == wire.StateRejected || ev.State == wire.StateFailed || ev.State == wire.StateRolledBack
			if bad && len(out.Errors) < 10 {
				out.Errors = append(out.Errors, ev)
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// modules: the controller's inventory summed up per module.
func (f *front) modules(w http.ResponseWriter, r *http.Request) {
	resp, err := f.ctl.hc.Get(f.ctl.url + "/api/v1/devices")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	var devices []wire.Device
	body, _ := io.ReadAll(resp.Body)
	if err := wire.Decode(body, &devices); err != nil {
		f.t.Errorf("controller's device list does not decode: %v", err)
	}
	byName := map[string]*wire.ModuleSummary{}
	for _, d := range devices {
		if d.Status == nil {
			continue
		}
		for _, m := range d.Status.Modules {
			s := byName[m.Name]
			if s == nil {
				s = &wire.ModuleSummary{Name: m.Name, Versions: []wire.VersionCount{}}
				byName[m.Name] = s
			}
			s.Targeted++
			if m.Version != "" {
				s.Serving++
				i := slices.IndexFunc(s.Versions, func(v wire.VersionCount) bool { return v.Version == m.Version })
				if i < 0 {
					s.Versions = append(s.Versions, wire.VersionCount{Version: m.Version})
					i = len(s.Versions) - 1
				}
				s.Versions[i].Devices = append(s.Versions[i].Devices, d.ID)
			}
			if m.Attempt != nil {
				s.Attempts = append(s.Attempts, wire.DeviceAttempt{Device: d.ID, Attempt: *m.Attempt})
			}
		}
	}
	out := []wire.ModuleSummary{}
	for _, s := range byName {
		slices.SortFunc(s.Versions, func(a, b wire.VersionCount) int { return -cmpString(a.Version, b.Version) })
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b wire.ModuleSummary) int { return cmpString(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, out)
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// history: one point a minute over the asked range, none in a ten-minute
// gap 20 minutes ago (no report then), with values that vary and never
// reach zero.
func (f *front) history(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since := time.Hour
	if s := q.Get("since"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, wire.APIError{Error: fmt.Sprintf("since %q: %v", s, err)})
			return
		}
		since = d
	}
	const step = 60
	now := time.Now().UTC().Truncate(time.Minute)
	h := wire.History{Device: q.Get("device"), Module: q.Get("module"), Step: step, Points: []wire.HistoryPoint{}}
	for t := now.Add(-since); !t.After(now); t = t.Add(step * time.Second) {
		ago := now.Sub(t)
		if ago > 20*time.Minute && ago <= 30*time.Minute {
			continue
		}
		x := float64(t.Unix()/step) / 6
		p := wire.HistoryPoint{Time: t}
		if h.Module != "" {
			p.Requests = 40 + 25*math.Sin(x)
			p.Errors = 0.5 + 0.4*math.Sin(x/2)
			p.P50 = 0.003
			p.P99 = 0.012 + 0.006*math.Cos(x)
			p.RSSBytes = int64(44<<20 + 4<<20*math.Sin(x/3))
			p.CPU = 0.1
		} else {
			p.RSSBytes = int64(11<<20 + 1<<20*math.Cos(x/3))
			p.CPU = 0.02
		}
		h.Points = append(h.Points, p)
	}
	writeJSON(w, http.StatusOK, h)
}

// logs: the batch the device's simulator answers, as the controller would
// relay it (504 for a device with no simulator: nobody answers).
func (f *front) logs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, code := f.device(id); code != http.StatusOK {
		writeJSON(w, code, wire.APIError{Error: "device " + id + ": not found"})
		return
	}
	q := r.URL.Query()
	req := wire.LogRequest{ID: "fixture", Module: q.Get("module")}
	if s := q.Get("max"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, wire.APIError{Error: "max " + s + ": not a number"})
			return
		}
		req.Max = v
	}
	if err := req.Validate(); err != nil {
		writeJSON(w, http.StatusBadRequest, wire.APIError{Error: err.Error()})
		return
	}
	sim := f.sims[id]
	if sim == nil {
		writeJSON(w, http.StatusGatewayTimeout, wire.APIError{Error: "device " + id + " did not answer"})
		return
	}
	b := sim.logBatch(req)
	if err := b.Validate(); err != nil {
		f.t.Errorf("fixture log batch: %v", err)
	}
	writeJSON(w, http.StatusOK, b)
}
