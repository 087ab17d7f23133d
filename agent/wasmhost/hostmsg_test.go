package wasmhost

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edge/modules/abi"
)

var msgGuest struct {
	once sync.Once
	wasm []byte
	err  error
}

// msgGuestWasm builds testdata/msgguest (the Go SDK's messaging and
// timers) once per test process.
func msgGuestWasm(t testing.TB) []byte {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a Go guest")
	}
	msgGuest.once.Do(func() {
		dir, err := os.MkdirTemp("", "msgguest")
		if err != nil {
			msgGuest.err = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "msg.wasm")
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./testdata/msgguest")
		cmd.Dir = filepath.Dir(file)
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if b, err := cmd.CombinedOutput(); err != nil {
			msgGuest.err = errors.New(string(b))
			return
		}
		msgGuest.wasm, msgGuest.err = os.ReadFile(out)
	})
	if msgGuest.err != nil {
		t.Fatal(msgGuest.err)
	}
	return msgGuest.wasm
}

type published struct {
	topic, payload string
	qos            uint8
	retain         bool
}

// recorder is a Publisher that keeps what it is given and answers code.
type recorder struct {
	mu   sync.Mutex
	got  []published
	code abi.ErrorCode
}

func (r *recorder) Publish(_ context.Context, topic string, payload []byte, qos uint8, retain bool) abi.ErrorCode {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, published{topic, string(payload), qos, retain})
	return r.code
}

func (r *recorder) all() []published {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]published(nil), r.got...)
}

// msgGuests are the messaging test guests: the Go SDK's, built here, and
// the Rust SDK's (modules/sdk-rs/examples/msgguest.rs), committed as
// testdata/msgguest-rs.wasm. Both answer the same requests, messages and
// ticks the same way.
var msgGuests = []struct {
	name string
	wasm func(testing.TB) []byte
}{
	{"go", msgGuestWasm},
	{"rust", func(t testing.TB) []byte { return guest(t, "msgguest-rs") }},
}

