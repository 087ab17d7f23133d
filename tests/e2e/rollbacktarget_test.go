package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgeplane/edge/wire"
)

// TestRollbackTargetsWhatServes is FINDINGS F1 and F2 with a real agent:
// what a rollback goes back to is what the device served, never what its
// desired state names after a push that failed or was rejected there.
//
//   - 1.0.0 serves; 1.1.0 with a database binding the device lacks fails
//     (its desired entry names 1.1.0, which never served);
//   - a staged rollout of 1.2.0 whose gate fails (no traffic) goes back to
//     1.0.0 and ends rolled_back (it went "back" to the failing 1.1.0 and
//     ended rollback_failed, 1.2.0 still serving);
//   - after 1.3.0 and a rejected plain push of 1.2.5, `edgectl rollback
//     orders` goes to 1.0.0, the version 1.3.0 replaced (it re-signed
//     1.3.0);
//   - another module: 1.0.0 serves, 1.1.0 fails: `edgectl rollback extra`
//     is refused, exit 1, naming what serves: nothing served before 1.0.0
//     (it re-signed 1.0.0, a no-op reported as success).
func TestRollbackTargetsWhatServes(t *testing.T) {
	f := startFleet(t)
	start(t, agentRunning, nil, bin(t, "edge-agent"), append(f.device(t, "rt"), "--heartbeat-timeout", "2s", "--metrics-interval", "1s")...)
	port := freePort(t)
	wasm, key := bin(t, "orders.wasm"), filepath.Join(f.keyDir, "edge.key")
	if out, _, code := f.push(t, wasm, "1.0.0", "rt", port); code != 0 {
		t.Fatalf("push 1.0.0 = %d\n%s", code, out)
	}
	if out, reason, code := f.pushDB(t, wasm, "1.1.0", "rt", "nosuchdb", port); code != 1 {
		t.Fatalf("push 1.1.0 --db nosuchdb = %d (%s), want 1: failed\n%s", code, reason, out)
	}
	waitServing(t, f, "rt", "1.0.0")

	stdout, stderr, code := edgectl(t, "push", wasm, "--control", f.control, "--key", key, "--name", "orders",
		"--version", "1.2.0", "--db", "sqlite", "--port", fmt.Sprint(port), "--node", "rt",
		"--waves", "1", "--soak", "5s", "--wait", "3m", "--json")
	t.Logf("push --waves: exit %d\n%s", code, stderr)
	var r wire.Rollout
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("push --waves: stdout is not a rollout (%v): %q", err, stdout)
	}
	if code != 1 || r.State != wire.RolloutRolledBack || len(r.Rollback) != 1 || r.Rollback[0].Version != "1.0.0" ||
		!slices.Equal(r.Rollback[0].Devices, []string{"rt"}) {
		t.Fatalf("rollout = exit %d, %s: %s, rollback %+v; want exit 1, rolled_back, rt back to 1.0.0", code, r.State, r.Reason, r.Rollback)
	}
	waitServing(t, f, "rt", "1.0.0")

	if out, _, code := f.push(t, wasm, "1.3.0", "rt", port); code != 0 {
		t.Fatalf("push 1.3.0 = %d\n%s", code, out)
	}
	if out, reason, code := f.push(t, wasm, "1.2.5", "rt", port); code != 1 || !strings.Contains(reason, "rejected") {
		t.Fatalf("push 1.2.5 over 1.3.0 = %d (%s), want 1: rejected\n%s", code, reason, out)
	}
	rollback := func(module string) (string, int) {
		_, stderr, code := edgectl(t, "rollback", module, "--node", "rt", "--control", f.control, "--key", key, "--wait", "2m")
		return stderr, code
	}
	if stderr, code := rollback("orders"); code != 0 || !strings.Contains(stderr, "rollback of orders to 1.0.0") {
		t.Fatalf("rollback after the rejected 1.2.5 = exit %d\n%s\nwant 0, back to 1.0.0 (which 1.3.0 replaced)", code, stderr)
	}
	waitServing(t, f, "rt", "1.0.0")

	// Another module: 1.0.0 serves, 1.1.0 fails; nothing served before
	// 1.0.0, so a rollback is refused.
	extra := func(version, db string) int {
		_, _, code := edgectl(t, "push", wasm, "--control", f.control, "--key", key, "--name", "extra", "--version", version,
			"--node", "rt", "--db", db, "--port", fmt.Sprint(freePort(t)), "--wait", "2m")
		return code
	}
	if extra("1.0.0", "sqlite") != 0 || extra("1.1.0", "nosuchdb") != 1 {
		t.Fatal("extra 1.0.0 then 1.1.0 --db nosuchdb: want running, then failed")
	}
	if stderr, code := rollback("extra"); code != 1 || !strings.Contains(stderr, "rt serves extra 1.0.0") ||
		!strings.Contains(stderr, "1.1.0") || !strings.Contains(stderr, "never served") {
		t.Errorf("rollback with nothing before 1.0.0 = exit %d\n%s\nwant 1, naming 1.0.0 serving and 1.1.0 never served", code, stderr)
	}
}
