package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/tests/loadgen"
)

// TestRollbackKeepsAcknowledgedOrders is issue 7's first case: a client
// creates orders every 25 ms while a bad build (1.0.1: its probe passes,
// every other request writes a marker row and exits the guest) replaces
// the order service 1.0.0. The agent must roll back by itself, and every
// order that got a 200, from 1.0.0 before the switch, or after the
// rollback, must still be there: a rollback of code never undoes a
// confirmed write. The rollback reason must say that the data was kept
// and how many writes the failed version committed, which the marker rows
// let the test count exactly. On SQLite and on MariaDB.
func TestRollbackKeepsAcknowledgedOrders(t *testing.T) {
	for _, binding := range []string{"sqlite", "mysql"} {
		t.Run(binding, func(t *testing.T) { rollbackKeepsOrders(t, binding) })
	}
}

var committedWrites = regexp.MustCompile(`committed (at least )?(\d+) writes?`)

func rollbackKeepsOrders(t *testing.T, binding string) {
	var agentArgs []string
	db := "sqlite"
	if binding == "mysql" {
		db = "shop"
		agentArgs = []string{"--db", "shop=" + mysqlDatabase(t)}
	}
	broken := buildGuest(t, "brokenorders")
	f := startFleet(t)
	// A grace period long enough to see MinRequests (20) answers of 1.0.1
	// on a loaded machine; the rollback comes as soon as it has.
	args := append(f.device(t, "r"), append(agentArgs, "--grace", "15s")...)
	start(t, agentRunning, nil, bin(t, "edge-agent"), args...)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	if out, _, code := f.pushDB(t, bin(t, "orders.wasm"), "1.0.0", "r", db, port); code != 0 {
		t.Fatalf("push 1.0.0 = %d\n%s", code, out)
	}
	if status, body := call(t, "GET", base+"/init", ""); status != 200 {
		t.Fatalf("GET /init = %d %q", status, body)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ow := &loadgen.OrderWriter{Base: base, Every: 25 * time.Millisecond, First: 1}
	done := make(chan struct{})
	go func() { ow.Run(ctx); close(done) }()
	waitAcked(t, ow, 20) // 1.0.0 confirms orders before the push starts
	out, reason, code := f.pushDB(t, broken, "1.0.1", "r", db, port)
	n := len(ow.Acked())
	waitAcked(t, ow, n+20) // and again after the rollback
	cancel()
	<-done

	acked := ow.Acked()
	failed, firstFail := ow.Failed()
	t.Logf("%d orders confirmed, failures by status %v (first: %s)", len(acked), failed, firstFail)
	t.Logf("push 1.0.1: exit %d: %s", code, reason)
	if code != 1 || !strings.Contains(reason, "rolled_back") {
		t.Fatalf("push of the broken 1.0.1 = exit %d (%s), want 1 and rolled_back:\n%s", code, reason, out)
	}
	fivexx := 0
	for status, k := range failed {
		if status >= 500 {
			fivexx += k
		}
	}
	if fivexx == 0 {
		t.Errorf("no request reached 1.0.1 (failures %v): the test proves nothing", failed)
	}

	have, err := loadgen.OrderIDs(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	if lost := loadgen.Missing(acked, have); len(lost) > 0 {
		t.Errorf("%d of %d confirmed orders are gone after the rollback: %v", len(lost), len(acked), lost)
	}

	// What the failed version did is reported, and kept.
	if !strings.Contains(reason, "data kept") {
		t.Errorf("rollback reason %q does not say the data was kept", reason)
	}
	markers := 0
	for _, id := range have {
		if id == -1 {
			markers++
		}
	}
	m := committedWrites.FindStringSubmatch(reason)
	if m == nil {
		t.Fatalf("rollback reason %q does not count the writes 1.0.1 committed (%d marker rows)", reason, markers)
	}
	got, _ := strconv.Atoi(m[2])
	if m[1] != "" || got != markers || markers == 0 {
		t.Errorf("reason says 1.0.1 committed %s%d writes; %d marker rows are in the table, want the exact count", m[1], got, markers)
	}
	if binding == "sqlite" && !strings.Contains(reason, "safety copy") {
		t.Errorf("rollback reason %q does not name the safety copy of the database", reason)
	}
}

// waitAcked waits until the writer has n confirmed orders.
func waitAcked(t *testing.T, ow *loadgen.OrderWriter, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for len(ow.Acked()) < n {
		if time.Now().After(deadline) {
			failed, first := ow.Failed()
			t.Fatalf("only %d of %d orders confirmed within a minute (failures %v, first %s)", len(ow.Acked()), n, failed, first)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
