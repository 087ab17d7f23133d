package edgectl

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/edgeplane/edge/wire"
)

// TestUndeployWaits: undeploy prints what it removed per device and waits
// until each device's status stops listing the module: pi-1 after a few
// polls, pi-2 never registered (nothing runs there), pi-3 never (exit 3,
// naming it, with --wait).
func TestUndeployWaits(t *testing.T) {
	var polls atomic.Int32
	withOrders := func(id string) wire.Device {
		return wire.Device{ID: id, Status: &wire.Status{Device: id, Modules: []wire.ModuleStatus{{Name: "orders", Version: "1.0.0"}}}}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/undeploy", func(w http.ResponseWriter, r *http.Request) {
		var req wire.PlanRequest
		if err := wire.Decode(mustRead(r), &req); err != nil || req.Module != "orders" {
			apiError(w, http.StatusBadRequest, "request %+v: %v", req, err)
			return
		}
		p := wire.Plan{Module: "orders"}
		for _, n := range req.Targets.Nodes {
			p.Devices = append(p.Devices, wire.PlanDevice{ID: n, Serving: "1.0.0",
				Current: &wire.PlanVersion{Deployment: "d-1", Version: "1.0.0"}})
		}
		answer(w, http.StatusOK, p)
	})
	mux.HandleFunc("GET /api/v1/devices/{id}", func(w http.ResponseWriter, r *http.Request) {
		switch id := r.PathValue("id"); {
		case id == "pi-2":
			apiError(w, http.StatusNotFound, "device pi-2: not found")
		case id == "pi-1" && polls.Add(1) > 3:
			answer(w, http.StatusOK, wire.Device{ID: id, Status: &wire.Status{Device: id}})
		default:
			answer(w, http.StatusOK, withOrders(id))
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Setenv("EDGE_TOKEN", "t")
	noConfig(t)

	code, out, errs := run(t, "undeploy", "orders", "--node", "pi-1", "--node", "pi-2", "--control", srv.URL, "--wait", "5s")
	if code != ExitOK || !strings.Contains(errs, "pi-1: orders 1.0.0 (deployment d-1) removed from the desired state") ||
		strings.Count(out, "stopped") != 2 {
		t.Errorf("undeploy: exit %d\nstdout %s\nstderr %s\nwant 0, each device's removal, and both stopped", code, out, errs)
	}
	code, out, errs = run(t, "undeploy", "orders", "--node", "pi-3", "--control", srv.URL, "--wait", "300ms")
	if code != ExitTimeout || !strings.Contains(errs, "still reporting the module: pi-3") || !strings.Contains(out, "not confirmed") {
		t.Errorf("undeploy of a device that never confirms: exit %d\nstdout %s\nstderr %s\nwant 3 naming pi-3", code, out, errs)
	}
	code, out, _ = run(t, "undeploy", "orders", "--node", "pi-3", "--control", srv.URL, "--wait", "0")
	if code != ExitOK || !strings.Contains(out, "removed from the desired state") {
		t.Errorf("undeploy --wait 0: exit %d, %s; want 0 without waiting", code, out)
	}
}
