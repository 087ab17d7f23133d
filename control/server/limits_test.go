package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/edgeplane/edge/wire"
)

// bigConfigPush signs module name for device with a config value of n
// characters, as `edgectl push --config v=...` would.
func bigConfigPush(t *testing.T, sg *signer, name, device string, blob []byte, n int) wire.DeployRequest {
	t.Helper()
	m := sg.manifest(name, "1.0.0", blob, wire.Targets{Nodes: []string{device}})
	m.Config = map[string]string{"v": strings.Repeat("c", n)}
	env, err := wire.Sign(m, sg.key)
	if err != nil {
		t.Fatal(err)
	}
	return wire.DeployRequest{Envelope: *env, AllowUnregistered: true}
}

// TestOversizeDesiredStateRefused is case 8 of issue 7: four signed pushes
// to one device, each with a ~60,000-character config value, grew its
// desired state past the broker's packet limit; the controller's session
// then looped (packet too large, connection lost, reconnect) and a push to
// an unrelated device stayed pending. Now the push that would make the
// desired state too large is refused with 413 naming the device and the
// limit, and the fleet keeps working.
func TestOversizeDesiredStateRefused(t *testing.T) {
	s := startServer(t, nil)
	register(t, s, "big-1")
	pw := register(t, s, "small-1")
	small := connectDevice(t, "tcp://"+s.MQTTAddr(), "small-1", pw)
	blob := moduleBytes(8 << 10)
	wantCode(t, "put blob", call(t, s, "PUT", "/api/v1/blobs/"+digest(blob), blob, nil), 201)
	sg := newSigner(t)

	var refused int
	for i := 1; i <= 4; i++ {
		req := bigConfigPush(t, sg, fmt.Sprintf("m%d", i), "big-1", blob, 60000)
		code, msg := callErr(t, s, "POST", "/api/v1/deployments", req)
		switch {
		case code == 201 && refused == 0:
		case code == 413:
			refused = i
			for _, want := range []string{"big-1", fmt.Sprint(wire.MaxDesiredSize)} {
				if !strings.Contains(msg, want) {
					t.Errorf("push %d refused with %q, want it to name %q", i, msg, want)
				}
			}
		default:
			t.Fatalf("push %d: status %d (%s), want 201 until the desired state is full, then 413", i, code, msg)
		}
	}
	if refused != 4 {
		t.Fatalf("refused push = %d, want the 4th (three ~80 KB entries fit in %d bytes, four do not)", refused, wire.MaxDesiredSize)
	}

	// An unrelated device still gets its push.
	env := sg.sign(t, "orders", "1.0.0", blob, wire.Targets{Nodes: []string{"small-1"}})
	wantCode(t, "push to small-1", call(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: env}, nil), 201)
	if ds := small.nextDesired(1); len(ds.Modules) != 1 {
		t.Fatalf("small-1 desired state %+v, want its module", ds)
	}

	// A too-large publish attempted anyway is refused before it is sent
	// and does not cost the session: the next push still arrives.
	err := s.client.Publish(context.Background(), wire.DeviceTopic("big-1", wire.KindDesired), 1, true, make([]byte, wire.MaxPacketSize))
	if !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("oversize publish = %v, want wire.ErrTooLarge", err)
	}
	env = sg.sign(t, "orders", "1.0.1", blob, wire.Targets{Nodes: []string{"small-1"}})
	wantCode(t, "second push to small-1", call(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: env}, nil), 201)
	if ds := small.nextDesired(2); ds.Generation != 2 {
		t.Fatalf("small-1 desired generation %d, want 2", ds.Generation)
	}
}

