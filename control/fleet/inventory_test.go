package fleet

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

// TestView: what the inventory shows of a module, from a status and the
// events around it.
func TestView(t *testing.T) {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	ev := func(s int, version, state, reason string) wire.Event {
		return wire.Event{Device: "pi-1", Module: "orders", Version: version, State: state, Reason: reason, Time: at(s)}
	}
	running := func(v string) wire.ModuleStatus {
		return wire.ModuleStatus{Name: "orders", Version: v, State: wire.StateRunning, Port: 8080}
	}
	for _, tc := range []struct {
		name   string
		events []wire.Event
		status wire.ModuleStatus
		statAt int
		want   string // version/state/port/last_good/attempt
	}{
		{"running, nothing else", nil, running("1.0.0"), 10, "1.0.0 running :8080 lg= -"},
		{"old agent: the attempt in Version, the serving one from events",
			[]wire.Event{ev(1, "1.5.0", wire.StateRunning, ""), ev(2, "1.7.0", wire.StateRejected, "bad key")},
			wire.ModuleStatus{Name: "orders", Version: "1.7.0", State: wire.StateRejected, Error: "bad key (serving 1.5.0)", Since: at(2)}, 3,
			"1.5.0 running :0 lg= 1.7.0/rejected/bad key (serving 1.5.0)"},
		{"old agent, nothing known to serve",
			nil, wire.ModuleStatus{Name: "orders", Version: "1.0.0", State: wire.StateFailed, Error: "probe failed"}, 3,
			" failed :0 lg= 1.0.0/failed/probe failed"},
		{"events after the status: a new version serves",
			[]wire.Event{ev(5, "1.1.0", wire.StateCompiling, ""), ev(6, "1.1.0", wire.StateRunning, "")}, running("1.0.0"), 4,
			"1.1.0 running :0 lg=1.0.0 -"},
		{"events after the status: an attempt in progress",
			[]wire.Event{ev(5, "1.1.0", wire.StateCompiling, "")}, running("1.0.0"), 4,
			"1.0.0 running :8080 lg= 1.1.0/compiling/"},
		{"events before the status change nothing",
			[]wire.Event{ev(1, "0.9.0", wire.StateRunning, ""), ev(2, "1.1.0", wire.StateRejected, "x")}, running("1.0.0"), 4,
			"1.0.0 running :8080 lg= -"},
		{"a late report of an earlier step is ignored",
			[]wire.Event{ev(5, "1.1.0", wire.StateRunning, ""), ev(3, "1.1.0", wire.StateFetching, ""), {Device: "pi-1", Module: "orders", Version: "1.1.0", State: wire.StateFetching}},
			running("1.0.0"), 4, "1.1.0 running :0 lg=1.0.0 -"},
		{"the serving version rolled back after the status",
			[]wire.Event{ev(5, "1.1.0", wire.StateRunning, ""), ev(6, "1.1.0", wire.StateRolledBack, "crash loop"), ev(7, "1.0.0", wire.StateRunning, "restored")},
			running("1.0.0"), 4, "1.0.0 running :8080 lg= 1.1.0/rolled_back/crash loop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := newInventory()
			for i := range tc.events {
				inv.addEvent(&tc.events[i])
			}
			st := &wire.Status{Device: "pi-1", Time: at(tc.statAt), Modules: []wire.ModuleStatus{tc.status}}
			v := inv.view(st)
			if len(v) != 1 {
				t.Fatalf("view = %+v, want one module", v)
			}
			m := v[0]
			got := fmt.Sprintf("%s %s :%d lg=%s ", m.Version, m.State, m.Port, m.LastGood)
			if m.Attempt == nil {
				got += "-"
			} else {
				got += m.Attempt.Version + "/" + m.Attempt.State + "/" + m.Attempt.Reason
			}
			if got != tc.want {
				t.Errorf("view = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestViewBounds: junk in a status (bad names, duplicates, too many
// modules) is not shown.
func TestViewBounds(t *testing.T) {
	inv := newInventory()
	st := &wire.Status{Device: "pi-1", Time: t0}
	st.Modules = append(st.Modules, wire.ModuleStatus{Name: "a/b"}, wire.ModuleStatus{Name: strings.Repeat("x", 100)},
		wire.ModuleStatus{Name: "dup", Version: "1.0.0", State: wire.StateRunning}, wire.ModuleStatus{Name: "dup", Version: "2.0.0", State: wire.StateRunning})
	for i := range 3 * wire.MaxModules {
		st.Modules = append(st.Modules, wire.ModuleStatus{Name: fmt.Sprintf("m%03d", i), Version: "1.0.0", State: wire.StateRunning})
	}
	v := inv.view(st)
	if len(v) != wire.MaxModules || v[0].Name != "dup" || v[0].Version != "1.0.0" {
		t.Errorf("view of %d modules starts %+v, want %d with the first dup", len(v), v[0], wire.MaxModules)
	}
}
