package server

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/edgeplane/edge/control/api"
	"github.com/edgeplane/edge/control/fleet"
	"github.com/edgeplane/edge/internal/dbbind"
)

// Config is edge-control's configuration: defaults, then flags, then
// Validate.
type Config struct {
	DataDir string // state folder
	// DB is the database: "" for SQLite in DataDir, or
	// mysql://user:pass@host:port/db (several controllers may share it).
	DB string
	// BlobDir is the folder of module blobs, "" for DataDir/blobs;
	// controllers sharing a database share it (a network file system).
	BlobDir  string
	HTTPAddr string // HTTP API and dashboard
	MQTTAddr string // embedded broker listener (unused with Broker)

	Broker         string // external broker URL (tcp://host:port); "" embeds one
	BrokerUser     string
	BrokerPassword string
	ClientID       string // controller's client id on an external broker
	// BrokerWait bounds how long start-up retries an external broker it
	// cannot reach before giving up with the reason.
	BrokerWait time.Duration

	// CleanSession makes the controller's session on an external broker
	// non-persistent (tests). By default the broker keeps the controller's
	// subscriptions and queues device events while it is away.
	CleanSession bool

	// Uploads: at most MaxUploads at once, each cut off after UploadIdle
	// without a byte; blobs on disk within BlobQuota bytes (0: none);
	// blobs no deployment references removed BlobGrace after their upload.
	MaxUploads int
	UploadIdle time.Duration
	BlobQuota  int64
	BlobGrace  time.Duration

	// Pulls of modules from OCI registries (edgectl push oci://...):
	// credentials from a Docker config.json (none: anonymous), plain HTTP
	// for loopback registries and those listed.
	RegistryConfig    string
	RegistryPlainHTTP []string
	RegistryAllow     []string // none: any

	AllowAnonymous bool     // embedded broker: let clients without a password in, with full access
	TrustFiles     []string // public keys (PEM) deployments must be signed by; none: not checked here
	Debug          bool

	TLS TLSOptions // tls.go

	PrintVersion bool // --version (or "version"): print the version and exit
	VersionJSON  bool // --json with --version: as JSON
	// LeaseTTL is the leader lease's TTL (replicas: how soon another
	// takes over from a leader that died).
	LeaseTTL time.Duration
	// DeployTimeout: a device that has not reached a terminal state this
	// long after a deployment was created is marked timed_out.
	DeployTimeout time.Duration

	AuthConfig // the HTTP API's tokens, sessions and Host names (authconfig.go)
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		DataDir:    "/var/lib/edge-control",
		HTTPAddr:   "127.0.0.1:7080", // edgectl's default; 8080 is the order service's
		MQTTAddr:   "127.0.0.1:1884",
		ClientID:   "edge-control",
		BrokerWait: 10 * time.Second,
		MaxUploads: api.DefaultMaxUploads,
		UploadIdle: api.DefaultUploadIdle,
		BlobQuota:  4 << 30,
		BlobGrace:  time.Hour,

		DeployTimeout: fleet.DefaultDeployTimeout,
		LeaseTTL:      fleet.DefaultLeaseTTL,
		AuthConfig:    AuthConfig{SessionTTL: api.DefaultSessionTTL},
	}
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid configuration")

type listFlag struct{ list *[]string }

func (l listFlag) String() string {
	if l.list == nil {
		return ""
	}
	return strings.Join(*l.list, ",")
}
func (l listFlag) Set(s string) error { *l.list = append(*l.list, s); return nil }

// byteSize is a flag of bytes with an optional KiB, MiB or GiB suffix.
type byteSize struct{ n *int64 }

func (b byteSize) String() string {
	if b.n == nil {
		return "0"
	}
	return strconv.FormatInt(*b.n, 10)
}

func (b byteSize) Set(s string) error {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("%q: want bytes, e.g. 4GiB", s)
	}
	*b.n = n * mult
	return nil
}