func loadMsg(t *testing.T, wasm []byte, kind EngineKind, cfg Config) *Module {
	t.Helper()
	cfg.Name = "msg"
	m, err := newTestEngine(t, kind).Load(context.Background(), wasm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

func publishVia(t *testing.T, m *Module, query string) string {
	t.Helper()
	resp, err := m.Serve(context.Background(), &abi.Request{Method: "GET", URI: "/publish?" + query})
	if err != nil {
		t.Fatal(err)
	}
	return string(resp.Body)
}

// TestPublishPolicy: msg_publish sends what the manifest grants and
// refuses the rest with the code the guest sees as an error.
func TestPublishPolicy(t *testing.T) {
	for _, g := range msgGuests {
		t.Run(g.name, func(t *testing.T) { testPublishPolicy(t, g.wasm(t)) })
	}
}

func testPublishPolicy(t *testing.T, wasm []byte) {
	rec := &recorder{}
	m := loadMsg(t, wasm, EngineCompiler, Config{
		Publish:   PublishPolicy{Allow: []string{"echo/#", "alerts/+"}, Rate: 2, MaxPayload: 8},
		Publisher: rec,
	})
	for _, tc := range []struct{ query, want string }{
		{"topic=alerts/hot&payload=42&qos=1", "ok"},
		{"topic=echo&payload=x&qos=0", "ok"},
		{"topic=secret&payload=x", "denied"},
		{"topic=alerts/hot/deeper&payload=x", "denied"},
		{"topic=alerts/%2B&payload=x", "denied"}, // a wildcard is not a topic
		{"topic=echo&payload=123456789", "too large"},
		{"topic=echo&payload=x&qos=2", "bad request"},
		{"topic=echo/a&payload=x", "ok"},      // the burst is 2 × 2
		{"topic=echo/b&payload=x", "ok"},      //
		{"topic=echo/c&payload=x", "limited"}, // over it
	} {
		if got := publishVia(t, m, tc.query); !strings.Contains(got, tc.want) {
			t.Errorf("publish %s: %q, want %q", tc.query, got, tc.want)
		}
	}
	got := rec.all()
	if len(got) != 4 || got[0] != (published{"alerts/hot", "42", 1, false}) {
		t.Errorf("published %+v, want 4 starting with alerts/hot 42 at QoS 1", got)
	}
	if st := m.Stats(); st.Published != 4 || st.PublishRefused != 5 {
		t.Errorf("Stats: %d published, %d refused, want 4 and 5 (QoS 2 never reaches the host)", st.Published, st.PublishRefused)
	}
	rec.code = abi.CodeUnavailable // the broker is gone
	time.Sleep(time.Second)        // a token back
	if got := publishVia(t, m, "topic=echo&payload=x"); !strings.Contains(got, "unavailable") {
		t.Errorf("publish with the broker gone: %q, want unavailable", got)
	}
}

// TestTriggers: edge_on_message and edge_on_timer on both engines, with
// the guest's statuses and a trap.
func TestTriggers(t *testing.T) {
	for _, g := range msgGuests {
		for _, kind := range engines {
			t.Run(g.name+"/"+kind.String(), func(t *testing.T) { testTriggers(t, g.wasm(t), kind) })
		}
	}
}

func testTriggers(t *testing.T, wasm []byte, kind EngineKind) {
	rec := &recorder{}
	m := loadMsg(t, wasm, kind, Config{
		Publish:   PublishPolicy{Allow: []string{"#"}, Rate: 1000},
		Publisher: rec,
		Triggers:  []string{abi.ExportOnMessage, abi.ExportOnTimer},
	})
	msg := func(payload string) (int32, error) {
		return m.Deliver(context.Background(), &abi.Message{ID: 7, Attempt: 2, QoS: 1,
			Filter: "edge/v1/dev/{device}/in/t/#", Topic: "edge/v1/dev/d/in/t/x", Payload: []byte(payload)})
	}
	for _, tc := range []struct {
		payload string
		want    int32
	}{{"hello", abi.TriggerOK}, {"fail", abi.TriggerRetry}, {"drop", abi.TriggerDrop}} {
		if st, err := msg(tc.payload); err != nil || st != tc.want {
			t.Errorf("Deliver(%s) = %d, %v; want %d", tc.payload, st, err, tc.want)
		}
	}
	if _, err := msg("exit"); !errors.Is(err, ErrTrap) {
		t.Errorf("Deliver(exit) error = %v, want ErrTrap", err)
	}
	if st, err := m.Deliver(context.Background(), &abi.Message{Filter: "no/such"}); err != nil || st != abi.TriggerDrop {
		t.Errorf("Deliver on an unhandled filter = %d, %v; want a drop", st, err)
	}
	if st, err := m.Tick(context.Background(), &abi.Timer{Name: "tick", ScheduledMS: 1, Missed: 3}); err != nil || st != abi.TriggerOK {
		t.Errorf("Tick = %d, %v", st, err)
	}
	got := rec.all()
	want := []published{{"echo/hello", "7 2 edge/v1/dev/d/in/t/x", 1, false}, {"ticks", "3", 0, false}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("published %+v, want %+v", got, want)
	}
	if st := m.Stats(); st.Triggers != 6 || st.TriggerErrors != 1 {
		t.Errorf("Stats: %d triggers, %d errors; want 6 and 1", st.Triggers, st.TriggerErrors)
	}
}

// TestTriggersNeedVersion2: a manifest's triggers are refused at load for
// a guest that speaks version 1 (it has no trigger exports to call).
func TestTriggersNeedVersion2(t *testing.T) {
	e := newTestEngine(t, EngineInterpreter)
	_, err := e.Load(context.Background(), guest(t, "echo"), Config{Name: "echo", Triggers: []string{abi.ExportOnMessage}})
	if !errors.Is(err, ErrABIVersion) {
		t.Errorf("Load = %v, want ErrABIVersion", err)
	}
}
