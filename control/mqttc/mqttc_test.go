package mqttc

import (
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestConnectGivesUp: the start-up error says the time the attempts took,
// as measured (they end before the wait: the next back-off would pass it),
// and hints at TLS when a plain URL meets a TLS port. It used to say "in
// 5s" after 3.5 s, and only "connection closed by the broker: EOF".
func TestConnectGivesUp(t *testing.T) {
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := closed.Addr().String()
	closed.Close()
	tlsSrv := httptest.NewTLSServer(nil)
	defer tlsSrv.Close()
	tlsAddr := strings.TrimPrefix(tlsSrv.URL, "https://")

	for _, tc := range []struct{ broker, want string }{
		{"tcp://" + refused, "connection refused"},
		{"tcp://" + tlsAddr, "the port may speak TLS (MQTTS): try ssl://" + tlsAddr},
	} {
		cl := New(Config{Broker: tc.broker, ClientID: "c", Wait: 2 * time.Second, Timeout: 5 * time.Second,
			Logger: slog.New(slog.DiscardHandler)})
		start := time.Now()
		err := cl.Connect(context.Background())
		took := time.Since(start)
		if err == nil {
			t.Fatalf("%s: connected", tc.broker)
		}
		m := regexp.MustCompile(`gave up after \d+ attempts? in ([0-9.]+m?s), within the 2s wait`).FindStringSubmatch(err.Error())
		if m == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: %v, want %q and the time the attempts took", tc.broker, err, tc.want)
		}
		if d, perr := time.ParseDuration(m[1]); perr != nil || d > took+100*time.Millisecond {
			t.Errorf("%s: says %s, measured %s", tc.broker, m[1], took)
		}
	}
}