// ParseFlags overrides cfg with command-line flags.
func ParseFlags(cfg *Config, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("edge-control", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "state `folder` (SQLite database and module blobs)")
	fs.StringVar(&cfg.DB, "db", cfg.DB, "controller state in MySQL/MariaDB: mysql://user:pass@host:port/db (or env EDGE_CONTROL_DB; default: SQLite in --data);\n"+
		"replicas on one --db need one external --broker (the same URL) and one shared --blobs folder: a controller\n"+
		"whose --broker or --blobs differs from a live replica's is refused at start")
	fs.StringVar(&cfg.BlobDir, "blobs", cfg.BlobDir, "module blob `folder` (default: blobs/ in --data); replicas sharing --db must share it (a network file system)")
	fs.StringVar(&cfg.HTTPAddr, "http", cfg.HTTPAddr, "HTTP API and dashboard listen `address`")
	fs.StringVar(&cfg.MQTTAddr, "mqtt", cfg.MQTTAddr, "embedded MQTT broker listen `address` (port 0: any free port)")
	fs.StringVar(&cfg.Broker, "broker", cfg.Broker, "external MQTT broker `URL` (tcp://host:port); embeds no broker; required for replicas sharing --db")
	fs.StringVar(&cfg.BrokerUser, "broker-user", cfg.BrokerUser, "username on the external broker")
	fs.StringVar(&cfg.BrokerPassword, "broker-password", cfg.BrokerPassword, "password on the external broker (or env EDGE_BROKER_PASSWORD)")
	fs.StringVar(&cfg.ClientID, "client-id", cfg.ClientID, "client id on the external broker (unique per controller)")
	fs.DurationVar(&cfg.BrokerWait, "broker-wait", cfg.BrokerWait, "at start, how long to retry an external broker that cannot be reached (each attempt is logged)")
	fs.BoolVar(&cfg.AllowAnonymous, "allow-anonymous", cfg.AllowAnonymous,
		"embedded broker: accept clients without a password, with FULL access to every topic\n"+
			"(any local process can then read every desired state and forge any device's reports;\n"+
			"signatures still keep unsigned code off the boards). For quick local trials only.")
	fs.IntVar(&cfg.MaxUploads, "max-uploads", cfg.MaxUploads, "module uploads at once (429 beyond)")
	fs.DurationVar(&cfg.UploadIdle, "upload-idle", cfg.UploadIdle, "an upload that sends nothing for this long is cut off (408)")
	fs.Var(byteSize{&cfg.BlobQuota}, "blob-quota", "bytes of module blobs kept on disk, raw and gzip forms, uploads in progress included (suffix KiB, MiB, GiB; 0: no limit; 507 beyond)")
	fs.DurationVar(&cfg.BlobGrace, "blob-grace", cfg.BlobGrace, "uploaded blobs no deployment references are removed this long after their upload")
	fs.StringVar(&cfg.RegistryConfig, "registry-config", cfg.RegistryConfig,
		"Docker config.json `file` (auths, credsStore, credHelpers) with the credentials to pull modules from OCI registries (default: anonymous)")
	fs.Var(listFlag{&cfg.RegistryAllow}, "registry-allow", "pull modules only from this OCI registry `HOST` or HOST:PORT; repeatable (default: any registry an API caller names)")
	fs.Var(listFlag{&cfg.RegistryPlainHTTP}, "registry-plain-http", "OCI registry `HOST` or HOST:PORT to pull from over plain HTTP (loopback ones always are); repeatable")
	fs.Var(listFlag{&cfg.TrustFiles}, "trust", "public key `file` (PEM) deployments must be signed by; repeatable")
	fs.DurationVar(&cfg.DeployTimeout, "deploy-timeout", cfg.DeployTimeout,
		"`duration` after which a device that has not finished a deployment (running, rejected, failed, rolled back) is marked timed_out")
	registerAuthFlags(fs, &cfg.AuthConfig)
	registerTLSFlags(fs, &cfg.TLS)
	fs.DurationVar(&cfg.LeaseTTL, "lease-ttl", cfg.LeaseTTL,
		"replicas on one --db: TTL of the leader lease (the leader publishes desired states and drives rollouts; another takes over within about this long of its death)")
	fs.BoolVar(&cfg.Debug, "debug", cfg.Debug, "debug logging")
	fs.BoolVar(&cfg.PrintVersion, "version", false, "print the version and exit (also: edge-control version)")
	fs.BoolVar(&cfg.VersionJSON, "json", false, "with --version: print {program, version, os, arch, go} as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", ErrConfig, fs.Args())
	}
	return nil
}

// Validate checks cfg.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data is required"))
	}
	if c.DB != "" {
		if b, err := dbbind.Parse(c.DB); err != nil || b.Dialect != dbbind.MySQL {
			errs = append(errs, fmt.Errorf("--db %q: want mysql://user:pass@host:port/db", dbbind.Redact(c.DB)))
		}
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("--http %q: %w", c.HTTPAddr, err))
	}
	if c.Broker == "" {
		if _, _, err := net.SplitHostPort(c.MQTTAddr); err != nil {
			errs = append(errs, fmt.Errorf("--mqtt %q: %w", c.MQTTAddr, err))
		}
	} else {
		u, err := url.Parse(c.Broker)
		if err != nil || (u.Scheme != "tcp" && u.Scheme != "mqtt" && u.Scheme != "ssl" && u.Scheme != "tls" && u.Scheme != "mqtts") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--broker %q: want tcp://host:port or ssl://host:port", c.Broker))
		}
		if c.AllowAnonymous {
			errs = append(errs, errors.New("--allow-anonymous applies to the embedded broker only; configure the external broker's own"))
		}
		if c.BrokerWait <= 0 {
			errs = append(errs, errors.New("--broker-wait must be positive"))
		}
		if c.ClientID == "" {
			errs = append(errs, errors.New("--client-id must not be empty with --broker"))
		}
	}
	if c.MaxUploads < 1 || c.UploadIdle <= 0 || c.BlobQuota < 0 || c.BlobGrace <= 0 {
		errs = append(errs, errors.New("--max-uploads, --upload-idle and --blob-grace must be positive, --blob-quota not negative"))
	}
	if c.LeaseTTL < 300*time.Millisecond {
		errs = append(errs, fmt.Errorf("--lease-ttl %v: want at least 300ms", c.LeaseTTL))
	}
	if c.DeployTimeout < time.Second {
		errs = append(errs, fmt.Errorf("--deploy-timeout %v: want at least 1s", c.DeployTimeout))
	}
	if c.RegistryConfig != "" {
		if _, err := os.Stat(c.RegistryConfig); err != nil {
			errs = append(errs, fmt.Errorf("--registry-config: %w", err))
		}
	}
	for _, l := range []struct {
		flag  string
		hosts []string
	}{{"--registry-plain-http", c.RegistryPlainHTTP}, {"--registry-allow", c.RegistryAllow}} {
		for _, h := range l.hosts {
			if h == "" || strings.ContainsAny(h, "/ @") {
				errs = append(errs, fmt.Errorf("%s %q: want HOST or HOST:PORT", l.flag, h))
			}
		}
	}
	if (c.BrokerUser != "" || c.BrokerPassword != "") && c.Broker == "" {
		errs = append(errs, errors.New("--broker-user/--broker-password need --broker"))
	}
	if err := c.AuthConfig.validate(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.TLS.validate(c)...)
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
	}
	return nil
}
