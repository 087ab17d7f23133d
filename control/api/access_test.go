package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/control/auth"
	"github.com/edgeplane/edge/wire"
)

// publicRoutes are the routes that need no token. A route made public
// must be added here too, on purpose.
var publicRoutes = map[string]bool{
	"GET /healthz":                true,
	"GET /login":                  true,
	"POST /login":                 true,
	"POST /logout":                true,
	"GET /ui/{version}/{file...}": true,
}

// adminReads are the GET routes a read token may not use: who holds
// which token is for admins to know.
var adminReads = map[string]bool{"GET /api/v1/tokens": true}

// accessFixture is the API with metrics mounted, one token of each role,
// a revoked admin token and a registered device.
type accessFixture struct {
	h                      *Handler
	srv                    *httptest.Server
	admin, read, revoked   string
	devicePassword, device string
}

func newAccessFixture(t *testing.T) *accessFixture {
	t.Helper()
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "# metrics\n") })
	h := newHandlerOpts(t, Options{Metrics: ok, ControllerMetrics: ok})
	f := &accessFixture{h: h, admin: issue(t, h, "admin", auth.RoleAdmin), read: issue(t, h, "grafana", auth.RoleRead)}
	f.revoked = issue(t, h, "old-admin", auth.RoleAdmin)
	id, _, _ := auth.ParseToken(f.revoked)
	if _, err := h.store.RevokeToken(context.Background(), id, time.Now()); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	// A device's broker credentials must open nothing here.
	f.device = "pi-1"
	code, body := f.do(t, "POST", "/api/v1/devices", "application/json", `{"id":"pi-1"}`, "Bearer "+f.admin)
	var cred wire.DeviceCredentials
	if code != http.StatusCreated || json.Unmarshal([]byte(body), &cred) != nil {
		t.Fatalf("register device: %d %s", code, body)
	}
	f.devicePassword = cred.Password
	return f
}

