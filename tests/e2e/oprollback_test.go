package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/tests/harness"
	"github.com/edgeplane/edge/wire"
)

// api calls the controller's HTTP API: body as JSON, the answer decoded
// into out; it returns the status and, on an error answer, its message.
func (f *fleet) api(t *testing.T, method, path string, body, out any) (int, string) {
	t.Helper()
	var r *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	} else {
		r = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, f.control+wire.APIPrefix+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(harness.Authorize(req))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode/100 != 2 {
		var e wire.APIError
		json.Unmarshal(buf.Bytes(), &e)
		return resp.StatusCode, e.Error
	}
	if out != nil {
		if err := json.Unmarshal(buf.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %v: %q", method, path, err, buf.Bytes())
		}
	}
	return resp.StatusCode, ""
}

// serving is the version of module device id last reported serving, as
// the controller knows it.
func (f *fleet) serving(t *testing.T, id, module string) (version string, gen int64) {
	t.Helper()
	var d wire.Device
	if code, msg := f.api(t, "GET", "/devices/"+id, nil, &d); code != 200 {
		t.Fatalf("GET device %s: %d %s", id, code, msg)
	}
	if d.Status == nil {
		return "", 0
	}
	for _, m := range d.Status.Modules {
		if m.Name == module {
			return m.Version, d.Status.Generation
		}
	}
	return "", d.Status.Generation
}

// TestOperatorRollback is issue 9's rollback case with a real agent:
// orders 1.0.0, then 1.3.0; a plain push of 1.0.0 is refused by the agent
// with a reason that names edgectl rollback; `edgectl rollback orders --to
// 1.0.0` makes the device serve 1.0.0 (a new statement one epoch up); a
// replay of the original 1.0.0 envelope, which the controller passes on
// as a compromised one could, is then refused by the agent, which keeps
// serving; a normal push at the new epoch goes on from there.
func TestOperatorRollback(t *testing.T) {
	f := startFleet(t)
	start(t, agentRunning, nil, bin(t, "edge-agent"), append(f.device(t, "rb"), "--heartbeat-timeout", "2s")...)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	wasm := bin(t, "orders.wasm")
	for _, v := range []string{"1.0.0", "1.3.0"} {
		if out, _, code := f.push(t, wasm, v, "rb", port); code != 0 {
			t.Fatalf("push %s = %d\n%s", v, code, out)
		}
	}
	runWorkflow(t, base, seedWorkflow(t))
	seeded := getOrders(t, base)
	// What an attacker (or a compromised controller) kept: the signed
	// envelope of 1.0.0.
	var plan wire.Plan
	if code, msg := f.api(t, "POST", "/plan", wire.PlanRequest{Module: "orders", Targets: wire.Targets{Nodes: []string{"rb"}},
		Rollback: true, To: "1.0.0"}, &plan); code != 200 || len(plan.Sources) != 1 {
		t.Fatalf("plan: %d %s %+v", code, msg, plan)
	}
	original := plan.Sources[0].Envelope

	// The plain push of the older version: refused, and told what to do.
	out, reason, code := f.push(t, wasm, "1.0.0", "rb", port)
	if code != 1 || !strings.Contains(reason, "rejected") || !strings.Contains(reason, "edgectl rollback orders --to 1.0.0") {
		t.Errorf("plain push of 1.0.0 over 1.3.0 = exit %d (%s), want 1, rejected, naming edgectl rollback:\n%s", code, reason, out)
	}

	// The operator's rollback.
	stdout, stderr, code := edgectl(t, "rollback", "orders", "--to", "1.0.0", "--node", "rb", "--control", f.control,
		"--key", filepath.Join(f.keyDir, "edge.key"), "--wait", "2m", "--json")
	if code != 0 {
		t.Fatalf("edgectl rollback = %d\n%s%s", code, stdout, stderr)
	}
	t.Logf("rollback: %s", strings.TrimSpace(stderr))
	waitServing(t, f, "rb", "1.0.0")
	if got := getOrders(t, base); got != seeded {
		t.Errorf("after the rollback /orders = %q, want %q: a rollback of code keeps the data", got, seeded)
	}

	// The replay of the original 1.0.0: passed on by the controller,
	// refused by the agent with its reason, 1.0.0 (epoch 1) keeps serving.
	var dep wire.Deployment
	if code, msg := f.api(t, "POST", "/deployments", wire.DeployRequest{Envelope: original}, &dep); code != 201 {
		t.Fatalf("replay deployment: %d %s", code, msg)
	}
	d := waitDone(t, f, dep.ID)
	if dd := d.Devices[0]; dd.State != wire.StateRejected || !strings.Contains(dd.Reason, "signed before the operator's rollback") {
		t.Errorf("replayed 1.0.0: %s %q, want rejected as signed before the rollback", dd.State, dd.Reason)
	} else {
		t.Logf("replay refused: %s", dd.Reason)
	}
	if v, _ := f.serving(t, "rb", "orders"); v != "1.0.0" {
		t.Errorf("after the replay the device serves %q, want 1.0.0", v)
	}
	if got := getOrders(t, base); got != seeded {
		t.Errorf("after the replay /orders = %q, want %q", got, seeded)
	}

	// Life goes on: a newer version at the new epoch is accepted.
	if out, _, code := f.push(t, wasm, "1.4.0", "rb", port); code != 0 {
		t.Fatalf("push 1.4.0 after the rollback = %d\n%s", code, out)
	}
	waitServing(t, f, "rb", "1.4.0")
}

// waitServing waits until device id reports serving module orders at v.
func waitServing(t *testing.T, f *fleet, id, v string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got, _ := f.serving(t, id, "orders")
		if got == v {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s serves %q, want %s", id, got, v)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitDone polls a deployment until every device finished it.
func waitDone(t *testing.T, f *fleet, id string) wire.Deployment {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var d wire.Deployment
		f.api(t, "GET", "/deployments/"+id, nil, &d)
		if d.Done {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s not done: %+v", id, d.Devices)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
