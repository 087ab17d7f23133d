package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/edgeplane/edge/wire"
)

// DefaultMaxPacketSize bounds every MQTT packet the embedded broker
// accepts: wire.MaxPacketSize, the one packet limit of the whole path (four
// times a chunk frame, far below what would let a client make the broker
// allocate much).
const DefaultMaxPacketSize = wire.MaxPacketSize

// ClientWritesPending bounds the messages waiting to be written to one
// client.
const ClientWritesPending = 2048

// Config configures the embedded broker.
type Config struct {
	Addr            string // TCP listen address, e.g. 127.0.0.1:1884 or 127.0.0.1:0
	MaxPacketSize   uint32 // 0: DefaultMaxPacketSize
	Credentials     Credentials
	ControlPassword string // password of auth.ControlUser
	AllowAnonymous  bool
	Logger          *slog.Logger
	// OnTakeover, when set, is told of each device session closed because
	// a new connection with the device's id took it over.
	OnTakeover func(device string)

	// TLS makes Addr a TLS listener (MQTTS). With TLS.ClientAuth set to
	// tls.RequireAndVerifyClientCert, devices are identified by their
	// client certificate (see Hook). The controller's own client then
	// connects through a second, plain listener on 127.0.0.1:0
	// (ControlAddr) that admits auth.ControlUser and nobody else.
	TLS *tls.Config

	// WriteTimeout bounds one write to a client (0: DefaultWriteTimeout);
	// a client that takes no bytes for this long is disconnected.
	WriteTimeout time.Duration
}

// Listener ids: devices connect to listenerDevices; with TLS the
// controller's client connects to listenerControl.
const (
	listenerDevices = "tcp"
	listenerControl = "control"
)

// Broker is a running embedded broker.
type Broker struct {
	srv     *mqtt.Server
	ln      *listeners.Net
	control *listeners.Net // nil without TLS: the controller uses ln
	tls     bool
	log     *slog.Logger
	open    openConns // every client connection, for Close
}