// do sends one request; authz is the Authorization header ("" for none).
func (f *accessFixture) do(t *testing.T, method, path, ctype, body, authz string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// sample turns a route's pattern into a request: method, a concrete path,
// and a body of the kind the route reads.
func (f *accessFixture) sample(r Route) (method, path, ctype, body string) {
	method, path, ok := strings.Cut(r.Pattern, " ")
	if !ok {
		method, path = "GET", r.Pattern+"nope" // a subtree: any path under it
	}
	sum := sha256.Sum256([]byte("module"))
	path = strings.NewReplacer("{sha256}", hex.EncodeToString(sum[:]), "{id}", "pi-1", "{action}", "pause",
		"{name}", "orders", "{version}", "v0", "{file...}", "app.css", "{$}", "").Replace(path)
	switch r.body {
	case jsonBody:
		ctype, body = "application/json", "{}"
	case blobBody:
		ctype, body = "application/wasm", "module"
	case formBody:
		ctype, body = "application/x-www-form-urlencoded", "token="+f.read
	}
	return method, path, ctype, body
}

// TestAccessTable: every route the router has, from its own table,
// refuses a missing or wrong token (401; a page sends a browser to the
// sign-in page instead), a read token where it needs admin (403), a
// revoked token and a device's broker password (401), and lets the right
// token through (neither 401 nor 403).
func TestAccessTable(t *testing.T) {
	f := newAccessFixture(t)
	routes := f.h.Routes()
	if len(routes) < 30 {
		t.Fatalf("the router has %d routes; want every API route, the dashboard's and /metrics", len(routes))
	}
	seen := map[string]bool{}
	for _, r := range routes {
		seen[r.Pattern] = true
		method, path, ctype, body := f.sample(r)
		name := r.Pattern
		if r.Role == auth.RolePublic {
			if !publicRoutes[r.Pattern] {
				t.Errorf("%s is public but not in publicRoutes: make it require a role, or list it on purpose", name)
			}
			if code, b := f.do(t, method, path, ctype, body, ""); code == http.StatusUnauthorized || code == http.StatusForbidden {
				t.Errorf("%s without a token: %d %s, want it served", name, code, b)
			}
			continue
		}
		if r.Role != auth.RoleRead && r.Role != auth.RoleAdmin {
			t.Errorf("%s needs role %q: want read or admin", name, r.Role)
		}
		if method == "GET" && r.Role != auth.RoleRead && !adminReads[r.Pattern] {
			t.Errorf("%s: a GET route needs %s; every read must be open to the read role", name, r.Role)
		}
		if method != "GET" && r.Role != auth.RoleAdmin {
			t.Errorf("%s: a change needs the admin role, the table says %s", name, r.Role)
		}
		code, b := f.do(t, method, path, ctype, body, "")
		switch {
		case r.Page:
			if code != http.StatusSeeOther {
				t.Errorf("%s without a token: %d, want 303 to the sign-in page", name, code)
			}
		case code != http.StatusUnauthorized:
			t.Errorf("%s without a token: %d %s, want 401", name, code, b)
		}
		wrong := "Bearer " + f.admin[:len(f.admin)-4] + "AAAA"
		for what, authz := range map[string]string{
			"a wrong token":              wrong,
			"a revoked token":            "Bearer " + f.revoked,
			"a device's broker password": "Bearer " + f.devicePassword,
			"a device's Basic auth":      "Basic " + basic(f.device, f.devicePassword),
		} {
			if code, b := f.do(t, method, path, ctype, body, authz); code != http.StatusUnauthorized {
				t.Errorf("%s with %s: %d %s, want 401", name, what, code, b)
			}
		}
		code, b = f.do(t, method, path, ctype, body, "Bearer "+f.read)
		if r.Role == auth.RoleAdmin && code != http.StatusForbidden {
			t.Errorf("%s with a read token: %d %s, want 403", name, code, b)
		}
		if r.Role == auth.RoleRead && (code == http.StatusUnauthorized || code == http.StatusForbidden) {
			t.Errorf("%s with a read token: %d %s, want it served", name, code, b)
		}
		if code, b := f.do(t, method, path, ctype, body, "Bearer "+f.admin); code == http.StatusUnauthorized || code == http.StatusForbidden {
			t.Errorf("%s with an admin token: %d %s, want it served", name, code, b)
		}
	}
	for p := range publicRoutes {
		if !seen[p] {
			t.Errorf("publicRoutes names %s, which the router does not have", p)
		}
	}
}

func basic(user, pw string) string {
	req, _ := http.NewRequest("GET", "http://x/", nil)
	req.SetBasicAuth(user, pw)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// TestBadAuthorization: malformed Authorization headers are refused with
// 401 and the WWW-Authenticate challenge, without a 500 or a hang: no
// scheme, other schemes, an empty token, two tokens, a huge token (60 KB,
// under the server's header limit), a token with a valid id but a wrong
// secret, a known secret under another id, and two Authorization headers.
func TestBadAuthorization(t *testing.T) {
	f := newAccessFixture(t)
	id, secret, _ := auth.ParseToken(f.admin)
	readID, _, _ := auth.ParseToken(f.read)
	for _, tt := range []struct{ name, authz string }{
		{"token without scheme", f.admin},
		{"Basic with the token", "Basic " + basic("admin", f.admin)},
		{"Bearer alone", "Bearer"},
		{"Bearer and spaces", "Bearer    "},
		{"two tokens", "Bearer " + f.admin + " " + f.read},
		{"huge token", "Bearer " + strings.Repeat("A", 60<<10)},
		{"huge token with the prefix", "Bearer edge_" + strings.Repeat("a", 60<<10)},
		{"token plus one byte", "Bearer " + f.admin + "x"},
		{"token minus one byte", "Bearer " + f.admin[:len(f.admin)-1]},
		{"wrong secret", "Bearer edge_" + id + "_" + strings.Repeat("A", len(secret))},
		{"secret under another id", "Bearer edge_" + readID + "_" + secret},
		{"unknown id", "Bearer edge_000000000000_" + secret},
		{"upper-case id", "Bearer edge_" + strings.ToUpper(id) + "_" + secret},
		{"not base64 secret", "Bearer edge_" + id + "_" + strings.Repeat("*", len(secret))},
	} {
		code, body := f.do(t, "GET", "/api/v1/devices", "", "", tt.authz)
		if code != http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401", tt.name, code, body)
		}
	}
	// Two Authorization headers, one of them right: refused, not guessed.
	if code, body := f.do(t, "GET", "/api/v1/devices", "", "", "Bearer "+f.admin, "Authorization", "Bearer "+f.read); code != http.StatusUnauthorized {
		t.Errorf("two Authorization headers: %d %s, want 401", code, body)
	}
	// The scheme is case-insensitive (RFC 9110).
	if code, body := f.do(t, "GET", "/api/v1/devices", "", "", "bearer "+f.admin); code != http.StatusOK {
		t.Errorf("lower-case scheme: %d %s, want 200", code, body)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/devices", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
		t.Errorf("401 without WWW-Authenticate: Bearer (got %q)", got)
	}
}

// TestHostOriginAndMediaType: the checks besides tokens, with an admin
// token so that only they can refuse.
func TestHostOriginAndMediaType(t *testing.T) {
	f := newAccessFixture(t)
	f.h.hosts["edge.example.net"] = true
	admin := "Bearer " + f.admin
	u, _ := url.Parse(f.srv.URL)
	for _, tt := range []struct {
		name         string
		method, path string
		ctype, body  string
		hdr          []string
		want         int
	}{
		{"Host: a rebound name", "GET", "/api/v1/devices", "", "", []string{"Host", "attacker.example"}, http.StatusMisdirectedRequest},
		{"Host: a rebound name with a port", "GET", "/healthz", "", "", []string{"Host", "attacker.example:" + u.Port()}, http.StatusMisdirectedRequest},
		{"Host: a --public-host name", "GET", "/api/v1/devices", "", "", []string{"Host", "EDGE.example.net."}, http.StatusOK},
		{"Host: localhost", "GET", "/api/v1/devices", "", "", []string{"Host", "localhost:" + u.Port()}, http.StatusOK},
		{"Host: [::1]", "GET", "/api/v1/devices", "", "", []string{"Host", "[::1]:" + u.Port()}, http.StatusOK},
		{"Host: another IP", "GET", "/api/v1/devices", "", "", []string{"Host", "192.0.2.7"}, http.StatusOK},
		{"foreign Origin on a read", "GET", "/api/v1/devices", "", "", []string{"Origin", "https://attacker.example"}, http.StatusForbidden},
		{"foreign Origin on a change", "POST", "/api/v1/devices", "application/json", `{"id":"pi-2"}`, []string{"Origin", "http://attacker.example"}, http.StatusForbidden},
		{"Origin null", "POST", "/api/v1/devices", "application/json", `{"id":"pi-2"}`, []string{"Origin", "null"}, http.StatusForbidden},
		{"same host, other port", "POST", "/api/v1/devices", "application/json", `{"id":"pi-2"}`, []string{"Origin", "http://127.0.0.1:8080"}, http.StatusForbidden},
		{"Sec-Fetch-Site cross-site", "GET", "/api/v1/devices", "", "", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"Sec-Fetch-Site same-site", "GET", "/api/v1/devices", "", "", []string{"Sec-Fetch-Site", "same-site"}, http.StatusForbidden},
		{"own Origin", "POST", "/api/v1/devices", "application/json", `{"id":"pi-2"}`, []string{"Origin", f.srv.URL, "Sec-Fetch-Site", "same-origin"}, http.StatusCreated},
		{"text/plain JSON", "POST", "/api/v1/devices", "text/plain", `{"id":"pi-3"}`, nil, http.StatusUnsupportedMediaType},
		{"form-encoded JSON", "POST", "/api/v1/labels", "application/x-www-form-urlencoded", `{}`, nil, http.StatusNotFound},
		{"no Content-Type", "POST", "/api/v1/devices", "", `{"id":"pi-3"}`, nil, http.StatusUnsupportedMediaType},
		{"malformed Content-Type", "POST", "/api/v1/devices", "application/json; charset", `{"id":"pi-3"}`, nil, http.StatusUnsupportedMediaType},
		{"JSON with charset", "POST", "/api/v1/devices", "application/json; charset=utf-8", `{"id":"pi-3"}`, nil, http.StatusCreated},
	} {
		code, body := f.do(t, tt.method, tt.path, tt.ctype, tt.body, admin, tt.hdr...)
		if code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, code, body, tt.want)
		}
	}
}

// FuzzAuthorization: any Authorization header value either yields a token
// that passes auth.ParseToken's form, or the 401 error; never a panic.
func FuzzAuthorization(f *testing.F) {
	for _, s := range []string{"Bearer edge_0123456789ab_" + strings.Repeat("A", 43), "Bearer", "Basic dXNlcjpwdw==", "bearer  x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tok, err := bearer(v)
		if err != nil {
			if !errors.Is(err, errBadCredentials) {
				t.Fatalf("bearer(%q): %v, want errBadCredentials", v, err)
			}
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t") {
			t.Fatalf("bearer(%q) = %q", v, tok)
		}
	})
}
