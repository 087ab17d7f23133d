package harness

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/internal/freeport"

	"golang.org/x/crypto/bcrypt"
)

// RegistryBin is Debian's docker-registry (the CNCF distribution
// registry), which serves the OCI distribution API.
const RegistryBin = "/usr/bin/docker-registry"

// Registry is a docker-registry started by a test on a loopback port,
// with its storage in a temporary folder.
type Registry struct {
	Proc *Proc
	Addr string // 127.0.0.1:PORT
	Dir  string // storage root
}

// RegistryOptions configure StartRegistry.
type RegistryOptions struct {
	// User and Password, when set, make the registry require them
	// (htpasswd, basic auth).
	User, Password string
	// Port to listen on; 0 takes a free one.
	Port int
}

// StartRegistry starts a registry for the test and stops it when the test
// ends. Without docker-registry installed the test is skipped, unless
// CI is set: there it fails (.ci/run installs it).
func StartRegistry(t testing.TB, o RegistryOptions) *Registry {
	t.Helper()
	if _, err := os.Stat(RegistryBin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing (apt-get install docker-registry): %v", RegistryBin, err)
		}
		t.Skipf("%s missing (apt-get install docker-registry); skipping registry test", RegistryBin)
	}
	dir := t.TempDir()
	port := o.Port
	if port == 0 {
		port = freePort(t)
	}
	r := &Registry{Addr: fmt.Sprintf("127.0.0.1:%d", port), Dir: filepath.Join(dir, "data")}
	auth := ""
	if o.User != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(o.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, fmt.Appendf(nil, "%s:%s\n", o.User, hash), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: edge-test\n    path: %s\n", htpasswd)
	}
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: edge-test
%s`, r.Dir, r.Addr, auth)
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r.Proc, _ = Start(t, regexp.MustCompile(`listening on `), nil, 20*time.Second, RegistryBin, "serve", path)
	return r
}

// Stop stops the registry (a registry that goes down under a test).
func (r *Registry) Stop(t testing.TB) { r.Proc.Stop(t) }

// freePort returns a loopback port for a server started later, from below
// the ephemeral range (internal/freeport).
func freePort(t testing.TB) int {
	t.Helper()
	return freeport.MustPick(t.Fatal)
}

// LyingRegistry serves the registry at addr on another loopback port and
// returns that address; it changes the last byte of the blob with digest
// (sha256:...) whenever it is fetched, as a compromised registry or
// mirror would.
func LyingRegistry(t testing.TB, addr, digest string) string {
	t.Helper()
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: addr})
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method != http.MethodGet || !strings.HasSuffix(resp.Request.URL.Path, "/blobs/"+digest) {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if len(b) > 0 {
			b[len(b)-1] ^= 0xff
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		return nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}
