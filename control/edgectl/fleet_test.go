package edgectl

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/edgeplane/edge/wire"
)

func TestDeviceAdd(t *testing.T) {
	f := newFakeControl(t, nil, []string{wire.StateRunning})
	t.Setenv("EDGE_CONTROL", f.srv.URL)
	code, stdout, stderr := run(t, "device", "add", "pi-9")
	if code != ExitOK || stdout != "id: pi-9\npassword: s3cret-pi-9\n" || !strings.Contains(stderr, "only this once") {
		t.Errorf("device add: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, stderr = run(t, "device", "add", "pi-9")
	if code != ExitFailed || !strings.Contains(stderr, "device pi-9 already exists") {
		t.Errorf("device add twice: exit %d, stderr %q; want 1 and the controller's error", code, stderr)
	}
	code, stdout, _ = run(t, "device", "add", "--json", "pi-10")
	var cr wire.DeviceCredentials
	if err := json.Unmarshal([]byte(stdout), &cr); code != ExitOK || err != nil || cr.ID != "pi-10" || cr.Password == "" {
		t.Errorf("device add --json: exit %d, %v, %+v", code, err, cr)
	}
}

func TestDeployments(t *testing.T) {
	key, pub := testKey(t)
	f := newFakeControl(t, pub, []string{wire.StateRunning, wire.StateFailed})
	f.reasons[wire.StateFailed] = "probe: 500"
	code, _, stderr := run(t, "push", testModule(t, "orders.wasm"), "--key", key, "--version", "1.0.0", "--port", "8080",
		"--node", "a", "--node", "b", "--control", f.srv.URL, "--wait", "0")
	if code != ExitOK {
		t.Fatalf("push: exit %d: %s", code, stderr)
	}

	code, stdout, _ := run(t, "deployments", "--control", f.srv.URL)
	if code != ExitOK || !strings.Contains(stdout, "d-1") || !strings.Contains(stdout, "1 failed, 1 running") {
		t.Errorf("deployments: exit %d, stdout:\n%s", code, stdout)
	}
	code, stdout, _ = run(t, "deployments", "--json", "--control", f.srv.URL)
	var ds []wire.Deployment
	if err := json.Unmarshal([]byte(stdout), &ds); code != ExitOK || err != nil || len(ds) != 1 {
		t.Errorf("deployments --json: exit %d, %v, %+v", code, err, ds)
	}

	code, stdout, _ = run(t, "deployment", "d-1", "--control", f.srv.URL)
	if code != ExitOK || !strings.Contains(stdout, "probe: 500") || !strings.Contains(stdout, "DEVICE") {
		t.Errorf("deployment d-1: exit %d, stdout:\n%s", code, stdout)
	}
	code, stdout, _ = run(t, "deployment", "--json", "d-1", "--control", f.srv.URL)
	var d wire.Deployment
	if err := json.Unmarshal([]byte(stdout), &d); code != ExitOK || err != nil || d.ID != "d-1" {
		t.Errorf("deployment --json: exit %d, %v, %+v", code, err, d)
	}
	code, _, stderr = run(t, "deployment", "nope", "--control", f.srv.URL)
	if code != ExitFailed || !strings.Contains(stderr, `no deployment "nope"`) {
		t.Errorf("unknown deployment: exit %d, stderr %q", code, stderr)
	}
}
