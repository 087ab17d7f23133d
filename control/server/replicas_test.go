package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/internal/dbbind"
	"github.com/edgeplane/edge/tests/harness"
	"github.com/edgeplane/edge/wire"
)

// The replica tests run controllers on one fresh MySQL/MariaDB database
// (EDGE_TEST_MYSQL) and, where they need an external broker, the
// machine's Mosquitto (EDGE_TEST_MQTT).

// replicaDB returns a fresh database for the controllers of one test.
func replicaDB(t *testing.T) string {
	t.Helper()
	base := os.Getenv("EDGE_TEST_MYSQL")
	if base == "" {
		t.Skip("EDGE_TEST_MYSQL not set (e.g. mysql://root@127.0.0.1:3306/test): skipping the replica test")
	}
	return newTestDatabase(t, base, nil)
}

// replicaBroker is the external broker replicas share.
func replicaBroker(t *testing.T) string {
	t.Helper()
	b := os.Getenv("EDGE_TEST_MQTT")
	if b == "" {
		t.Skip("EDGE_TEST_MQTT not set (e.g. tcp://127.0.0.1:1883): skipping the replica test")
	}
	return b
}

// replica configures a controller on db with blobs, and broker ("" for
// the embedded one).
func replica(db, blobs, broker string) func(*Config) {
	return func(c *Config) {
		c.DB, c.BlobDir, c.Broker = db, blobs, broker
		if broker != "" {
			c.ClientID, c.CleanSession = uniqueID("edge-control-replica"), true
		}
	}
}

// tryStart starts a controller with the test defaults and mod, and
// returns Start's error (the controller is closed when the test ends).
func tryStart(t *testing.T, mod func(*Config)) (*Server, error) {
	t.Helper()
	return tryStartLog(t, testLogger(t), mod)
}

func tryStartLog(t *testing.T, log *slog.Logger, mod func(*Config)) (*Server, error) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir, cfg.HTTPAddr, cfg.MQTTAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	mod(&cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := Start(ctx, cfg, log)
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

// wantRefused checks that err refuses a replica as a configuration error
// whose message says what to change.
func wantRefused(t *testing.T, what string, s *Server, err error, says ...string) {
	t.Helper()
	if err == nil {
		s.Close()
		t.Fatalf("%s: started, want refused", what)
	}
	if !errors.Is(err, ErrReplicaConflict) || !errors.Is(err, ErrConfig) {
		t.Fatalf("%s: %v, want %v (and %v)", what, err, ErrReplicaConflict, ErrConfig)
	}
	t.Logf("%s: refused: %v", what, err)
	for _, w := range says {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not say %q", what, err, w)
		}
	}
}

// TestReplicaBrokerMismatchRefused: beside a live controller on an
// external broker, one with its embedded broker (the trial user's case:
// its pushes hung), another broker or the same client id (the broker
// would end one session whenever the other connects) is refused with the
// flag to give; one with the same broker, named otherwise, and the same
// blob folder starts.
func TestReplicaBrokerMismatchRefused(t *testing.T) {
	db, broker, blobs := replicaDB(t), replicaBroker(t), t.TempDir()
	first := startServer(t, replica(db, blobs, broker))
	want := brokerIdentity(broker)

	s, err := tryStart(t, replica(db, blobs, ""))
	wantRefused(t, "embedded broker", s, err, "start with --broker "+want, "replicas must share one external broker")

	s, err = tryStart(t, replica(db, blobs, "tcp://127.0.0.2:1"))
	wantRefused(t, "another broker", s, err, "start with --broker "+want)

	s, err = tryStart(t, func(c *Config) { replica(db, blobs, broker)(c); c.ClientID = first.cfg.ClientID })
	wantRefused(t, "same client id", s, err, "give each replica its own --client-id")

	alias := strings.Replace(broker, "tcp://", "MQTT://", 1)
	if _, err := tryStart(t, replica(db, blobs, alias)); err != nil {
		t.Fatalf("replica on the same broker (%s) and blobs: %v", alias, err)
	}
}

// TestReplicaBlobMismatchRefused: beside a live controller, one with a
// blob folder of its own (it would answer 404 for the chunks the other
// stored) is refused, saying which folder to give.
func TestReplicaBlobMismatchRefused(t *testing.T) {
	db, broker, blobs := replicaDB(t), replicaBroker(t), t.TempDir()
	startServer(t, replica(db, blobs, broker))
	s, err := tryStart(t, replica(db, t.TempDir(), broker))
	wantRefused(t, "own blob folder", s, err, "--blobs", blobs, "replicas must share one blob folder")
}

