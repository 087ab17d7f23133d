package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/control/auth"
	"github.com/edgeplane/edge/control/fleet"
	"github.com/edgeplane/edge/wire"
)

// bodyRoutes are the routes of the access table that read a request body
// (POST, PUT or PATCH with a JSON, blob or form body), in pattern order:
// FuzzAPIBodies picks one by index. The routes that change state without
// a body (cancel, rotate, revoke, rollout actions, sign-out) read none of
// it and are left out.
func bodyRoutes(h *Handler) []Route {
	var rs []Route
	for _, r := range h.Routes() {
		method, _, _ := strings.Cut(r.Pattern, " ")
		if r.body != noBody && (method == "POST" || method == "PUT" || method == "PATCH") {
			rs = append(rs, r)
		}
	}
	slices.SortFunc(rs, func(a, b Route) int { return strings.Compare(a.Pattern, b.Pattern) })
	return rs
}

// apiFuzz is the API FuzzAPIBodies drives: a store with an admin token, a
// registered device (pi-1) and a stored module, a fleet that trusts one
// key, and a valid body for every body route.
type apiFuzz struct {
	h      *Handler
	admin  string
	routes []Route
	seeds  map[string][]apiSeed // by pattern
}

type apiSeed struct {
	ctype string
	body  []byte
}

// fuzzBlobPath is the digest PUT /blobs/{sha256} is sent to: no seed's
// and no plausible input's, so every upload is read and hashed (a known
// digest answers without reading the body).
var fuzzBlobPath = strings.Repeat("0f", 32)

