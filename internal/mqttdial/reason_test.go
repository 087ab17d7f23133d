package mqttdial

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	mpackets "github.com/mochi-mqtt/server/v2/packets"
)

// denyAll refuses every client, as the controller's broker refuses a wrong
// password.
type denyAll struct{ mochi.HookBase }

func (h *denyAll) ID() string                                                { return "deny-all" }
func (h *denyAll) Provides(b byte) bool                                      { return b == mochi.OnConnectAuthenticate }
func (h *denyAll) OnConnectAuthenticate(*mochi.Client, mpackets.Packet) bool { return false }

func listen(t *testing.T, serve func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return ln.Addr().String()
}

// TestExplain makes real paho connection attempts that fail in each way a
// board meets, and checks the kind each is explained as.
func TestExplain(t *testing.T) {
	deny := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	deny.AddHook(new(denyAll), nil)
	dl := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := deny.AddListener(dl); err != nil {
		t.Fatal(err)
	}
	go deny.Serve()
	defer deny.Close()

	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := closed.Addr().String()
	closed.Close()
	hangUp := listen(t, func(c net.Conn) { c.Close() })
	silent := listen(t, func(c net.Conn) { time.Sleep(20 * time.Second); c.Close() })
	tlsSrv := httptest.NewTLSServer(nil)
	defer tlsSrv.Close()

	for _, tc := range []struct {
		name, broker string
		want         string
		permanent    bool
	}{
		{"broker down", "tcp://" + refused, KindRefused, false},
		{"bad credentials", "tcp://" + dl.Address(), KindNotAuthorized, true},
		{"unknown host", "tcp://no-such-broker.invalid:1883", KindDNS, false},
		{"untrusted certificate", "ssl://" + strings.TrimPrefix(tlsSrv.URL, "https://"), KindTLS, false},
		{"closed at once", "tcp://" + hangUp, KindClosed, false},
		{"never answers", "tcp://" + silent, KindTimeout, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Only the silent broker is meant to time out: the others get
			// a timeout a TLS handshake on a loaded machine stays within.
			timeout := 8 * time.Second
			if tc.want == KindTimeout {
				timeout = 500 * time.Millisecond
			}
			opts := paho.NewClientOptions().AddBroker(tc.broker).SetClientID("c").SetUsername("dev").SetPassword("wrong").
				SetProtocolVersion(4).SetConnectTimeout(timeout).SetAutoReconnect(false).
				SetCustomOpenConnectionFn(Opener(1<<16, nil))
			tok := paho.NewClient(opts).Connect()
			if !tok.WaitTimeout(30 * time.Second) {
				t.Fatal("connect did not finish")
			}
			f := Explain(tok.Error())
			if f == nil || f.Kind != tc.want || f.Permanent() != tc.permanent {
				t.Fatalf("Explain(%v) = %v (permanent %v), want kind %q (permanent %v)", tok.Error(), f, f != nil && f.Permanent(), tc.want, tc.permanent)
			}
			if !strings.Contains(f.Error(), tc.want) || strings.Contains(f.Error(), "network Error") ||
				(tc.want == KindRefused && !errors.Is(f, syscall.ECONNREFUSED)) {
				t.Errorf("Failure %q does not carry the cause", f)
			}
		})
	}
	if Explain(nil) != nil {
		t.Error("Explain(nil) != nil")
	}
	if f := Explain(fmt.Errorf("wrapped: %w", &Failure{Kind: KindTLS})); f.Kind != KindTLS {
		t.Errorf("Explain of a wrapped Failure = %v, want it unchanged", f)
	}
}

// connectErr makes one real paho connection attempt at broker and returns
// its error.
func connectErr(t *testing.T, broker string) error {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker(broker).SetClientID("c").SetProtocolVersion(4).
		SetConnectTimeout(8 * time.Second).SetAutoReconnect(false).SetCustomOpenConnectionFn(Opener(1<<16, nil))
	tok := paho.NewClient(opts).Connect()
	if !tok.WaitTimeout(30 * time.Second) {
		t.Fatal("connect did not finish")
	}
	if tok.Error() == nil {
		t.Fatalf("%s: connected, want a failure", broker)
	}
	return tok.Error()
}

// TestExplainAt: a port that speaks the other protocol (plain MQTT at an
// MQTTS port, TLS at a plain one) is hinted at; it used to read only
// "connection closed by the broker: EOF" or "... connection reset by peer".
func TestExplainAt(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(nil)
	defer tlsSrv.Close()
	tlsAddr := strings.TrimPrefix(tlsSrv.URL, "https://")
	// A plain broker reads the ClientHello as a malformed packet and hangs up.
	plain := listen(t, func(c net.Conn) { c.Read(make([]byte, 64)); c.Close() })
	// One that answers in plaintext (a CONNACK) whatever it is sent.
	answers := listen(t, func(c net.Conn) { c.Write([]byte{0x20, 0x02, 0x00, 0x00}); time.Sleep(time.Second); c.Close() })
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := closed.Addr().String()
	closed.Close()

	for _, tc := range []struct{ name, broker, hint string }{
		{"plain at a TLS port", "tcp://" + tlsAddr, "the port may speak TLS (MQTTS): try ssl://" + tlsAddr},
		{"plain at a TLS port, mqtt://", "mqtt://" + tlsAddr, "try mqtts://" + tlsAddr},
		{"TLS at a plain port that hangs up", "ssl://" + plain, "the port may not speak TLS: try tcp://" + plain},
		{"TLS at a plain port that answers", "mqtts://" + answers, "the port may not speak TLS: try mqtt://" + answers},
		{"TLS, untrusted certificate", "ssl://" + tlsAddr, ""},
		{"broker down", "tcp://" + refused, ""},
		{"TLS, broker down", "ssl://" + refused, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := connectErr(t, tc.broker)
			f := ExplainAt(err, tc.broker)
			if f.Hint != tc.hint && (tc.hint == "" || !strings.Contains(f.Hint, tc.hint)) {
				t.Fatalf("ExplainAt(%v) hint %q, want %q", err, f.Hint, tc.hint)
			}
			if tc.hint != "" && !strings.Contains(f.Error(), tc.hint) {
				t.Errorf("Failure %q does not carry its hint", f)
			}
			if plain := Explain(err); plain.Hint != "" {
				t.Errorf("Explain (no broker) hints %q", plain.Hint)
			}
		})
	}
}
