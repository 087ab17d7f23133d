package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgeplane/edge/control/api"
	"github.com/edgeplane/edge/control/auth"
	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/internal/atomicfile"
	"github.com/edgeplane/edge/internal/secretfile"
)

// AuthConfig is the HTTP API's access configuration (control/api/access.go).
type AuthConfig struct {
	// PublicHosts are the names clients reach the controller by (Host
	// header), besides IP literals, localhost and the --http address's
	// name; any other name is answered 421.
	PublicHosts []string
	// NewAdminToken creates a new admin token at start and writes it to
	// AdminTokenFile, for an operator who lost every admin token (shell
	// access to the data folder stands for the admin role).
	NewAdminToken bool
	// SessionTTL bounds a dashboard session.
	SessionTTL time.Duration
}

// AdminTokenFile is the file in the data folder the controller writes the
// admin token to when it creates one (first start, --new-admin-token).
const AdminTokenFile = "admin.token"

func registerAuthFlags(fs *flag.FlagSet, c *AuthConfig) {
	fs.Var(hostsFlag{&c.PublicHosts}, "public-host",
		"`name` clients reach the HTTP API by (its Host header), besides IP addresses, localhost and the --http name;\n"+
			"other names are refused (421) against DNS rebinding; repeatable or comma-separated")
	fs.BoolVar(&c.NewAdminToken, "new-admin-token", false,
		"create a new admin token at start and write it to DATA/"+AdminTokenFile+" (when every admin token is lost; stop the running controller first)")
	fs.DurationVar(&c.SessionTTL, "session-ttl", api.DefaultSessionTTL, "lifetime of a dashboard sign-in")
}

// hostsFlag is a repeatable, comma-separated list of host names.
type hostsFlag struct{ list *[]string }

func (h hostsFlag) String() string {
	if h.list == nil {
		return ""
	}
	return strings.Join(*h.list, ",")
}

func (h hostsFlag) Set(s string) error {
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" || strings.ContainsAny(name, "/:@ []") {
			return fmt.Errorf("%q: want a host name (no scheme, port or path)", name)
		}
		*h.list = append(*h.list, name)
	}
	return nil
}

func (c *AuthConfig) validate() error {
	if c.SessionTTL < time.Minute {
		return fmt.Errorf("--session-ttl %v: want at least 1m", c.SessionTTL)
	}
	return nil
}

// apiHosts are the Host names the API accepts beyond IP literals and
// localhost: the --http address's name, if it is one, and --public-host.
func (c *Config) apiHosts() []string {
	hosts := append([]string(nil), c.PublicHosts...)
	if h, _, err := net.SplitHostPort(c.HTTPAddr); err == nil && h != "" && net.ParseIP(h) == nil {
		hosts = append(hosts, h)
	}
	return hosts
}

// adminTokenUnannounced marks, in the data folder, an admin token written
// to AdminTokenFile that no successful start has announced yet: a start
// that fails after creating the token (a port in use) leaves it, and the
// next start that gets as far as the ready line says where the token is,
// then removes it (Server.AdminTokenAnnounced).
const adminTokenUnannounced = AdminTokenFile + ".unannounced"

// bootstrapAdmin creates an admin token when the store has no active one
// (first start) or when asked to (--new-admin-token), and writes it to
// DATA/admin.token, 0600. It returns the token to announce: the one it
// created, or one an earlier start created but never announced; else "".
func bootstrapAdmin(ctx context.Context, st *store.Store, dataDir string, force bool, log *slog.Logger) (string, error) {
	n, err := st.ActiveAdminTokens(ctx)
	if err != nil {
		return "", err
	}
	if n > 0 && !force {
		return unannouncedAdmin(dataDir, log), nil
	}
	// The mark first: a start that stops between the two still leaves a
	// token the next start announces, or no token file to announce.
	if err := atomicfile.Write(filepath.Join(dataDir, adminTokenUnannounced), nil, 0o600); err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	now := time.Now()
	name := "admin"
	if n > 0 {
		name = "admin-" + now.UTC().Format("20060102-150405")
	}
	tc, err := api.IssueToken(ctx, st, name, auth.RoleAdmin, now)
	if err != nil {
		return "", fmt.Errorf("create admin token: %w", err)
	}
	path := filepath.Join(dataDir, AdminTokenFile)
	if err := atomicfile.Write(path, []byte(tc.Secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	return tc.Secret, nil
}

// unannouncedAdmin is the admin token an earlier start wrote and did not
// announce, or "".
func unannouncedAdmin(dataDir string, log *slog.Logger) string {
	mark := filepath.Join(dataDir, adminTokenUnannounced)
	if _, err := os.Stat(mark); err != nil {
		return ""
	}
	t, err := ReadAdminToken(dataDir)
	if err != nil {
		log.Warn("an earlier start created an admin token but its file cannot be read; --new-admin-token creates another", "err", err)
		os.Remove(mark)
		return ""
	}
	return t
}

// ReadAdminToken reads the admin token a controller wrote to its data
// folder (tests, scripts on the controller's machine), a secret file.
func ReadAdminToken(dataDir string) (string, error) {
	b, err := secretfile.Read(filepath.Join(dataDir, AdminTokenFile))
	if err != nil {
		return "", err
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", errors.New(AdminTokenFile + " is empty")
	}
	return t, nil
}
