// Package mqttc is the controller's MQTT client (paho, MQTT 3.1.1), used
// the same way against the embedded broker and an external one (Mosquitto,
// EMQX): one code path.
//
// Connect tries the broker for up to Config.Wait, logging each failed attempt
// with its reason (internal/mqttdial.Explain) at warn level, and gives up at
// once when the broker refuses the credentials: a controller that cannot
// reach its broker at start says why and exits rather than waiting in
// silence. Once connected, paho reconnects by itself with back-off, and
// each failed attempt is logged the same way.
//
// On every (re)connection it subscribes to the configured filters and then
// calls OnConnect, which the controller uses to re-publish every desired
// state: a broker that restarted without persistence converges again.
// Handler runs on paho's ordered delivery goroutine: it must not wait for
// publish acknowledgements (hand such work to another goroutine).
package mqttc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/internal/mqttdial"
	"github.com/edgeplane/edge/internal/plural"
	"github.com/edgeplane/edge/wire"
)

// ErrTimeout is returned when the broker does not answer in time.
var ErrTimeout = errors.New("mqtt: timed out")

// Config configures a Client.
type Config struct {
	Broker       string // tcp://host:port
	ClientID     string
	Username     string
	Password     string
	CleanSession bool
	TLS          *tls.Config // for ssl:// (mqtts://) brokers; nil: paho's default (system roots)
	Filters      []string    // subscribed with QoS 1 on every connection
	Handler      func(topic string, payload []byte)
	OnConnect    func() // after the subscriptions, in its own goroutine
	Timeout      time.Duration
	// Wait bounds how long Connect retries a broker it cannot reach
	// (default 10s).
	Wait   time.Duration
	Logger *slog.Logger
}

// Client is an MQTT client that reconnects by itself once connected.
type Client struct {
	c       paho.Client
	cfg     Config
	timeout time.Duration
	log     *slog.Logger

	dynMu sync.Mutex
	dyn   map[string]bool // filters subscribed with Subscribe, again on every connection
}

// New returns a client that is not connected yet: it can be handed to
// whatever publishes (OnConnect may publish through it) before Connect.
func New(cfg Config) *Client {
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Wait == 0 {
		cfg.Wait = 10 * time.Second
	}
	cl := &Client{cfg: cfg, timeout: cfg.Timeout, log: cfg.Logger, dyn: map[string]bool{}}
	var connectedOnce atomic.Bool
	opts := paho.NewClientOptions().
		AddBroker(cfg.Broker).
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetCleanSession(cfg.CleanSession).
		SetProtocolVersion(4).
		SetOrderMatters(true).
		SetCustomOpenConnectionFn(mqttdial.Opener(wire.MaxPacketSize, func(d mqttdial.Dropped) {
			cfg.Logger.Warn("dropping an MQTT message over the packet limit", "topic", d.Topic, "bytes", d.Size, "limit", d.Limit)
		})).
		SetKeepAlive(30 * time.Second).
		SetConnectTimeout(cfg.Timeout).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(30 * time.Second).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			cfg.Logger.Warn("mqtt connection lost", "broker", cfg.Broker, "reason", mqttdial.Explain(err).Kind, "err", err)
		}).
		SetConnectionNotificationHandler(func(_ paho.Client, n paho.ConnectionNotification) {
			if f, ok := n.(paho.ConnectionNotificationFailed); ok && connectedOnce.Load() {
				cfg.Logger.Warn("mqtt reconnect failed; retrying with back-off", "broker", cfg.Broker, "reason", mqttdial.Explain(f.Reason).Kind, "err", f.Reason)
			}
		}).
		SetOnConnectHandler(func(c paho.Client) {
			connectedOnce.Store(true)
			cfg.Logger.Info("mqtt connected", "broker", cfg.Broker, "client", cfg.ClientID)
			go func() {
				if err := cl.subscribe(cfg); err != nil {
					cfg.Logger.Error("mqtt subscribe", "err", err)
					return
				}
				if cfg.OnConnect != nil {
					cfg.OnConnect()
				}
			}()
		})
	if cfg.TLS != nil {
		opts.SetTLSConfig(cfg.TLS)
	}
	cl.c = paho.NewClient(opts)
	return cl
}

// Connect connects, retrying for up to Config.Wait (or until ctx is done)
// unless the broker refuses the credentials.
func (cl *Client) Connect(ctx context.Context) error {
	return cl.firstConnect(ctx, cl.cfg)
}

