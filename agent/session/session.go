package session

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/agent/store"
	"github.com/edgeplane/edge/internal/mqttdial"
	"github.com/edgeplane/edge/wire"
)

// Errors callers test with errors.Is.
var (
	ErrNotConnected = errors.New("not connected to the broker")
	ErrStalled      = errors.New("transfer made no progress")
	ErrFetchTimeout = errors.New("transfer took too long")
	ErrBusy         = errors.New("a fetch of this blob is already running")
)

// Config configures a Session. Zero durations take the defaults noted.
type Config struct {
	Broker   string // e.g. tcp://127.0.0.1:1883
	Device   string // client id and username
	Password string // "" with a client certificate alone
	// TLS is used for ssl:// (mqtts://) brokers: the CA the broker's
	// certificate is verified with (RootCAs; nil: the system's) and the
	// device's client certificate, if any.
	TLS *tls.Config

	KeepAlive    time.Duration // 30s
	MaxReconnect time.Duration // 30s: cap of the reconnect back-off
	// A second agent with this device id (takeover.go): TakeoverStreak
	// connections in a row closed by the broker within TakeoverWindow of
	// connecting make a conflict, and reconnects then wait TakeoverDelay,
	// doubling to TakeoverMaxDelay.
	TakeoverWindow   time.Duration // 10s
	TakeoverStreak   int           // 4
	TakeoverDelay    time.Duration // 10s
	TakeoverMaxDelay time.Duration // 10m
	PublishTimeout   time.Duration // 10s: wait for a PUBACK
	FetchWindow      int           // 16 chunks requested at a time
	FetchTimeout     time.Duration // 5s: re-request a chunk not received by then
	FetchStall       time.Duration // 2m: give up a transfer with no progress
	FetchMax         time.Duration // 1h: give up a transfer that progresses this long (a trickle)

	// MinGeneration is the generation already applied (from the store):
	// desired states below it are dropped.
	MinGeneration int64

	// Status is what the agent says about itself from the first connect
	// on, before any desired state arrived: agent version, arch, board,
	// engine and labels (a controller targets devices by label, so a fresh
	// agent must be targetable at once). It is also the Last Will, with
	// Online false. Device, Online and Time are set by the session.
	Status wire.Status
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.KeepAlive, 30*time.Second)
	def(&c.MaxReconnect, 30*time.Second)
	def(&c.TakeoverWindow, 10*time.Second)
	def(&c.TakeoverDelay, 10*time.Second)
	def(&c.TakeoverMaxDelay, 10*time.Minute)
	if c.TakeoverStreak <= 0 {
		c.TakeoverStreak = 4
	}
	def(&c.PublishTimeout, 10*time.Second)
	def(&c.FetchTimeout, 5*time.Second)
	def(&c.FetchStall, 2*time.Minute)
	def(&c.FetchMax, time.Hour)
	if c.FetchWindow <= 0 {
		c.FetchWindow = 16
	}
}

// Desired is a desired state as received: decoded, and its exact bytes for
// the store.
type Desired struct {
	State wire.DesiredState
	Raw   []byte
}

// Session is the agent's connection to the broker.
type Session struct {
	cfg    Config
	log    *slog.Logger
	client mqtt.Client
	outbox *store.Outbox

	desired chan Desired // cap 1, latest wins
	kick    chan struct{}

	mu        sync.Mutex
	minGen    int64
	status    wire.Status
	connected bool
	epoch     int           // incremented on every connect
	connCh    chan struct{} // closed and replaced on every connect/disconnect
	fetches   map[string]chan wire.Chunk
	dropped   int // oversize or undecodable frames
	conn      connInfo
	redial    chan uint64            // onConnect asks for a new connection: its generation (cap 1)
	lost      chan *mqttdial.Failure // the current connection was lost: why (cap 1, latest wins)

	statusKick chan struct{}        // PublishStatus wakes the status publisher (cap 1)
	logReqs    chan wire.LogRequest // for the log answerer (cap maxLogRequests)
	logs       LogSource            // nil: log requests are not answered
	app        appState             // module messaging (app.go)
}

