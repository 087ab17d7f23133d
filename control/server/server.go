// Package server wires edge-control together: state store, embedded or
// external MQTT broker, the controller's MQTT client, fleet logic and the
// HTTP API. cmd/edge-control is a thin main around Main.
//
// Start order: store, the replica check (replicas.go: on a shared MySQL
// database, a controller whose broker or blob folder differs from a live
// replica's is refused before it writes or leads anything), broker
// (embedded), fleet, MQTT client (which re-publishes every desired state
// once connected), HTTP. Shutdown runs in reverse: HTTP first (no new
// deployments), then the MQTT client, the broker, the fleet's workers,
// the controller's entry in the replica registry and the store.
package server

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/edgeplane/edge/control/api"
	"github.com/edgeplane/edge/control/auth"
	"github.com/edgeplane/edge/control/broker"
	"github.com/edgeplane/edge/control/fleet"
	"github.com/edgeplane/edge/control/mqttc"
	"github.com/edgeplane/edge/control/prom"
	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/internal/buildinfo"
	"github.com/edgeplane/edge/internal/dbbind"
	"github.com/edgeplane/edge/internal/ociwasm"
	"github.com/edgeplane/edge/internal/secretfile"
	"github.com/edgeplane/edge/wire"
)

// Server is a running controller.
type Server struct {
	lock   *os.File // DATA/edge-control.lock, held while it runs
	cfg    Config
	log    *slog.Logger
	store  *store.Store
	broker *broker.Broker // nil with an external broker
	client *mqttc.Client
	fleet  *fleet.Fleet
	http   *http.Server
	httpLn net.Listener
	// adminToken is the admin token to announce: created by this start
	// (first start, --new-admin-token) or by an earlier one that failed
	// before announcing it; "" otherwise.
	adminToken string

	tls       *tls.Config // HTTPS and MQTTS; nil: plain
	brokerTLS *tls.Config // towards an external ssl:// broker

	// replica is this controller's entry in the registry of controllers
	// sharing a MySQL database (replicas.go); nil on SQLite.
	replica *store.Controller
	trustID string // the --trust keys' fingerprint (trustFingerprint), "" for none

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Start starts a controller. ctx bounds the start only; call Close to stop.
// On error everything started so far is stopped again.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	trust, trustID, err := loadTrust(cfg.TrustFiles)
	if err != nil {
		return nil, err
	}
	serverTLS, brokerTLS, err := cfg.TLS.load(&cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, tls: serverTLS, brokerTLS: brokerTLS, trustID: trustID}
	if err := s.start(ctx, trust); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// start starts the parts in order; Close stops whichever were started.
func (s *Server) start(ctx context.Context, trust wire.Keyring) (err error) {
	cfg, log := s.cfg, s.log
	if s.lock, err = lockData(cfg.DataDir); err != nil {
		if errors.Is(err, ErrDataInUse) && cfg.NewAdminToken {
			return fmt.Errorf("%w: --new-admin-token runs instead of the controller, not beside it: stop the running edge-control (systemctl stop edge-control), then start it with --new-admin-token (later starts go without it)", err)
		}
		return err
	}
	// An admin token left readable by others is refused, not served
	// beside: whoever read it holds the fleet (internal/secretfile).
	if err := secretfile.Check(filepath.Join(cfg.DataDir, AdminTokenFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: data folder: %w", ErrConfig, err)
	}
	if s.store, err = store.Open(ctx, cfg.DataDir, store.Options{BlobQuota: cfg.BlobQuota, DB: cfg.DB, BlobDir: cfg.BlobDir}); err != nil {
		if cfg.DB != "" {
			return fmt.Errorf("state database %s: %w", dbbind.Redact(cfg.DB), err)
		}
		return fmt.Errorf("data folder %s: %w", cfg.DataDir, err)
	}
	s.fleet = fleet.New(fleet.Config{Store: s.store, Trust: trust, Logger: log.With("component", "fleet"),
		DeployTimeout: cfg.DeployTimeout, LeaseTTL: cfg.LeaseTTL})
	// Before anything is written or led: a controller that cannot work
	// with the live ones on its database does not start (replicas.go).
	if err := s.registerReplica(ctx, s.fleet.Holder()); err != nil {
		return err
	}
	if s.adminToken, err = bootstrapAdmin(ctx, s.store, cfg.DataDir, cfg.NewAdminToken, log); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if me := s.replica; me != nil {
		s.wg.Go(func() { s.heartbeat(runCtx, *me) })
	}
	if err := s.fleet.Load(ctx); err != nil {
		return err
	}
	s.wg.Go(func() { s.fleet.Run(runCtx) })

	mc := mqttc.Config{
		Broker: cfg.Broker, ClientID: cfg.ClientID, Username: cfg.BrokerUser, Password: cfg.BrokerPassword,
		// On a shared database (replicas) the session is clean: the broker
		// would otherwise keep handing a dead replica its share of the
		// reports (shared subscriptions of an offline persistent session
		// queue for it), while the live ones could take them.
		CleanSession: cfg.CleanSession || cfg.DB != "",
		TLS:          s.brokerTLS,
		Filters:      ingestFilters(cfg.Broker != ""),
		Handler:      s.fleet.HandleMessage,
		Wait:         cfg.BrokerWait,
		OnConnect: func() {
			if err := s.fleet.Republish(runCtx); err != nil {
				log.Error("republish desired states", "err", err)
			}
		},
		Logger: log.With("component", "mqtt-client"),
	}
	if cfg.Broker == "" {
		pw, _ := auth.NewPassword()
		s.broker, err = broker.Start(broker.Config{
			Addr: cfg.MQTTAddr, Credentials: s.store, ControlPassword: pw,
			AllowAnonymous: cfg.AllowAnonymous, Logger: log, TLS: s.tls, OnTakeover: s.fleet.NoteTakeover,
		})
		if err != nil {
			return fmt.Errorf("embedded mqtt broker: %w", err)
		}
		if cfg.AllowAnonymous {
			log.Warn("embedded broker accepts anonymous clients with full access (--allow-anonymous)")
		}
		mc.Broker = "tcp://" + s.broker.ControlAddr()
		mc.ClientID, mc.Username, mc.Password = auth.ControlUser, auth.ControlUser, pw
	}
	// The publisher is set before connecting: the first connection
	// republishes every desired state through it.
	s.client = mqttc.New(mc)
	s.fleet.SetPublisher(s.client)
	if cfg.Broker != "" {
		// Metrics reports go to the leader alone: it computes each
		// device's increases from consecutive reports and feeds the
		// rollout gates, which a report split among replicas would break.
		metrics := wire.DeviceWildcard(wire.KindMetrics)
		s.fleet.SetLeadershipHook(func(leading bool) {
			var err error
			if leading {
				err = s.client.Subscribe(metrics)
			} else {
				err = s.client.Unsubscribe(metrics)
			}
			if err != nil {
				log.Error("metrics subscription", "leading", leading, "err", err)
			}
		})
	}
	if err := s.client.Connect(ctx); err != nil {
		return err
	}

	registry, err := registryClient(cfg)
	if err != nil {
		return err
	}
	if s.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return fmt.Errorf("http listen %s: %w", cfg.HTTPAddr, err)
	}
	// Headers are bounded here, bodies by the handlers (a deadline that
	// moves while an upload makes progress; see api.Options): a plain
	// ReadTimeout would cut a slow but healthy 64 MiB upload.
	pc := prom.Config{Fleet: s.fleet, Logger: log.With("component", "metrics")}
	var sessions api.Sessions // nil (not a typed nil) with an external broker
	if s.broker != nil {
		pc.Broker = s.broker.Stats
		sessions = s.broker
	}
	s.http = &http.Server{
		Handler: api.New(s.store, s.fleet, log.With("component", "api"), api.Options{
			MaxUploads: cfg.MaxUploads, UploadIdle: cfg.UploadIdle,
			Metrics: prom.Handler(pc, true), ControllerMetrics: prom.Handler(pc, false),
			Hosts: cfg.apiHosts(), SessionTTL: cfg.SessionTTL,
			Sessions: sessions,
			Registry: registry,
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	s.wg.Go(func() { s.collectBlobs(runCtx) })
	s.wg.Go(func() {
		serve := func() error { return s.http.Serve(s.httpLn) }
		if s.tls != nil {
			// Device certificates are the broker's business: the API
			// asks for none (operators authenticate with tokens).
			s.http.TLSConfig = s.tls.Clone()
			s.http.TLSConfig.ClientAuth, s.http.TLSConfig.ClientCAs = tls.NoClientCert, nil
			serve = func() error { return s.http.ServeTLS(s.httpLn, "", "") }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	})
	return nil
}

// shareGroup is the shared-subscription group of the controllers of one
// fleet.
const shareGroup = "edge-control"

// ingestFilters are the controller's subscriptions. With an external
// broker, where several controllers (replicas) may connect, each device
// report goes to one of them: statuses, events and fetch requests through
// shared subscriptions (any replica stores them or serves the chunks),
// log answers to every replica (the one whose API call asked is waiting
// for it), metrics to the leader alone (SetLeadershipHook). The embedded
// broker has one controller: plain subscriptions.
func ingestFilters(external bool) []string {
	shared := []string{wire.KindStatus, wire.KindEvents, wire.KindFetch}
	var out []string
	for _, k := range shared {
		f := wire.DeviceWildcard(k)
		if external {
			f = mqttc.SharedFilter(shareGroup, f)
		}
		out = append(out, f)
	}
	out = append(out, wire.DeviceWildcard(wire.KindLogs))
	if !external {
		out = append(out, wire.DeviceWildcard(wire.KindMetrics))
	}
	return out
}

// collectBlobs removes unreferenced blobs BlobGrace after their upload,
// checking every tenth of the grace period (at most every 10 minutes).
func (s *Server) collectBlobs(ctx context.Context) {
	every := min(s.cfg.BlobGrace/10, 10*time.Minute)
	t := time.NewTicker(max(every, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		removed, freed, err := s.store.CollectBlobs(ctx, time.Now().Add(-s.cfg.BlobGrace))
		if err != nil {
			s.log.Error("blob garbage collection", "err", err)
			continue
		}
		if len(removed) > 0 {
			s.log.Info("unreferenced blobs removed", "count", len(removed), "bytes", freed, "grace", s.cfg.BlobGrace)
		}
	}
}

// NewAdminToken is the admin token in DATA/admin.token that no start has
// announced yet: created by this one (first start, --new-admin-token) or
// by an earlier one that failed before its ready line; or "".
func (s *Server) NewAdminToken() string { return s.adminToken }

// AdminTokenAnnounced records that the operator was told where the admin
// token of NewAdminToken is: later starts do not announce it again.
func (s *Server) AdminTokenAnnounced() error {
	err := os.Remove(filepath.Join(s.cfg.DataDir, adminTokenUnannounced))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// URL is the base URL of the HTTP API: https:// with TLS.
func (s *Server) URL() string {
	if s.tls != nil {
		return "https://" + s.HTTPAddr()
	}
	return "http://" + s.HTTPAddr()
}

// BrokerURL is the URL devices connect to: the embedded broker's
// (ssl:// with TLS), or the external broker's.
func (s *Server) BrokerURL() string {
	if s.broker != nil {
		return s.broker.URL()
	}
	return s.cfg.Broker
}

// HTTPAddr is the bound HTTP address.
func (s *Server) HTTPAddr() string { return s.httpLn.Addr().String() }

// MQTTAddr is the bound address of the embedded broker, or the external
// broker's URL.
func (s *Server) MQTTAddr() string {
	if s.broker != nil {
		return s.broker.Addr()
	}
	return s.cfg.Broker
}

// Close shuts everything down, in reverse order of Start. It may be
// called more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Server) close() error {
	var errs []error
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, s.http.Shutdown(ctx))
		cancel()
	}
	if s.client != nil {
		s.client.Close()
	}
	if s.broker != nil {
		errs = append(errs, s.broker.Close())
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if s.store != nil {
		s.deregisterReplica()
		errs = append(errs, s.store.Close())
	}
	if s.lock != nil {
		s.lock.Close()
	}
	return errors.Join(errs...)
}

// loadTrust reads the --trust keys, and returns them with their
// fingerprint (trustFingerprint).
func loadTrust(files []string) (wire.Keyring, string, error) {
	if len(files) == 0 {
		return nil, "", nil
	}
	var keys []ed25519.PublicKey
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, "", fmt.Errorf("%w: --trust: %w", ErrConfig, err)
		}
		k, err := wire.ParsePublicKey(b)
		if err != nil {
			return nil, "", fmt.Errorf("%w: --trust %s: %w", ErrConfig, f, err)
		}
		keys = append(keys, k)
	}
	return wire.NewKeyring(keys...), trustFingerprint(keys), nil
}

// registryClient is the client of the OCI registries modules are pulled
// from (edgectl push oci://...). A --registry-config that cannot be read
// or parsed is a start-up error (Validate checks it exists), not an
// anonymous pull later.
func registryClient(cfg Config) (*ociwasm.Client, error) {
	c, err := ociwasm.NewClient(ociwasm.Options{ConfigFile: cfg.RegistryConfig, PlainHTTP: cfg.RegistryPlainHTTP, Allow: cfg.RegistryAllow,
		UserAgent: "edge-control/" + buildinfo.Version})
	if err != nil {
		return nil, fmt.Errorf("--registry-config: %w", err)
	}
	return c, nil
}
