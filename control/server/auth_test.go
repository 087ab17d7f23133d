package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/tests/harness"
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
	if err := s.AdminTokenAnnounced(); err != nil { // as Main does once it said where
		t.Fatal(err)
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

// TestMainPrintsAdminTokenOnce: edge-control's first start says where the
// admin token is, after the ready line (scripts read the first line);
// the token itself goes to a terminal only (here stdout is a buffer, as
// under systemd, where stdout is the journal), and never to the log; a
// second start says nothing of it.
func TestMainPrintsAdminTokenOnce(t *testing.T) {
	dir := t.TempDir()
	_, out, logs := runMain(t, dir, "127.0.0.1:0")
	token, err := ReadAdminToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "edge-control: http on ") ||
		!strings.Contains(lines[1], "admin token written to "+filepath.Join(dir, AdminTokenFile)) {
		t.Errorf("first start printed:\n%s\nwant the ready line, then where the admin token is", out)
	}
	if strings.Contains(out, token) || strings.Contains(logs, token) {
		t.Error("the admin token went to stdout that is no terminal, or to the log")
	}
	if _, out, _ := runMain(t, dir, "127.0.0.1:0"); strings.Contains(out, "admin token") || strings.Contains(out, token) {
		t.Errorf("second start printed a token:\n%s", out)
	}
}

// TestAdminTokenAnnouncedAfterFailedStart: a first start that fails after
// creating the admin token (its HTTP port is taken) leaves the token in
// DATA/admin.token; the next start that comes up says where it is, once.
// It used to say nothing: the token existed, so no start counted as the
// first.
func TestAdminTokenAnnouncedAfterFailedStart(t *testing.T) {
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if code, out, _ := runMain(t, dir, busy.Addr().String()); code != 1 || strings.Contains(out, "admin token") {
		t.Fatalf("start on a busy port: exit %d, stdout %q; want 1 and no announcement", code, out)
	}
	if _, err := ReadAdminToken(dir); err != nil {
		t.Fatalf("the failed first start wrote no admin token: %v", err)
	}
	want := "admin token written to " + filepath.Join(dir, AdminTokenFile)
	if _, out, _ := runMain(t, dir, "127.0.0.1:0"); !strings.Contains(out, want) {
		t.Errorf("start after the failed one: stdout %q, want %q", out, want)
	}
	if _, out, _ := runMain(t, dir, "127.0.0.1:0"); strings.Contains(out, "admin token") {
		t.Errorf("third start: stdout %q, want the token announced once only", out)
	}
}

// runMain runs Main on data folder dir with its API on httpAddr until the
// ready line and what follows it (then stops it, exit 0 wanted), or until
// it fails to start; it returns the exit code, stdout and stderr.
func runMain(t *testing.T, dir, httpAddr string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut harness.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"--data", dir, "--http", httpAddr, "--mqtt", "127.0.0.1:0"}, &out, &errOut)
	}()
	var code int
	exited := false
	eventually(t, "the ready line or an exit", func() bool {
		select {
		case code = <-done:
			exited = true
		default:
		}
		return exited || strings.Contains(out.String(), "edge-control: http on ")
	})
	if exited {
		return code, out.String(), errOut.String()
	}
	time.Sleep(100 * time.Millisecond) // anything printed after it
	cancel()
	if code = <-done; code != 0 {
		t.Fatalf("edge-control exited %d:\n%s", code, errOut.String())
	}
	return code, out.String(), errOut.String()
}

// TestSessionCookieSecureOverTLS: signed in over HTTPS, the session
// cookie is Secure (and HttpOnly, SameSite=Strict) and opens the API.
func TestSessionCookieSecureOverTLS(t *testing.T) {
	ca := harness.NewCA(t, "test CA")
	s := tlsServer(t, ca, nil)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = clientTLS(t, ca.File, "", "")
	hc := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"token": {adminToken(t, s)}, "next": {"/"}}.Encode()
	req, _ := http.NewRequest("POST", s.URL()+"/login", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.URL())
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var c *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == "edge_session" {
			c = k
		}
	}
	if resp.StatusCode != http.StatusSeeOther || c == nil || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("sign-in over HTTPS: %d, cookie %+v; want 303 and a Secure, HttpOnly, SameSite=Strict cookie", resp.StatusCode, c)
	}
	req, _ = http.NewRequest("GET", s.URL()+"/api/v1/devices", nil)
	req.AddCookie(c)
	if resp, err = hc.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/devices with the session: %v %v", resp.Status, err)
	}
	resp.Body.Close()
}
