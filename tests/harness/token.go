package harness

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The controller's HTTP API requires an operator token. A controller
// writes its admin token to DATA/admin.token at its first start;
// ControlToken reads it and remembers it for the controller's address, so
// that Call, TryCall and Authorize send it with every request to that
// controller (and to no other address), and EdgectlEnvFor hands it to
// edgectl.

// AdminTokenFile is where edge-control writes its first admin token
// (control/server.AdminTokenFile).
const AdminTokenFile = "admin.token"

var tokens sync.Map // host:port → token

// ControlToken reads the admin token of the controller whose data folder is
// dataDir and registers it for base (http://host:port). It returns the
// token.
func ControlToken(t testing.TB, dataDir, base string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, AdminTokenFile))
	if err != nil {
		t.Fatalf("admin token of the controller at %s: %v", base, err)
	}
	token := strings.TrimSpace(string(b))
	RegisterToken(t, base, token)
	return token
}

// RegisterToken makes Call, TryCall and Authorize send token to the
// controller at base until the test ends.
func RegisterToken(t testing.TB, base, token string) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		t.Fatalf("controller address %q: want http://host:port", base)
	}
	tokens.Store(u.Host, token)
	t.Cleanup(func() { tokens.CompareAndDelete(u.Host, token) })
}

// TokenFor returns the token registered for the controller at rawURL's
// host, or "".
func TokenFor(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	v, _ := tokens.Load(u.Host)
	s, _ := v.(string)
	return s
}

// Authorize adds the registered token of req's host, if any, unless req
// carries an Authorization header already.
func Authorize(req *http.Request) *http.Request {
	if req.Header.Get("Authorization") == "" {
		if tok := TokenFor(req.URL.String()); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	return req
}

// Client is an HTTP client that sends the token to the controller it is
// for (in-process tests that start control/server themselves).
func Client(token string) *http.Client {
	return &http.Client{Transport: bearerTransport{token}}
}

type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// EdgectlEnvFor returns the environment for running edgectl with args:
// this process's, plus EDGE_TOKEN for the controller named by args'
// --control flag when its token is registered.
func EdgectlEnvFor(args []string) []string {
	env := os.Environ()
	for i, a := range args {
		var control string
		switch {
		case (a == "--control" || a == "-control") && i+1 < len(args):
			control = args[i+1]
		case strings.HasPrefix(a, "--control="):
			control = strings.TrimPrefix(a, "--control=")
		}
		if tok := TokenFor(control); tok != "" {
			return append(env, "EDGE_TOKEN="+tok)
		}
	}
	return env
}
