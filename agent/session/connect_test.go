package session

import (
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edge/agent/store"
	"github.com/edgeplane/edge/internal/mqttdial"
)

// logBuffer collects log output safely.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestReconnectFailuresLogged: after a lost connection paho reconnects by
// itself; each of its failed attempts is logged at warn with its reason and
// shows in State, and a reconnect clears the count.
func TestReconnectFailuresLogged(t *testing.T) {
	px := newProxy(t, startMochi(t))
	st, err := store.Open(t.TempDir(), nil, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s := startSession(t, Config{Broker: px.URL(), Device: uniqueID("dev"), MaxReconnect: time.Second}, st, log)
	waitFor(t, "connected", func() bool { return s.State().Connected })

	px.setDown(true) // new connections are closed at once
	px.cut()
	waitFor(t, "failed reconnects", func() bool { return s.State().Failed >= 3 })
	cs := s.State()
	if cs.Connected || cs.LastReason != mqttdial.KindClosed {
		t.Errorf("state while the broker refuses = %+v, want not connected, last reason %q", cs, mqttdial.KindClosed)
	}
	out := logs.String()
	for _, want := range []string{`level=WARN msg="mqtt connection lost; reconnecting with back-off"`, `level=WARN msg="mqtt reconnect failed; retrying with back-off"`, `reason="connection closed by the broker"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}

	px.setDown(false)
	waitFor(t, "reconnected", func() bool { return s.State().Connected })
	if cs := s.State(); cs.Failed != 0 || cs.LastReason == "" {
		t.Errorf("state after reconnecting = %+v, want 0 failed attempts and the last error kept", cs)
	}
	if strings.Contains(out, "may speak TLS") {
		t.Errorf("a broker that spoke MQTT before is hinted to speak TLS:\n%s", out)
	}
}

// TestTLSPortHinted: an agent pointed with tcp:// at a TLS port is told
// the port may speak TLS, in its log and its state; it used to log only
// "connection closed by the broker ... EOF".
func TestTLSPortHinted(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(nil)
	defer tlsSrv.Close()
	addr := strings.TrimPrefix(tlsSrv.URL, "https://")
	st, err := store.Open(t.TempDir(), nil, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s := startSession(t, Config{Broker: "tcp://" + addr, Device: uniqueID("dev"), MaxReconnect: time.Second}, st, log)
	waitFor(t, "a failed attempt", func() bool { return s.State().Failed >= 1 })
	want := "the port may speak TLS (MQTTS): try ssl://" + addr
	if cs := s.State(); !strings.Contains(cs.LastError, want) {
		t.Errorf("state %+v, want the hint %q", cs, want)
	}
	waitFor(t, "the log", func() bool { return strings.Contains(logs.String(), want) })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