// Start starts the broker listening on cfg.Addr.
func Start(cfg Config) (*Broker, error) {
	if cfg.MaxPacketSize == 0 {
		cfg.MaxPacketSize = DefaultMaxPacketSize
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = cfg.MaxPacketSize
	caps.MaximumMessageExpiryInterval = 0 // retained desired state must not expire
	// Each client's queue of messages waiting to be written is allocated
	// whole when it connects: mochi's default of 8,192 costs 64 KiB per
	// device (1 GiB for 16,000 devices, measured). A device receives a
	// desired state now and then; the controller's own client takes every
	// report, and 2,048 holds two seconds of 1,000 reports/s (overflow is
	// counted in edge_broker_messages_dropped_total).
	caps.MaximumClientWritesPending = ClientWritesPending
	srv := mqtt.New(&mqtt.Options{
		Capabilities: caps,
		Logger:       cfg.Logger.With("component", "mqtt-broker"),
	})
	hook := NewHook(cfg.Credentials, cfg.ControlPassword, cfg.AllowAnonymous, cfg.Logger.With("component", "mqtt-auth"))
	hook.onTakeover = cfg.OnTakeover
	b := &Broker{srv: srv, tls: cfg.TLS != nil, log: cfg.Logger.With("component", "mqtt-broker")}
	if cfg.TLS != nil {
		hook.controlListener = listenerControl
		hook.clientCerts = cfg.TLS.ClientAuth == tls.RequireAndVerifyClientCert
	}
	if err := srv.AddHook(hook, nil); err != nil {
		return nil, fmt.Errorf("start broker: %w", err)
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	ln, err := listen(cfg.Addr, cfg.TLS, cfg.WriteTimeout, &b.open)
	if err != nil {
		return nil, fmt.Errorf("start broker on %s: %w", cfg.Addr, err)
	}
	b.ln = listeners.NewNet(listenerDevices, ln)
	if err := srv.AddListener(b.ln); err != nil {
		ln.Close()
		return nil, fmt.Errorf("start broker on %s: %w", cfg.Addr, err)
	}
	if cfg.TLS != nil {
		cln, err := listen("127.0.0.1:0", nil, cfg.WriteTimeout, &b.open)
		if err == nil {
			b.control = listeners.NewNet(listenerControl, cln)
			err = srv.AddListener(b.control)
		}
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("start broker's controller listener: %w", err)
		}
	}
	if err := srv.Serve(); err != nil {
		b.Close()
		return nil, fmt.Errorf("start broker on %s: %w", cfg.Addr, err)
	}
	return b, nil
}

// ControlAddr is the address the controller's own client dials: the
// plain loopback listener with TLS, else DialAddr.
func (b *Broker) ControlAddr() string {
	if b.control != nil {
		return b.control.Address()
	}
	return b.DialAddr()
}

// URL is the broker's URL as devices use it: ssl://ADDR with TLS, else
// tcp://ADDR.
func (b *Broker) URL() string {
	if b.tls {
		return "ssl://" + b.Addr()
	}
	return "tcp://" + b.Addr()
}

// Addr returns the bound TCP address (host:port), useful with port 0.
func (b *Broker) Addr() string { return b.ln.Address() }

// DialAddr returns an address a local client can dial: the bound address,
// with an unspecified host (0.0.0.0, ::) replaced by loopback.
func (b *Broker) DialAddr() string {
	host, port, err := net.SplitHostPort(b.Addr())
	if err != nil {
		return b.Addr()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// closeGrace is how long Close lets mochi say DISCONNECT to every client
// before it closes the connections of those that do not take it.
const closeGrace = 2 * time.Second

// Close stops the broker and disconnects every client, and returns within
// about 2 × closeGrace whatever mochi does: its graceful close writes a
// DISCONNECT to each client under the lock that a write blocked on a full
// socket holds, and waits for all of them; and mochi v2.7.9's close can
// deadlock on its client list when a client attaches meanwhile (CI: a
// dashboard test's controller hung in Close for 15 minutes). After
// closeGrace every connection is closed from the broker's own list (never
// through mochi's), which ends blocked writes; a close still stuck after
// that is reported, not waited for.
func (b *Broker) Close() error {
	done := make(chan struct{})
	go func() {
		b.srv.Close()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(closeGrace):
	}
	n := b.open.closeAll() // blocked writes fail
	select {
	case <-done:
		b.log.Warn("broker stopped after closing the connections of clients that did not read", "connections", n)
		return nil
	case <-time.After(closeGrace):
		return fmt.Errorf("close broker: mochi's close still running %s after the %d client connections were closed", 2*closeGrace, n)
	}
}

// Stats are the embedded broker's figures since it started.
type Stats struct {
	ClientsConnected int64
	MessagesReceived int64 // PUBLISH packets received
	MessagesSent     int64
	MessagesDropped  int64 // to subscribers too slow to take them
	InflightDropped  int64
	BytesReceived    int64
	BytesSent        int64
	Retained         int64
	Subscriptions    int64
}

// Stats returns the broker's figures (mochi's server info, read
// atomically).
func (b *Broker) Stats() Stats {
	i := b.srv.Info.Clone()
	return Stats{
		ClientsConnected: i.ClientsConnected, MessagesReceived: i.MessagesReceived, MessagesSent: i.MessagesSent,
		MessagesDropped: i.MessagesDropped, InflightDropped: i.InflightDropped,
		BytesReceived: i.BytesReceived, BytesSent: i.BytesSent, Retained: i.Retained, Subscriptions: i.Subscriptions,
	}
}

// Disconnect ends the session of client id, if the broker has one: its
// connection is closed without publishing its Last Will (the device was
// removed or its password replaced: no "offline" status should bring it
// back into the inventory), and its persistent session (subscriptions,
// messages in flight) is discarded. It reports whether there was a
// session.
func (b *Broker) Disconnect(id string) bool {
	cl, ok := b.srv.Clients.Get(id)
	if !ok {
		return false
	}
	atomic.StoreUint32(&cl.Properties.Will.Flag, 0) // as mochi clears it: sendLWT reads it atomically
	cl.Stop(errSessionRevoked)
	b.srv.UnsubscribeClient(cl)
	cl.ClearInflights()
	b.srv.Clients.Delete(id)
	return true
}

// errSessionRevoked is the stop cause of a session Disconnect ended.
var errSessionRevoked = errors.New("device removed or its credentials replaced")