// TestOversizeStoredStateDoesNotLoop: a desired state stored by an older
// controller that is over the packet limit is skipped (and logged) when
// desired states are re-published on connect, instead of dropping the
// session on every reconnect; the other devices' states are republished
// (one unreadable state used to stop the republish of every device) and
// deployments to them go on.
func TestOversizeStoredStateDoesNotLoop(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, func(c *Config) { c.DataDir = dir })
	pw := register(t, s, "small-2")
	blob := moduleBytes(8 << 10)
	wantCode(t, "put blob", call(t, s, "PUT", "/api/v1/blobs/"+digest(blob), blob, nil), 201)
	sg := newSigner(t)
	wantCode(t, "push", call(t, s, "POST", "/api/v1/deployments", bigConfigPush(t, sg, "m1", "big-2", blob, 60000), nil), 201)
	env := sg.sign(t, "orders", "1.0.0", blob, wire.Targets{Nodes: []string{"small-2"}})
	wantCode(t, "push to small-2", call(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: env}, nil), 201)
	s.Close()

	// What an older controller could store: five such entries.
	db := stateDB(t, dir)
	var state string
	if err := db.QueryRow(`SELECT state FROM desired WHERE device = 'big-2'`).Scan(&state); err != nil {
		t.Fatal(err)
	}
	var ds wire.DesiredState
	json.Unmarshal([]byte(state), &ds)
	for i := 2; i <= 5; i++ {
		ds.Modules = append(ds.Modules, ds.Modules[0])
	}
	big, _ := json.Marshal(ds)
	if len(big) <= wire.MaxPacketSize {
		t.Fatalf("injected state of %d bytes is not over the packet limit", len(big))
	}
	if _, err := db.Exec(`UPDATE desired SET state = ? WHERE device = 'big-2'`, string(big)); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s = startServer(t, func(c *Config) { c.DataDir = dir })
	small := connectDevice(t, "tcp://"+s.MQTTAddr(), "small-2", pw)
	if got := small.nextDesired(1); got.Generation != 1 { // republished: the embedded broker kept nothing
		t.Fatalf("small-2 desired generation %d after the restart, want 1", got.Generation)
	}
	for v := 1; v < 4; v++ {
		env := sg.sign(t, "orders", fmt.Sprintf("1.0.%d", v), blob, wire.Targets{Nodes: []string{"small-2"}})
		wantCode(t, "push to small-2", call(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: env}, nil), 201)
		if got := small.nextDesired(int64(v + 1)); got.Generation != int64(v+1) {
			t.Fatalf("small-2 desired generation %d, want %d", got.Generation, v+1)
		}
	}
}

// TestModuleCountRefused: a deployment that would give a device more than
// wire.MaxModules modules is refused with 409 naming the device (the
// device's series in /metrics are bounded by that count), for every
// targeted device at once; replacing a module the device has still works.
func TestModuleCountRefused(t *testing.T) {
	s := startServer(t, nil)
	register(t, s, "full-1")
	register(t, s, "other-1")
	blob := moduleBytes(1 << 10)
	wantCode(t, "put blob", call(t, s, "PUT", "/api/v1/blobs/"+digest(blob), blob, nil), 201)
	sg := newSigner(t)
	push := func(name, version string, nodes ...string) (int, string) {
		env := sg.sign(t, name, version, blob, wire.Targets{Nodes: nodes})
		return callErr(t, s, "POST", "/api/v1/deployments", wire.DeployRequest{Envelope: env})
	}
	for i := range wire.MaxModules {
		if code, msg := push(fmt.Sprintf("m%d", i), "1.0.0", "full-1"); code != 201 {
			t.Fatalf("module %d of %d: status %d (%s), want 201", i+1, wire.MaxModules, code, msg)
		}
	}
	code, msg := push("one-too-many", "1.0.0", "other-1", "full-1")
	if code != 409 {
		t.Fatalf("module %d: status %d (%s), want 409", wire.MaxModules+1, code, msg)
	}
	for _, want := range []string{"full-1", fmt.Sprint(wire.MaxModules), "one-too-many"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q does not name %q", msg, want)
		}
	}
	// Nothing was stored for the other target either.
	var deps []wire.Deployment
	call(t, s, "GET", "/api/v1/deployments", nil, &deps)
	for _, d := range deps {
		if d.Module == "one-too-many" {
			t.Errorf("refused deployment stored: %+v", d)
		}
	}
	if code, msg := push("m0", "1.0.1", "full-1"); code != 201 {
		t.Errorf("upgrade of a module the full device has: status %d (%s), want 201", code, msg)
	}
}
