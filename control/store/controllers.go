package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgeplane/edge/internal/atomicfile"
)

// Controller is one controller's entry in the registry of the controllers
// sharing a database (replicas): how it is configured, so that a
// controller starting can tell whether it can work with the live ones
// (control/server). Each renews its entry with a heartbeat; an entry not
// renewed by Expires (a controller killed, or cut off from the database)
// no longer counts. Times are the database's clock, as the leases'.
type Controller struct {
	ID      string // host/pid/random: its name in the leader lease
	Host    string
	Version string
	// Broker is the external broker's URL without credentials, "" for a
	// controller with its embedded broker.
	Broker string
	// ClientID and BrokerUser are its client id and username on the
	// external broker: a broker ends a session when another client
	// connects with its client id (or, with Mosquitto's
	// use_username_as_clientid, its username).
	ClientID   string
	BrokerUser string
	// BlobStore is the identity of its blob folder (BlobStoreID), BlobDir
	// the folder as that controller names it.
	BlobStore string
	BlobDir   string
	// DataDir is its data folder (absolute): on one host, one controller
	// at a time holds a data folder's lock, so an entry of this host and
	// folder is a predecessor's that died without removing it.
	DataDir string
	// Trust is the fingerprint of the keys it checks deployments
	// against, "" for none.
	Trust   string
	Started time.Time // database clock
	Expires time.Time // database clock
}

const controllerCols = `id, host, version, broker, client_id, broker_user, blob_store, blob_dir, data_dir, trust, started, expires`

// RegisterController registers c for ttl after check accepted the other
// live controllers (their entries not expired), in one transaction that
// registrations of other controllers wait for: two controllers starting
// at once are checked one after the other, the second against the first.
// Expired entries are removed. check's error is returned as it is, and c
// is not registered.
func (s *Store) RegisterController(ctx context.Context, c Controller, ttl time.Duration, check func(live []Controller) error) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// Registrations take turns on the one row every database has
		// (SQLite's BEGIN IMMEDIATE serializes them anyway).
		var v int
		if err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version WHERE id = 1`+s.engine.forUpdate()).Scan(&v); err != nil {
			return fmt.Errorf("register controller: %w", err)
		}
		var now int64
		if err := tx.QueryRowContext(ctx, `SELECT `+s.engine.dbNowMillis()).Scan(&now); err != nil {
			return fmt.Errorf("register controller: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM controllers WHERE expires <= ?`, now); err != nil {
			return fmt.Errorf("register controller: %w", err)
		}
		live, err := liveControllers(ctx, tx, c.ID, now)
		if err != nil {
			return err
		}
		if err := check(live); err != nil {
			return err
		}
		return s.putController(ctx, tx, c, now, now+ttl.Milliseconds())
	})
}

// RenewController extends c's entry by ttl (putting it back if it was
// removed: it expired, and a controller starting since cleared it) and
// returns the other live controllers, for c to check again: one that
// registered while c's entry had expired (c paused, or cut off from the
// database) was not checked against c.
func (s *Store) RenewController(ctx context.Context, c Controller, ttl time.Duration) ([]Controller, error) {
	var live []Controller
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var now int64
		if err := tx.QueryRowContext(ctx, `SELECT `+s.engine.dbNowMillis()).Scan(&now); err != nil {
			return err
		}
		var err error
		if live, err = liveControllers(ctx, tx, c.ID, now); err != nil {
			return err
		}
		return s.putController(ctx, tx, c, now, now+ttl.Milliseconds())
	})
	if err != nil {
		return nil, fmt.Errorf("renew controller %s: %w", c.ID, err)
	}
	return live, nil
}