// firstConnect makes connection attempts with back-off until one succeeds,
// the broker refuses the credentials, or cfg.Wait has passed.
func (cl *Client) firstConnect(ctx context.Context, cfg Config) error {
	start := time.Now()
	deadline := start.Add(cfg.Wait)
	backoff := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		tok := cl.c.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			cl.c.Disconnect(0)
			return fmt.Errorf("mqtt connect %s: %w", cfg.Broker, ctx.Err())
		}
		err := tok.Error()
		if err == nil {
			return nil
		}
		f := mqttdial.ExplainAt(err, cfg.Broker)
		if f.Permanent() {
			return fmt.Errorf("mqtt connect %s as %q: %w", cfg.Broker, cfg.Username, f)
		}
		if time.Now().Add(backoff).After(deadline) {
			return fmt.Errorf("mqtt connect %s: %w (%s)", cfg.Broker, f, gaveUp(attempt, time.Since(start), cfg.Wait, f))
		}
		cfg.Logger.Warn("mqtt connect failed; retrying", "broker", cfg.Broker, "attempt", attempt, "reason", f.Kind, "err", f, "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return fmt.Errorf("mqtt connect %s: %w", cfg.Broker, ctx.Err())
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// gaveUp says how long the attempts took, as measured: the last back-off
// would have passed the wait, so they end before it (4 attempts in 3.5s
// of a 5s wait).
func gaveUp(attempts int, took, wait time.Duration, f *mqttdial.Failure) string {
	s := fmt.Sprintf("gave up after %s in %s, within the %s wait", plural.Count(attempts, "attempt"), took.Round(100*time.Millisecond), wait)
	if f.Kind == mqttdial.KindTLS && f.Hint == "" {
		s += "; check --broker-ca (the CA of the broker's certificate) and --broker-cert/--broker-key"
	}
	return s
}

// Connected reports whether the client is connected to the broker.
func (cl *Client) Connected() bool { return cl.c.IsConnectionOpen() }

func (cl *Client) subscribe(cfg Config) error {
	filters := map[string]byte{}
	for _, f := range cfg.Filters {
		filters[f] = 1
	}
	cl.dynMu.Lock()
	for f := range cl.dyn {
		filters[f] = 1
	}
	cl.dynMu.Unlock()
	if len(filters) == 0 {
		return nil
	}
	return cl.subscribeMultiple(filters)
}

func (cl *Client) subscribeMultiple(filters map[string]byte) error {
	cfg := cl.cfg
	tok := cl.c.SubscribeMultiple(filters, func(_ paho.Client, m paho.Message) {
		cfg.Handler(m.Topic(), m.Payload())
	})
	if !tok.WaitTimeout(cl.timeout) {
		return fmt.Errorf("subscribe %v: %w", cfg.Filters, ErrTimeout)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("subscribe %v: %w", cfg.Filters, err)
	}
	for f, code := range tok.(*paho.SubscribeToken).Result() {
		if code == 0x80 {
			return fmt.Errorf("subscribe %s: refused by broker", f)
		}
	}
	return nil
}

// Subscribe subscribes to filter (QoS 1) now if connected, and on every
// connection until Unsubscribe: a subscription only some of the time (the
// leader's).
func (cl *Client) Subscribe(filter string) error {
	cl.dynMu.Lock()
	cl.dyn[filter] = true
	cl.dynMu.Unlock()
	if !cl.c.IsConnectionOpen() {
		return nil // subscribed on connection
	}
	return cl.subscribeMultiple(map[string]byte{filter: 1})
}

// Unsubscribe ends a subscription Subscribe made.
func (cl *Client) Unsubscribe(filter string) error {
	cl.dynMu.Lock()
	delete(cl.dyn, filter)
	cl.dynMu.Unlock()
	if !cl.c.IsConnectionOpen() {
		return nil
	}
	tok := cl.c.Unsubscribe(filter)
	if !tok.WaitTimeout(cl.timeout) {
		return fmt.Errorf("unsubscribe %s: %w", filter, ErrTimeout)
	}
	return tok.Error()
}

// SharedFilter is filter as a shared subscription of group: the broker
// hands each matching message to one of the group's subscribers
// ($share/GROUP/FILTER: MQTT 5, and Mosquitto, EMQX and HiveMQ for 3.1.1
// clients too).
func SharedFilter(group, filter string) string { return "$share/" + group + "/" + filter }

// Publish publishes payload and waits until the broker acknowledged it
// (QoS 1) or it was written (QoS 0). An acknowledgement means only that
// the broker has the message.
//
// A packet over wire.MaxPacketSize is refused before it is sent: the broker
// would drop the connection, which every device shares.
func (cl *Client) Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error {
	if err := wire.CheckPublish(topic, qos, len(payload)); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	tok := cl.c.Publish(topic, qos, retained, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("publish %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("publish %s: %w", topic, ctx.Err())
	case <-time.After(cl.timeout):
		return fmt.Errorf("publish %s: %w", topic, ErrTimeout)
	}
}

// Close disconnects, giving in-flight work a moment to finish.
func (cl *Client) Close() {
	cl.c.Disconnect(250)
}
