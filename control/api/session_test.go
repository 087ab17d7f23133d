package api

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/control/auth"
)

// login posts the sign-in form and returns the answer (not followed).
func (f *accessFixture) login(t *testing.T, token, next string, hdr ...string) *http.Response {
	t.Helper()
	form := url.Values{"token": {token}, "next": {next}}.Encode()
	req, _ := http.NewRequest("POST", f.srv.URL+"/login", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func sessionOf(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	t.Fatalf("sign-in answered %d without a session cookie (Set-Cookie %q)", resp.StatusCode, resp.Header.Values("Set-Cookie"))
	return nil
}

// withCookie makes a GET with the session cookie.
func (f *accessFixture) withCookie(t *testing.T, path string, c *http.Cookie) int {
	t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSession: a read token signs in to the dashboard; the cookie is
// HttpOnly, SameSite=Strict, not Secure over plain HTTP, bounded; it opens
// the pages and the API's reads but no change; the bad input tried by
// hand: a wrong token, a revoked one, a foreign Origin on the form, an
// off-site next, a forged cookie, an expired session, a session whose
// token was revoked, a session after sign-out.
func TestSession(t *testing.T) {
	f := newAccessFixture(t)
	resp := f.login(t, f.read, "/devices/pi-1")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/devices/pi-1" {
		t.Fatalf("sign-in: %d to %q, want 303 to /devices/pi-1", resp.StatusCode, resp.Header.Get("Location"))
	}
	c := sessionOf(t, resp)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != "/" {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, not Secure over plain HTTP", c)
	}
	if c.MaxAge <= 0 || time.Duration(c.MaxAge)*time.Second > DefaultSessionTTL {
		t.Errorf("cookie Max-Age %d s, want within (0, %s]", c.MaxAge, DefaultSessionTTL)
	}
	for path, want := range map[string]int{"/": 200, "/devices/pi-1": 200, "/api/v1/devices": 200, "/metrics": 200, "/api/v1/tokens": 403} {
		if got := f.withCookie(t, path, c); got != want {
			t.Errorf("GET %s with a read session: %d, want %d", path, got, want)
		}
	}
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/devices", strings.NewReader(`{"id":"pi-9"}`))
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(c)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST /api/v1/devices with a read session: %v %v, want 403", resp.Status, err)
	}

	// Refused sign-ins set no cookie.
	for _, tt := range []struct {
		name, token string
		hdr         []string
		want        int
	}{
		{"wrong token", f.admin[:len(f.admin)-3] + "AAA", nil, http.StatusUnauthorized},
		{"revoked token", f.revoked, nil, http.StatusUnauthorized},
		{"empty token", "", nil, http.StatusUnauthorized},
		{"device password", f.devicePassword, nil, http.StatusUnauthorized},
		{"foreign Origin (login CSRF)", f.read, []string{"Origin", "https://attacker.example"}, http.StatusForbidden},
		{"cross-site form", f.read, []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate"}, http.StatusForbidden},
	} {
		resp := f.login(t, tt.token, "/", tt.hdr...)
		if resp.StatusCode != tt.want || len(resp.Cookies()) != 0 {
			t.Errorf("sign-in with %s: %d, cookies %v; want %d and none", tt.name, resp.StatusCode, resp.Cookies(), tt.want)
		}
	}
	// next stays on this controller.
	for _, next := range []string{"//attacker.example/", "https://attacker.example/", "/\\attacker.example", "javascript:alert(1)", ""} {
		if got := f.login(t, f.read, next).Header.Get("Location"); got != "/" {
			t.Errorf("sign-in with next %q goes to %q, want /", next, got)
		}
	}
	// A cookie the controller did not issue.
	if got := f.withCookie(t, "/api/v1/devices", &http.Cookie{Name: sessionCookie, Value: strings.Repeat("A", 43)}); got != http.StatusUnauthorized {
		t.Errorf("forged session cookie: %d, want 401", got)
	}
	if got := f.withCookie(t, "/", &http.Cookie{Name: sessionCookie, Value: "x"}); got != http.StatusSeeOther {
		t.Errorf("page with a forged session cookie: %d, want 303 to the sign-in page", got)
	}

	// Sign-out ends the session on the server, not only in the browser.
	req, _ = http.NewRequest("POST", f.srv.URL+"/logout", nil)
	req.AddCookie(c)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if out := sessionOf(t, resp); out.MaxAge >= 0 || resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-out: %d, cookie %+v; want 303 and the cookie cleared", resp.StatusCode, out)
	}
	if got := f.withCookie(t, "/api/v1/devices", c); got != http.StatusUnauthorized {
		t.Errorf("the session after sign-out: %d, want 401", got)
	}
}

// TestSessionEnds: a session ends at its lifetime, and when its token is
// revoked.
func TestSessionEnds(t *testing.T) {
	f := newAccessFixture(t)
	now := time.Now()
	f.h.now = func() time.Time { return now }
	c := sessionOf(t, f.login(t, f.admin, "/"))
	if got := f.withCookie(t, "/api/v1/devices", c); got != http.StatusOK {
		t.Fatalf("fresh session: %d", got)
	}
	now = now.Add(DefaultSessionTTL + time.Second) // the browser would keep an expired cookie no longer; a client may
	if got := f.withCookie(t, "/api/v1/devices", c); got != http.StatusUnauthorized {
		t.Errorf("expired session: %d, want 401", got)
	}
	if got := f.withCookie(t, "/devices/pi-1", c); got != http.StatusSeeOther {
		t.Errorf("page with an expired session: %d, want 303 to the sign-in page", got)
	}

	// A second admin signs in; its token is revoked: the session ends.
	other := issue(t, f.h, "alice", auth.RoleAdmin)
	c = sessionOf(t, f.login(t, other, "/"))
	if got := f.withCookie(t, "/api/v1/devices", c); got != http.StatusOK {
		t.Fatalf("alice's session: %d", got)
	}
	id, _, _ := auth.ParseToken(other)
	if _, err := f.h.store.RevokeToken(context.Background(), id, now); err != nil {
		t.Fatal(err)
	}
	if got := f.withCookie(t, "/api/v1/devices", c); got != http.StatusUnauthorized {
		t.Errorf("session of a revoked token: %d, want 401", got)
	}
}
