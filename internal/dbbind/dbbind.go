// Package dbbind opens the databases that the agent binds to modules.
//
// A module never sees a DSN or a password: it asks the host to run SQL, and
// the host runs it against the binding the agent chose for that module. This
// package turns the binding's DSN into a *sql.DB with settings that suit an
// edge board:
//
//	sqlite:PATH                     modernc.org/sqlite (pure Go), WAL,
//	                                synchronous=FULL, busy timeout, foreign keys
//	mysql://user:pass@host:port/db  go-sql-driver/mysql, the seed's URL form
//
// synchronous=FULL because an acknowledged order must survive a power cut;
// WAL with NORMAL may lose the last commits (see RATIONALE.md for the cost).
//
// A MySQL server that is down, or that accepts connections and never
// answers, costs at most ConnectTimeout (TCP, handshake and login
// together; ?timeout= in the DSN) and then fails every new connection at
// once, wrapping ErrUnavailable, until a probe connects again (package
// internal/breaker): requests answer 503 at once instead of each waiting
// for its deadline.
//
// It lives in the top-level internal/ because two programs use it: the
// agent (its workers and `edge-agent serve`) and the native build of the
// order service, which must not import agent code (tests/deps).
package dbbind

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgeplane/edge/internal/breaker"
	"github.com/go-sql-driver/mysql"
	"modernc.org/sqlite" // registers driver "sqlite"
)

// ErrDSN is wrapped by every error about a malformed or unsupported DSN.
var ErrDSN = errors.New("invalid database DSN")

// ErrNoFolder is wrapped by the error about a SQLite file whose folder
// does not exist: the folder is never created, so that a mistyped path is
// an error naming it rather than an empty new database.
var ErrNoFolder = errors.New("folder does not exist")

// ErrUnavailable is wrapped by the errors of connections that could not be
// made: refused, no answer within the connect timeout, bad credentials, or
// refused at once while the server is known to be down.
var ErrUnavailable = errors.New("database unavailable")

// Dialect names the SQL engine behind a binding.
type Dialect string

// Supported dialects.
const (
	SQLite Dialect = "sqlite"
	MySQL  Dialect = "mysql"
)

// Settings shared by every binding. The busy timeout lets concurrent writers
// queue instead of failing with SQLITE_BUSY; the MySQL timeouts make an
// unreachable or silent server an error well within a request's deadline
// instead of a hang. The I/O timeout is a backstop for callers without a
// deadline (the agent gives each statement the request's remaining time).
const (
	sqliteBusyTimeout = 5 * time.Second
	// ConnectTimeout bounds a new MySQL connection: TCP connect, the
	// server's greeting and the login together.
	ConnectTimeout  = 3 * time.Second
	mysqlIOTimeout  = 30 * time.Second
	maxConns        = 16
	connMaxIdleTime = 5 * time.Minute
)

// Binding is a parsed DSN.
type Binding struct {
	Dialect Dialect
	// Path is the SQLite file (SQLite only).
	Path string
	// MySQL is the driver configuration (MySQL only).
	MySQL *mysql.Config
}

// Parse parses a DSN without opening anything.
func Parse(dsn string) (Binding, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		p := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
		if p == "" {
			return Binding{}, fmt.Errorf("%w: sqlite: needs a file path", ErrDSN)
		}
		if strings.ContainsAny(p, "?#") {
			return Binding{}, fmt.Errorf("%w: sqlite path %q must not contain '?' or '#'", ErrDSN, p)
		}
		return Binding{Dialect: SQLite, Path: p}, nil
	case strings.HasPrefix(dsn, "mysql://"):
		cfg, err := parseMySQL(dsn)
		if err != nil {
			return Binding{}, err
		}
		return Binding{Dialect: MySQL, MySQL: cfg}, nil
	case dsn == "":
		return Binding{}, fmt.Errorf("%w: empty", ErrDSN)
	default:
		return Binding{}, fmt.Errorf("%w: %q: want sqlite:PATH or mysql://user:pass@host:port/db", ErrDSN, Redact(dsn))
	}
}

func parseMySQL(dsn string) (*mysql.Config, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDSN, redactErr(err))
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" || strings.Contains(db, "/") {
		return nil, fmt.Errorf("%w: %s: a database name is required (mysql://user:pass@host:port/db)", ErrDSN, Redact(dsn))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: %s: a host is required", ErrDSN, Redact(dsn))
	}
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" {
		cfg.Addr = u.Host + ":3306"
	}
	cfg.DBName = db
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	cfg.Timeout = ConnectTimeout
	cfg.ReadTimeout = mysqlIOTimeout
	cfg.WriteTimeout = mysqlIOTimeout
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "tls":
			cfg.TLSConfig = v
		case "timeout":
			d, err := time.ParseDuration(v)
			if err == nil && d <= 0 {
				err = errors.New("must be positive")
			}
			if err != nil {
				return nil, fmt.Errorf("%w: timeout=%q: %v", ErrDSN, v, err)
			}
			cfg.Timeout = d
		default:
			return nil, fmt.Errorf("%w: unsupported mysql parameter %q (supported: tls, timeout)", ErrDSN, k)
		}
	}
	return cfg, nil
}

