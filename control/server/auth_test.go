package server

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/wire"
)

// rawRequest sends a request with exactly the headers given (no token
// unless given) and returns status and body.
func rawRequest(t *testing.T, s *Server, method, path, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.HTTPAddr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestIssueAttacks replays the attacks of the issue that asked for
// authentication, against a controller with a registered device:
//
//   - what any web page in the operator's browser can send: a POST of
//     text/plain with a foreign Origin to /api/v1/devices, which rotated
//     the device's password (locking the agent out) and handed the caller
//     a credential to read its desired state;
//   - the same from a program (no Origin, JSON), with no token;
//   - DNS rebinding: a request with Host: attacker.example;
//   - an unauthenticated blob upload, which filled the disk.
//
// Each must be refused, and the device must still connect with its
// original password.
func TestIssueAttacks(t *testing.T) {
	s := startServer(t, nil)
	id := uniqueID("attacked")
	var cred wire.DeviceCredentials
	wantCode(t, "register", call(t, s, "POST", "/api/v1/devices", wire.DeviceCredentialsRequest{ID: id}, &cred), http.StatusCreated)

	body := `{"id":"` + id + `"}`
	for _, tt := range []struct {
		name   string
		method string
		path   string
		body   string
		hdr    map[string]string
		want   int
	}{
		{"browser: text/plain, foreign Origin", "POST", "/api/v1/devices", body,
			map[string]string{"Content-Type": "text/plain", "Origin": "https://attacker.example"}, http.StatusForbidden},
		{"browser: text/plain, cross-site fetch metadata", "POST", "/api/v1/devices", body,
			map[string]string{"Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}, http.StatusForbidden},
		{"program: JSON, no token", "POST", "/api/v1/devices", body,
			map[string]string{"Content-Type": "application/json"}, http.StatusUnauthorized},
		{"DNS rebinding: read", "GET", "/api/v1/devices/" + id, "",
			map[string]string{"Host": "attacker.example"}, http.StatusMisdirectedRequest},
		{"DNS rebinding: rotate", "POST", "/api/v1/devices", body,
			map[string]string{"Host": "attacker.example:7080", "Content-Type": "text/plain"}, http.StatusMisdirectedRequest},
		{"DNS rebinding: the dashboard", "GET", "/", "", map[string]string{"Host": "attacker.example"}, http.StatusMisdirectedRequest},
		{"admin token, but text/plain", "POST", "/api/v1/devices", body,
			map[string]string{"Content-Type": "text/plain", "Authorization": "Bearer " + adminToken(t, s)}, http.StatusUnsupportedMediaType},
	} {
		code, answer := rawRequest(t, s, tt.method, tt.path, tt.body, tt.hdr)
		if code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, code, answer, tt.want)
		}
		if strings.Contains(answer, `"password"`) {
			t.Errorf("%s: the answer holds a password: %s", tt.name, answer)
		}
	}

	// The agent's password still works: nothing rotated it.
	c := paho.NewClient(dialOpts("tcp://"+s.MQTTAddr(), id, cred.Password, id))
	if tok := c.Connect(); !tok.WaitTimeout(5e9) || tok.Error() != nil {
		t.Fatalf("device %s cannot connect with its password after the attacks: %v", id, tok.Error())
	}
	c.Disconnect(100)

	// An unauthenticated upload of 8 MiB: refused before a byte is stored.
	blob := moduleBytes(8 << 20)
	code, answer := rawRequest(t, s, "PUT", "/api/v1/blobs/"+digest(blob), string(blob), map[string]string{"Content-Type": "application/wasm"})
	if code != http.StatusUnauthorized {
		t.Errorf("unauthenticated upload: %d %s, want 401", code, answer)
	}
	if u := s.store.BlobUsage(); u.Stored != 0 || u.Uploading != 0 {
		t.Errorf("after an unauthenticated upload the store holds %+v, want nothing", u)
	}
	if files := blobFiles(t, s); len(files) != 0 {
		t.Errorf("after an unauthenticated upload the blob folder holds %v", files)
	}
}

// TestAdminTokenBootstrap: the first start writes one admin token to
// DATA/admin.token with mode 0600 and says so once; a restart creates
// none; --new-admin-token adds one (for a lost token) and the old stays
// valid.
func TestAdminTokenBootstrap(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, func(c *Config) { c.DataDir = dir })
	first := s.NewAdminToken()
	if first == "" {
		t.Fatal("first start created no admin token")
	}
	fi, err := os.Stat(filepath.Join(dir, AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %v, want 0600", AdminTokenFile, fi.Mode().Perm())
	}
	if got := adminToken(t, s); got != first {
		t.Errorf("file holds %q, start reported %q", got, first)
	}
	s.Close()

	s = startServer(t, func(c *Config) { c.DataDir = dir })
	if got := s.NewAdminToken(); got != "" {
		t.Errorf("restart created admin token %q, want none", got)
	}
	s.Close()

	s = startServer(t, func(c *Config) { c.DataDir = dir; c.NewAdminToken = true })
	second := s.NewAdminToken()
	if second == "" || second == first || adminToken(t, s) != second {
		t.Fatalf("--new-admin-token: created %q (first %q), file %q", second, first, adminToken(t, s))
	}
	for _, tok := range []string{first, second} {
		code, body := rawRequest(t, s, "GET", "/api/v1/tokens", "", map[string]string{"Authorization": "Bearer " + tok})
		if code != http.StatusOK || strings.Count(body, `"role": "admin"`) != 2 {
			t.Errorf("GET /api/v1/tokens with %.12s…: %d %s, want 200 and two admin tokens", tok, code, body)
		}
	}
}
