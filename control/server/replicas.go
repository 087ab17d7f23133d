package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/internal/buildinfo"
)

// Replicas: controllers on one MySQL database must work as one. Devices
// connect to one broker, so every replica must use the same external
// broker (a replica with an embedded broker publishes desired states no
// device receives, or hears none of the reports); chunks are served from
// the blob folder, so every replica must share it (a replica with a folder
// of its own answers 404 for what another stored). Each controller on
// MySQL registers in the database how it is configured (store.Controller)
// and renews that with a heartbeat every third of --lease-ttl; a
// controller starting is refused (ErrReplicaConflict, exit code 2) when a
// live one, whose entry has not expired, is configured so that the two
// cannot work together, with what to change. A controller that died stops
// counting when its entry expires (--lease-ttl after its last heartbeat);
// a clean stop removes it at once, and a controller restarted on the same
// host and data folder (whose lock it holds) ignores its predecessor's.
// SQLite has one controller per data folder (lockData): nothing is
// registered.

// ErrReplicaConflict is wrapped, with ErrConfig, by the refusal to start
// beside a live controller on the same database configured so that the two
// cannot work together.
var ErrReplicaConflict = errors.New("this controller cannot work beside a live one on its database")

// registerReplica records this controller in the shared database after
// checking it against the live ones there; on SQLite it does nothing.
func (s *Server) registerReplica(ctx context.Context, id string) error {
	if s.cfg.DB == "" {
		return nil
	}
	blobStore, err := s.store.BlobStoreID()
	if err != nil {
		return fmt.Errorf("--blobs %s: %w", s.store.BlobDir(), err)
	}
	host, _ := os.Hostname()
	me := store.Controller{ID: id, Host: host, Version: buildinfo.Version, Broker: brokerIdentity(s.cfg.Broker),
		BlobStore: blobStore, BlobDir: absPath(s.store.BlobDir()), DataDir: absPath(s.cfg.DataDir)}
	if me.Broker != "" {
		me.ClientID, me.BrokerUser = s.cfg.ClientID, s.cfg.BrokerUser
	}
	me.Trust = s.trustID
	var warnings []string
	err = s.store.RegisterController(ctx, me, s.cfg.LeaseTTL, func(live []store.Controller) error {
		warnings = replicaWarnings(me, live)
		return replicaConflicts(me, live)
	})
	if err != nil {
		return err
	}
	for _, w := range warnings {
		s.log.Warn(w)
	}
	s.replica = &me
	return nil
}

// others are the live controllers but for me's predecessor on its data
// folder, whose lock me holds: killed before its entry expired (a
// restart).
func others(me store.Controller, live []store.Controller) []store.Controller {
	return slices.DeleteFunc(slices.Clone(live), func(o store.Controller) bool {
		return o.Host == me.Host && o.DataDir == me.DataDir
	})
}

// replicaWarnings are the differences with the live controllers that are
// told, not refused: brokers other than the shipped Mosquitto
// configuration let clients share a username, and replicas' --trust keys
// differ while a key is rolled out to them one restart at a time.
func replicaWarnings(me store.Controller, live []store.Controller) []string {
	var out []string
	for _, o := range others(me, live) {
		if me.BrokerUser != "" && o.Broker == me.Broker && o.BrokerUser == me.BrokerUser {
			out = append(out, fmt.Sprintf("another controller (host %s) uses --broker-user %s too: with Mosquitto's use_username_as_clientid "+
				"(deploy/mosquitto) the two take each other's session over; give each replica its own", o.Host, me.BrokerUser))
		}
		if o.Trust != me.Trust {
			out = append(out, fmt.Sprintf("another controller (host %s) on this database checks deployments against other --trust keys: "+
				"a deployment one refuses, the other accepts; give every replica the same --trust files", o.Host))
		}
	}
	return out
}