// Check parses dsn and checks what can be checked without opening it: a
// SQLite file's folder exists (ErrNoFolder). Callers check their flags
// with it at start, before anything runs.
func Check(dsn string) error {
	b, err := Parse(dsn)
	if err != nil {
		return err
	}
	return b.checkFolder()
}

// checkFolder reports a SQLite file whose folder does not exist.
func (b Binding) checkFolder() error {
	if b.Dialect != SQLite {
		return nil
	}
	dir := filepath.Dir(b.Path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("sqlite file %s: %w: %s (create it first)", b.Path, ErrNoFolder, dir)
	case err != nil:
		return fmt.Errorf("sqlite file %s: %w", b.Path, err)
	case !fi.IsDir():
		return fmt.Errorf("sqlite file %s: %w: %s is not a folder", b.Path, ErrNoFolder, dir)
	}
	return nil
}

// Open parses dsn and opens the database. It does not require the server to
// be reachable: a module bound to a MySQL server that is down still starts
// and answers 503 until the server comes back. A SQLite file is created if
// missing, in a folder that must exist (ErrNoFolder).
func Open(ctx context.Context, dsn string) (*sql.DB, error) {
	b, err := Parse(dsn)
	if err != nil {
		return nil, err
	}
	return b.Open(ctx)
}

// Open opens the binding.
func (b Binding) Open(ctx context.Context) (*sql.DB, error) {
	var (
		db  *sql.DB
		err error
	)
	switch b.Dialect {
	case SQLite:
		if err := b.checkFolder(); err != nil {
			return nil, err
		}
		db, err = sql.Open("sqlite", sqliteDSN(b.Path))
		if err == nil {
			// Fail now on an unusable file rather than on the first request.
			err = db.PingContext(ctx)
		}
	case MySQL:
		c, cerr := mysql.NewConnector(b.MySQL)
		if err = cerr; err == nil {
			db = sql.OpenDB(&guardedConnector{Connector: c, addr: b.MySQL.Addr, timeout: b.MySQL.Timeout})
		}
	default:
		return nil, fmt.Errorf("%w: unknown dialect %q", ErrDSN, b.Dialect)
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		return nil, fmt.Errorf("open %s database %s: %w", b.Dialect, b, err)
	}
	// Keep as many idle connections as open ones: a pool that closes
	// connections under load pays the connection set-up (and, for SQLite,
	// the pragmas) again and again.
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(connMaxIdleTime)
	return db, nil
}

// IsLocal reports whether db is a SQLite file opened by Open: a database
// in this process, with no peer that can stall (lock waits end at the busy
// timeout).
func IsLocal(db *sql.DB) bool {
	_, ok := db.Driver().(*sqlite.Driver)
	return ok
}

func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// String describes the binding without its password.
func (b Binding) String() string {
	switch b.Dialect {
	case SQLite:
		return "sqlite:" + b.Path
	case MySQL:
		u := url.URL{Scheme: "mysql", Host: b.MySQL.Addr, Path: "/" + b.MySQL.DBName}
		if b.MySQL.User != "" {
			u.User = url.User(b.MySQL.User)
		}
		return u.String()
	}
	return string(b.Dialect)
}

// Redact returns dsn with any password replaced, for logs and errors.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		if i := strings.Index(dsn, "@"); i >= 0 && strings.Contains(dsn, "://") {
			return dsn[:strings.Index(dsn, "://")+3] + "xxxxx" + dsn[i:]
		}
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// redactErr drops url.Error's copy of the input, which holds the password.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// FromEnv returns dsn, or the DATABASE_URL environment variable when dsn is
// empty, as the seed's service did.
func FromEnv(dsn string) string {
	if dsn != "" {
		return dsn
	}
	return os.Getenv("DATABASE_URL")
}

// guardedConnector bounds each new connection in time and fails new
// connections at once while the server is known to be down. The MySQL
// driver's own timeout covers only the TCP connect: a server that accepts
// and never sends its greeting held a connection attempt until the
// caller's deadline.
type guardedConnector struct {
	driver.Connector
	addr    string
	timeout time.Duration
	br      breaker.Breaker
}

func (c *guardedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if err := c.br.Allow(); err != nil {
		return nil, fmt.Errorf("%w: mysql %s: %w", ErrUnavailable, c.addr, err)
	}
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conn, err := c.Connector.Connect(cctx)
	switch {
	case err == nil:
		c.br.Done(nil)
		return conn, nil
	case ctx.Err() != nil: // the caller gave up: nothing learnt about the server
		c.br.Abort()
		return nil, err
	case cctx.Err() != nil:
		err = fmt.Errorf("%w: mysql %s: no answer within the connect timeout of %s: %w", ErrUnavailable, c.addr, c.timeout, err)
	default:
		err = fmt.Errorf("%w: mysql %s: %w", ErrUnavailable, c.addr, err)
	}
	c.br.Done(err)
	return nil, err
}