// New builds a Session; Start connects it. outbox is the store's.
func New(cfg Config, outbox *store.Outbox, log *slog.Logger) (*Session, error) {
	if err := wire.ValidateDeviceID(cfg.Device); err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	if cfg.Broker == "" {
		return nil, errors.New("session: no broker address")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.defaults()
	s := &Session{
		cfg: cfg, log: log.With("device", cfg.Device), outbox: outbox,
		desired: make(chan Desired, 1), kick: make(chan struct{}, 1),
		minGen: cfg.MinGeneration, connCh: make(chan struct{}),
		fetches:    map[string]chan wire.Chunk{},
		status:     baseStatus(cfg),
		redial:     make(chan uint64, 1),
		lost:       make(chan *mqttdial.Failure, 1),
		conn:       connInfo{since: time.Now()},
		statusKick: make(chan struct{}, 1),
		logReqs:    make(chan wire.LogRequest, maxLogRequests),
	}
	will, err := json.Marshal(s.status) // Online false
	if err != nil {
		return nil, err
	}
	if len(will) > wire.MaxReportSize {
		return nil, fmt.Errorf("session: %w", &wire.SizeError{What: "status (labels)", Size: int64(len(will)), Limit: wire.MaxReportSize})
	}
	opts := mqtt.NewClientOptions().
		AddBroker(cfg.Broker).
		SetClientID(cfg.Device).
		SetUsername(cfg.Device).
		SetPassword(cfg.Password).
		SetCleanSession(false).
		SetKeepAlive(cfg.KeepAlive).
		// The connect loop reconnects after a lost connection, with the
		// back-off of takeover.go (paho's own resets whenever a connection
		// is made, which two agents with one id always manage).
		SetAutoReconnect(false).
		SetConnectTimeout(10*time.Second).
		SetBinaryWill(wire.DeviceTopic(cfg.Device, wire.KindStatus), will, 1, true).
		SetCustomOpenConnectionFn(mqttdial.Opener(wire.MaxPacketSize, func(d mqttdial.Dropped) {
			s.log.Warn("dropping an MQTT message over the packet limit", "topic", d.Topic, "bytes", d.Size, "limit", d.Limit)
		})).
		// No OnConnect handler: the connect loop, which makes every
		// connection, starts onConnect for it (connect.go).
		SetDefaultPublishHandler(s.onAnyMessage).
		SetConnectionNotificationHandler(s.onConnectionNotification).
		SetConnectionLostHandler(s.onConnectionLost)
	if cfg.TLS != nil {
		opts.SetTLSConfig(cfg.TLS)
	}
	s.client = mqtt.NewClient(opts)
	return s, nil
}

// Start connects in the background (retrying forever with back-off, each
// failed attempt logged with its reason) and drains the outbox until ctx
// ends. It does not wait for the broker: the agent must run with no
// network.
func (s *Session) Start(ctx context.Context) {
	go s.connectLoop(ctx)
	go s.drain(ctx)
	go s.statusLoop(ctx)
	go s.answerLogs(ctx)
}

// baseStatus is the status before the reconciler has said anything:
// Config.Status for this device, offline.
func baseStatus(cfg Config) wire.Status {
	st := cfg.Status
	st.Device, st.Online, st.Time = cfg.Device, false, time.Time{}
	st.Labels = maps.Clone(st.Labels)
	st.Modules = slices.Clone(st.Modules)
	return st
}

// Close publishes Status offline (a clean disconnect suppresses the Will)
// and disconnects.
func (s *Session) Close() {
	if s.client.IsConnectionOpen() {
		s.mu.Lock()
		st := s.status
		s.mu.Unlock()
		st.Online, st.Time = false, time.Now().UTC()
		s.publishJSON(wire.KindStatus, 1, true, st)
	}
	s.client.Disconnect(250)
	s.setConnected(false)
}

// Desired delivers desired states, newest only.
func (s *Session) Desired() <-chan Desired { return s.desired }

// Connected reports whether the session is connected and subscribed.
func (s *Session) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

// onConnect subscribes and says the session is online, for the connection
// of generation gen (markUp). A connection lost meanwhile is left alone:
// the connect loop already handles its loss, and a later connection is not
// this one's to end or to call online.
func (s *Session) onConnect(gen uint64) {
	topics := map[string]byte{
		wire.DeviceTopic(s.cfg.Device, wire.KindDesired): 1,
		wire.DeviceTopic(s.cfg.Device, wire.KindChunks):  1,
	}
	if s.logSource() != nil {
		topics[wire.DeviceTopic(s.cfg.Device, wire.KindLogReq)] = 1
	}
	tok := s.client.SubscribeMultiple(topics, s.onMessage)
	if !tok.WaitTimeout(s.cfg.PublishTimeout) || tok.Error() != nil {
		if !s.isUp(gen) || !s.client.IsConnectionOpen() {
			return // lost: the connect loop handles that
		}
		s.log.Error("subscribe failed; reconnecting", "err", tok.Error())
		s.noteFailure(fmt.Errorf("subscribe: %w", tok.Error()))
		// Paho reconnects only on a lost connection; the connect loop
		// makes a new one.
		select {
		case s.redial <- gen:
		default:
		}
		return
	}
	s.app.mu.Lock()
	app := maps.Clone(s.app.want)
	s.app.mu.Unlock()
	s.subscribeApp(app)
	s.mu.Lock()
	st := s.status
	s.mu.Unlock()
	st.Online, st.Time = true, time.Now().UTC()
	if err := s.publishJSON(wire.KindStatus, 1, true, st); err != nil {
		s.log.Warn("publish status", "err", err)
	}
	s.mu.Lock()
	up := s.conn.up == gen
	if up {
		s.setConnectedLocked(true)
	}
	s.mu.Unlock()
	if up {
		s.log.Info("mqtt connected", "broker", s.cfg.Broker)
	}
}

func (s *Session) setConnected(c bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setConnectedLocked(c)
}

func (s *Session) setConnectedLocked(c bool) {
	if c {
		s.epoch++
		s.conn.failed = 0
	}
	if s.connected != c {
		s.conn.since = time.Now()
	}
	if s.connected != c || c {
		s.connected = c
		close(s.connCh)
		s.connCh = make(chan struct{})
	}
	if c {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// connState returns the connection state, its epoch and a channel closed
// at the next change.
func (s *Session) connState() (connected bool, epoch int, changed <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected, s.epoch, s.connCh
}

func (s *Session) onMessage(_ mqtt.Client, msg mqtt.Message) {
	id, kind, err := wire.ParseDeviceTopic(msg.Topic())
	if err != nil || id != s.cfg.Device {
		return
	}
	switch kind {
	case wire.KindDesired:
		s.onDesired(msg.Payload())
	case wire.KindChunks:
		s.onChunk(msg.Payload())
	case wire.KindLogReq:
		s.onLogRequest(msg.Payload())
	}
}

// publishJSON publishes v and waits for the broker's acknowledgement (QoS 1).
func (s *Session) publishJSON(kind string, qos byte, retained bool, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("publish %s: %w", kind, err)
	}
	return s.publish(kind, qos, retained, b)
}

// publish sends one report. A report over wire.MaxReportSize is refused
// here, where it is made: the controller would drop it, and a packet over
// the broker's limit would cost the session.
func (s *Session) publish(kind string, qos byte, retained bool, b []byte) error {
	if len(b) > wire.MaxReportSize {
		return fmt.Errorf("publish %s: %w", kind, &wire.SizeError{What: kind + " report", Size: int64(len(b)), Limit: wire.MaxReportSize})
	}
	topic := wire.DeviceTopic(s.cfg.Device, kind)
	if err := wire.CheckPublish(topic, qos, len(b)); err != nil {
		return fmt.Errorf("publish %s: %w", kind, err)
	}
	if !s.client.IsConnectionOpen() {
		return fmt.Errorf("publish %s: %w", kind, ErrNotConnected)
	}
	tok := s.client.Publish(topic, qos, retained, b)
	if qos == 0 {
		return nil
	}
	if !tok.WaitTimeout(s.cfg.PublishTimeout) {
		return fmt.Errorf("publish %s: no acknowledgement in %s", kind, s.cfg.PublishTimeout)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("publish %s: %w", kind, err)
	}
	return nil
}