// TestReplicaBesideEmbeddedRefused: a controller with its embedded broker
// on a MySQL database is alone there: a second one, embedded or not, is
// refused, and edge-control says so on its last line and exits 2, having
// written nothing (no admin token).
func TestReplicaBesideEmbeddedRefused(t *testing.T) {
	db, blobs := replicaDB(t), t.TempDir()
	startServer(t, replica(db, blobs, ""))

	s, err := tryStart(t, replica(db, blobs, "tcp://127.0.0.1:1"))
	wantRefused(t, "external beside embedded", s, err, "restart it with --broker tcp://127.0.0.1:1")

	data := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"--data", data, "--db", db, "--blobs", blobs,
		"--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0"}, &stdout, &stderr)
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if last := lines[len(lines)-1]; code != 2 || !strings.HasPrefix(last, "edge-control: ") ||
		!strings.Contains(last, "embedded broker, and so does this one") || !strings.Contains(last, "--broker tcp://HOST:PORT") {
		t.Fatalf("second embedded edge-control: exit %d, last line %q; want 2 and what to change", code, last)
	}
	if _, err := os.Stat(filepath.Join(data, AdminTokenFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("refused controller left %s (%v)", AdminTokenFile, err)
	}
}

// TestReplicaAfterHeartbeatExpired: a controller that died without a
// clean stop blocks a start only until its heartbeat expires; one that
// stopped cleanly, not at all; and a controller restarted on the same
// host and data folder is not blocked by its predecessor's entry.
func TestReplicaAfterHeartbeatExpired(t *testing.T) {
	db, blobs := replicaDB(t), t.TempDir()
	ttl := 2 * time.Second
	killed, err := tryStart(t, func(c *Config) { replica(db, blobs, "")(c); c.LeaseTTL = ttl })
	if err != nil {
		t.Fatal(err)
	}
	killed.replica = nil // dies without removing its entry, as after a SIGKILL
	killed.Close()

	s, err := tryStart(t, replica(db, blobs, ""))
	wantRefused(t, "beside a controller killed just now", s, err, "embedded broker")
	deadline := time.Now().Add(time.Minute) // expiry is 2 s; the machine may be loaded
	for {
		s, err = tryStart(t, replica(db, blobs, ""))
		if err == nil {
			break
		}
		if !errors.Is(err, ErrReplicaConflict) || time.Now().After(deadline) {
			t.Fatalf("after the killed controller's heartbeat expired: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A clean stop removes the entry at once.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	first, err := tryStart(t, func(c *Config) { replica(db, blobs, "")(c); c.DataDir = dir })
	if err != nil {
		t.Fatalf("after a clean stop: %v", err)
	}
	// Killed and restarted on its data folder: its predecessor's entry,
	// still live, is its own.
	first.replica = nil
	first.Close()
	if _, err := tryStart(t, func(c *Config) { replica(db, blobs, "")(c); c.DataDir = dir }); err != nil {
		t.Fatalf("restart on the same data folder: %v", err)
	}
}

// TestReplicaTrustWarned: a replica checking deployments against other
// --trust keys than a live one starts (a key is rolled out to replicas one
// at a time) but says so: through it a deployment the other refuses would
// be accepted.
func TestReplicaTrustWarned(t *testing.T) {
	db, broker, blobs := replicaDB(t), replicaBroker(t), t.TempDir()
	startServer(t, replica(db, blobs, broker))
	pem, err := wire.MarshalPublicKey(newSigner(t).pub)
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "edge.pub")
	if err := os.WriteFile(key, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs harness.SyncBuffer
	if _, err := tryStartLog(t, slog.New(slog.NewTextHandler(&logs, nil)), func(c *Config) {
		replica(db, blobs, broker)(c)
		c.TrustFiles = []string{key}
	}); err != nil {
		t.Fatalf("replica with other --trust keys: %v, want started", err)
	}
	if !strings.Contains(logs.String(), "other --trust keys") {
		t.Fatalf("no warning about the --trust keys in %q", logs.String())
	}
}

// TestReplicaConflictFoundByHeartbeat: a controller whose entry lapsed
// (paused, or cut off from the database) while one it cannot work with
// started finds that one at its next heartbeat and logs an error.
func TestReplicaConflictFoundByHeartbeat(t *testing.T) {
	db, blobs := replicaDB(t), t.TempDir()
	var logs harness.SyncBuffer
	lapsed, err := tryStartLog(t, slog.New(slog.NewTextHandler(&logs, nil)), func(c *Config) {
		replica(db, blobs, "")(c)
		c.LeaseTTL = time.Second
	})
	if err != nil {
		t.Fatal(err)
	}
	sdb, err := dbbind.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	if _, err := sdb.Exec(`DELETE FROM controllers WHERE id = ?`, lapsed.replica.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tryStart(t, replica(db, blobs, "")); err != nil {
		t.Fatalf("beside a lapsed entry: %v, want started", err)
	}
	eventually(t, "the lapsed controller logs the conflict", func() bool {
		return strings.Contains(logs.String(), "cannot work with this one") && strings.Contains(logs.String(), "embedded broker, and so does this one")
	})
}

// TestBrokerIdentity: the forms of one broker's URL compare equal,
// without credentials.
func TestBrokerIdentity(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"tcp://mqtt:1883", "tcp://mqtt:1883"},
		{"mqtt://MQTT", "tcp://mqtt:1883"},
		{"tcp://user:secret@mqtt:1883/x?y=1", "tcp://mqtt:1883"},
		{"ssl://mqtt", "ssl://mqtt:8883"},
		{"mqtts://mqtt:8883", "ssl://mqtt:8883"},
		{"tls://[::1]:9000", "ssl://[::1]:9000"},
	} {
		if got := brokerIdentity(c.in); got != c.want {
			t.Errorf("brokerIdentity(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