func newAPIFuzz(tb testing.TB) *apiFuzz {
	tb.Helper()
	ctx := context.Background()
	st := openStore(tb)
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	log := slog.New(slog.DiscardHandler)
	fl := fleet.New(fleet.Config{Store: st, Logger: log, Trust: wire.NewKeyring(key.Public().(ed25519.PublicKey))})
	h := New(st, fl, log, Options{})
	tc, err := IssueToken(ctx, st, "fuzz", auth.RoleAdmin, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.AddCredential(ctx, "pi-1", auth.HashPassword("pw"), time.Now()); err != nil {
		tb.Fatal(err)
	}
	module := []byte("\x00asm\x01\x00\x00\x00")
	sum := sha256.Sum256(module)
	sha := hex.EncodeToString(sum[:])
	if _, _, err := st.PutBlobFrom(ctx, sha, bytes.NewReader(module), time.Now()); err != nil {
		tb.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	sign := func(name string) wire.Envelope {
		env, err := wire.Sign(&wire.Manifest{
			Schema: wire.ManifestSchema, Name: name, Version: "1.0.0", SHA256: sha, Size: int64(len(module)),
			Created: now.Add(-time.Hour), Expires: now.Add(30 * 24 * time.Hour),
			Targets: wire.Targets{Nodes: []string{"pi-1"}}, Port: 8080,
		}, key)
		if err != nil {
			tb.Fatal(err)
		}
		return *env
	}
	// A rollout of a module the device runs needs rollback statements:
	// the rollout's seed is another module than the deployment's.
	env, first := sign("orders"), sign("telemetry")
	js := func(v any) apiSeed {
		b, err := json.Marshal(v)
		if err != nil {
			tb.Fatal(err)
		}
		return apiSeed{"application/json", b}
	}
	p := wire.APIPrefix
	f := &apiFuzz{h: h, admin: tc.Secret, routes: bodyRoutes(h), seeds: map[string][]apiSeed{
		"PUT " + p + "/blobs/{sha256}": {{"application/wasm", module}, {"application/octet-stream", nil}},
		"POST " + p + "/blobs/{sha256}/pull": {js(wire.BlobPullRequest{
			Source: "oci://registry.example/edge/orders@sha256:" + strings.Repeat("ab", 32), Size: 1234})},
		"POST " + p + "/plan": {
			js(wire.PlanRequest{Module: "orders", Targets: wire.Targets{Nodes: []string{"pi-1"}}}),
			js(wire.PlanRequest{Module: "orders", Targets: wire.Targets{Labels: map[string]string{"site": "a"}}, Rollback: true}),
		},
		"POST " + p + "/undeploy":    {js(wire.PlanRequest{Module: "orders", Targets: wire.Targets{Nodes: []string{"pi-1"}}})},
		"POST " + p + "/deployments": {js(wire.DeployRequest{Envelope: env}), js(wire.DeployRequest{Envelope: env, AllowUnregistered: true, StopUnknown: true})},
		"POST " + p + "/rollouts": {js(wire.RolloutRequest{Envelope: first, Waves: []string{"1", "50%", "100%"},
			Gate: wire.Gate{SoakMillis: 1000, MaxErrorRate: 0.01, MaxP99Ratio: 1.5}, StopUnknown: true})},
		"POST " + p + "/devices":                       {js(wire.DeviceCredentialsRequest{ID: "pi-2"})},
		"POST " + p + "/devices/{id}/labels":           {js(wire.LabelRequest{Set: map[string]string{"site": "berlin"}, Remove: []string{"old"}})},
		"POST " + p + "/devices/{id}/quarantine/clear": {js(wire.QuarantineClearRequest{Module: "orders"})},
		"POST " + p + "/tokens":                        {js(wire.TokenRequest{Name: "ci", Role: string(auth.RoleRead)})},
		"POST /login":                                  {{"application/x-www-form-urlencoded", []byte("token=" + tc.Secret + "&next=%2Fdevices%2Fpi-1")}},
	}}
	for _, r := range f.routes {
		if len(f.seeds[r.Pattern]) == 0 {
			tb.Fatalf("%s reads a body but FuzzAPIBodies has no valid body for it: add one", r.Pattern)
		}
	}
	return f
}

// allowed5xx are the server errors a body route documents for a request:
// a pull when the controller has no registry (501). Any other 5xx,
// above all a 500, is a fault: the controller's, not the request's.
var allowed5xx = map[string]int{"POST " + wire.APIPrefix + "/blobs/{sha256}/pull": http.StatusNotImplemented}

// do sends one admin-authorised request to route r and checks the answer.
func (f *apiFuzz) do(t *testing.T, r Route, ctype string, body []byte) {
	method, path, _ := strings.Cut(r.Pattern, " ")
	path = strings.NewReplacer("{sha256}", fuzzBlobPath, "{id}", "pi-1").Replace(path)
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Host = "127.0.0.1"
	req.Header.Set("Authorization", "Bearer "+f.admin)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	code, got := w.Code, w.Body.Bytes()
	if code >= 500 && allowed5xx[r.Pattern] != code {
		t.Fatalf("%s (%q, %q): %d %s", r.Pattern, ctype, body, code, got)
	}
	if r.body == formBody && code != http.StatusUnsupportedMediaType { // the sign-in form answers the sign-in page or a redirect
		if code != http.StatusSeeOther && code != http.StatusBadRequest && code != http.StatusUnauthorized {
			t.Fatalf("%s (%q, %q): %d, want 303, 400 or 401", r.Pattern, ctype, body, code)
		}
		return
	}
	if mt, _, err := mime.ParseMediaType(w.Header().Get("Content-Type")); err != nil || mt != "application/json" {
		t.Fatalf("%s (%q, %q): %d with Content-Type %q, want application/json", r.Pattern, ctype, body, code, w.Header().Get("Content-Type"))
	}
	if code < 400 {
		if !json.Valid(got) {
			t.Fatalf("%s (%q, %q): %d, answer not JSON: %q", r.Pattern, ctype, body, code, got)
		}
		return
	}
	var e wire.APIError
	if err := wire.Decode(got, &e); err != nil || e.Error == "" {
		t.Fatalf("%s (%q, %q): %d %q, want the error shape {\"error\": ...} (%v)", r.Pattern, ctype, body, code, got, err)
	}
}

// FuzzAPIBodies sends arbitrary bodies with arbitrary content types to
// every route of the controller's HTTP API that reads a body, as an
// admin (the token is checked, so the handlers themselves are reached):
// nothing panics, no 5xx but the ones a route documents, and every error
// is the API's JSON error shape. The seeds are a valid body of each route.
func FuzzAPIBodies(f *testing.F) {
	fz := newAPIFuzz(f)
	for i, r := range fz.routes {
		for _, s := range fz.seeds[r.Pattern] {
			f.Add(uint8(i), s.ctype, s.body)
		}
		f.Add(uint8(i), "application/json", []byte(`{}`))
	}
	devices := slices.IndexFunc(fz.routes, func(r Route) bool { return r.Pattern == "POST "+wire.APIPrefix+"/devices" })
	f.Add(uint8(devices), "application/json; charset=utf-8", []byte(`{"id":"pi-3","id":"pi-4"}`))
	f.Fuzz(func(t *testing.T, route uint8, ctype string, body []byte) {
		r := fz.routes[int(route)%len(fz.routes)]
		fz.do(t, r, ctype, body)
	})
}