// putController inserts or refreshes c's entry; a refresh keeps the
// start time of the entry.
func (s *Store) putController(ctx context.Context, tx *sql.Tx, c Controller, now, expires int64) error {
	res, err := tx.ExecContext(ctx, `UPDATE controllers SET expires = ? WHERE id = ?`, expires, c.ID)
	if err != nil {
		return fmt.Errorf("register controller %s: %w", c.ID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		return nil
	}
	started := now
	if !c.Started.IsZero() {
		started = c.Started.UnixMilli()
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO controllers(`+controllerCols+`) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)`,
		c.ID, c.Host, c.Version, c.Broker, c.ClientID, c.BrokerUser, c.BlobStore, c.BlobDir, c.DataDir, c.Trust, started, expires); err != nil {
		return fmt.Errorf("register controller %s: %w", c.ID, err)
	}
	return nil
}

// liveControllers lists the entries other than self's that expire after
// now, oldest first.
func liveControllers(ctx context.Context, tx *sql.Tx, self string, now int64) ([]Controller, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+controllerCols+` FROM controllers WHERE id <> ? AND expires > ? ORDER BY started, id`, self, now)
	if err != nil {
		return nil, fmt.Errorf("live controllers: %w", err)
	}
	defer rows.Close()
	var out []Controller
	for rows.Next() {
		var c Controller
		var started, expires int64
		if err := rows.Scan(&c.ID, &c.Host, &c.Version, &c.Broker, &c.ClientID, &c.BrokerUser, &c.BlobStore, &c.BlobDir, &c.DataDir, &c.Trust, &started, &expires); err != nil {
			return nil, fmt.Errorf("live controllers: %w", err)
		}
		c.Started, c.Expires = time.UnixMilli(started).UTC(), time.UnixMilli(expires).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("live controllers: %w", err)
	}
	return out, nil
}

// RemoveController removes id's entry (a clean stop), so that a
// controller configured otherwise may start at once.
func (s *Store) RemoveController(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM controllers WHERE id = ?`, id); err != nil {
		return fmt.Errorf("remove controller %s: %w", id, err)
	}
	return nil
}

// migrateControllers adds the registry of controllers (controllers.go).
func migrateControllers(ctx context.Context, m *migrator) error {
	opts := ""
	if m.engine == engineMySQL {
		opts = mysqlTable
	}
	return m.exec(ctx, `CREATE TABLE IF NOT EXISTS controllers (
	id         VARCHAR(191) NOT NULL PRIMARY KEY, -- host/pid/random, as in the leader lease
	host       VARCHAR(255) NOT NULL,
	version    VARCHAR(64) NOT NULL,
	broker     VARCHAR(1024) NOT NULL,  -- external broker URL without credentials; '' embedded
	client_id  VARCHAR(255) NOT NULL,   -- on the external broker
	broker_user VARCHAR(255) NOT NULL,  -- on the external broker
	blob_store VARCHAR(64) NOT NULL,    -- BlobStoreID of its blob folder
	blob_dir   VARCHAR(4096) NOT NULL,  -- its blob folder, as it names it
	data_dir   VARCHAR(4096) NOT NULL,  -- its data folder
	trust      VARCHAR(64) NOT NULL,    -- fingerprint of its --trust keys; '' none
	started    BIGINT NOT NULL,         -- unix milliseconds, the database's clock
	expires    BIGINT NOT NULL          -- unix milliseconds, the database's clock
)`+opts)
}

// BlobStoreFile names the blob folder's identity (BlobStoreID).
const BlobStoreFile = ".edge-blob-store"

// BlobStoreID returns the identity of the blob folder: a random id that
// the first controller to ask writes in BlobStoreFile, in the folder.
// Controllers that share the folder (a network file system) read the same
// id; a controller given another folder (its own disk, another mount)
// reads another, and would answer 404 for chunks the others stored.
//
// The file is written once and never replaced: a temp file, fsynced, is
// linked to the name, which fails if another controller put its own there
// first (then its id is the folder's). A file system without hard links
// gets a rename instead.
func (s *Store) BlobStoreID() (string, error) {
	path := filepath.Join(s.blobDir, BlobStoreFile)
	id, err := readBlobStoreID(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return id, err
	}
	var b [16]byte
	rand.Read(b[:])
	if err := writeOnce(path, []byte(hex.EncodeToString(b[:])+"\n")); err != nil {
		return "", fmt.Errorf("blob store id: %w", err)
	}
	return readBlobStoreID(path)
}

func readBlobStoreID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("blob store id: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if _, err := hex.DecodeString(id); err != nil || len(id) != 32 {
		return "", fmt.Errorf("blob store id: %s holds %q, not an id: remove it if no controller uses this folder", path, b)
	}
	return id, nil
}

// writeOnce puts data at path crash-safely unless a file is there already
// (then it leaves that one). The temp file is named as atomicfile names
// them, so that Open removes one a crash left.
func writeOnce(path string, data []byte) error {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		if err := os.Rename(tmp, path); err != nil { // no hard links here
			return err
		}
	}
	return atomicfile.SyncDir(dir)
}