// replicaConflicts returns what keeps me from working with the live
// controllers, nil if nothing.
func replicaConflicts(me store.Controller, live []store.Controller) error {
	var errs []error
	for _, o := range others(me, live) {
		errs = append(errs, replicaConflict(me, o)...)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w: %w", ErrConfig, ErrReplicaConflict, errors.Join(errs...))
}

// replicaConflict says what keeps me from working beside o, each reason
// with what to change.
func replicaConflict(me, o store.Controller) []error {
	who := fmt.Sprintf("another controller (host %s, started %s, edge-control %s, alive until %s unless its heartbeat renews that)",
		o.Host, o.Started.UTC().Format(time.RFC3339), o.Version, o.Expires.UTC().Format(time.RFC3339))
	var errs []error
	switch {
	case o.Broker == "" && me.Broker == "":
		errs = append(errs, fmt.Errorf("%s uses this database with its embedded broker, and so does this one: devices connect to one broker, "+
			"so replicas must share one external broker: stop the other controller, or start every replica with --broker tcp://HOST:PORT (shared subscriptions)", who))
	case o.Broker == "":
		errs = append(errs, fmt.Errorf("%s uses this database with its embedded broker, whose devices --broker %s does not reach: "+
			"replicas must share one external broker: stop the other controller, or restart it with --broker %s", who, me.Broker, me.Broker))
	case me.Broker == "":
		errs = append(errs, fmt.Errorf("%s uses this database with broker %s; replicas must share one external broker: start with --broker %s", who, o.Broker, o.Broker))
	case me.Broker != o.Broker:
		errs = append(errs, fmt.Errorf("%s uses this database with broker %s, this one --broker %s; replicas must share one external broker "+
			"(named by the same URL on every replica): start with --broker %s", who, o.Broker, me.Broker, o.Broker))
	}
	if me.Broker != "" && me.Broker == o.Broker && me.ClientID == o.ClientID {
		errs = append(errs, fmt.Errorf("%s uses this database with client id %q on broker %s, and so would this one: the broker would end one "+
			"session whenever the other connects: give each replica its own --client-id (and, with the shipped Mosquitto configuration, "+
			"its own --broker-user)", who, o.ClientID, o.Broker))
	}
	if o.BlobStore != me.BlobStore {
		errs = append(errs, fmt.Errorf("%s uses this database with the blob folder %s (blob store %s), this one --blobs %s (blob store %s); "+
			"replicas must share one blob folder (a network file system), or each answers 404 for the chunks of modules another stored: "+
			"start with --blobs naming that folder as mounted here (the same folder holds the same %s file)",
			who, o.BlobDir, o.BlobStore, me.BlobDir, me.BlobStore, store.BlobStoreFile))
	}
	return errs
}

// brokerIdentity is an external broker's URL as replicas compare it:
// without credentials, path or query, scheme and host in lower case,
// aliases of a scheme as one (mqtt as tcp, tls and mqtts as ssl), the
// default port written out. "" (the embedded broker) stays "".
func brokerIdentity(broker string) string {
	if broker == "" {
		return ""
	}
	u, err := url.Parse(broker)
	if err != nil {
		return broker // Validate refused it before
	}
	scheme, port := "tcp", "1883"
	switch strings.ToLower(u.Scheme) {
	case "ssl", "tls", "mqtts":
		scheme, port = "ssl", "8883"
	}
	host := strings.ToLower(u.Hostname())
	if p := u.Port(); p != "" {
		port = p
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// trustFingerprint identifies a set of --trust keys, whatever their order
// and files: the SHA-256 of the sorted keys, each once.
func trustFingerprint(keys []ed25519.PublicKey) string {
	sorted := slices.Clone(keys)
	slices.SortFunc(sorted, func(a, b ed25519.PublicKey) int { return bytes.Compare(a, b) })
	sorted = slices.CompactFunc(sorted, func(a, b ed25519.PublicKey) bool { return bytes.Equal(a, b) })
	h := sha256.New()
	for _, k := range sorted {
		h.Write(k)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// heartbeat renews this controller's entry every third of --lease-ttl
// until ctx ends, and logs as errors the live controllers it cannot work
// with (one registered while this one's entry had expired: this one was
// paused, or cut off from the database), once each until that changes.
func (s *Server) heartbeat(ctx context.Context, me store.Controller) {
	t := time.NewTicker(s.cfg.LeaseTTL / 3)
	defer t.Stop()
	reported := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, s.cfg.LeaseTTL/3)
		live, err := s.store.RenewController(rctx, me, s.cfg.LeaseTTL)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("controller heartbeat", "err", err)
			}
			continue
		}
		msg := ""
		if err := replicaConflicts(me, live); err != nil {
			msg = err.Error()
		}
		if msg != reported && msg != "" {
			s.log.Error("another controller on this database cannot work with this one; fix one of them", "err", msg)
		}
		reported = msg
	}
}

// deregisterReplica removes this controller's entry (a clean stop).
func (s *Server) deregisterReplica() {
	if s.replica == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.store.RemoveController(ctx, s.replica.ID); err != nil {
		s.log.Warn("controller registry", "err", err)
	}
}
