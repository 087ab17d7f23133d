package api

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/edgeplane/edge/control/auth"
	"github.com/edgeplane/edge/control/dashboard"
	"github.com/edgeplane/edge/control/store"
)

// Access control, in the order a request meets it:
//
//	Host      an IP literal, localhost, or a name in Options.Hosts   else 421
//	Origin    absent, or this controller's own (and Sec-Fetch-Site   else 403
//	          same-origin or none, but for a top-level navigation)
//	token     Authorization: Bearer TOKEN, or the dashboard's        else 401
//	          session cookie; the route's role (routes.go)           else 403
//	body      application/json on routes that read JSON              else 415
//
// A name in Host is checked because of DNS rebinding: a web page at
// attacker.example can make its own name resolve to the controller's
// address, and its scripts then reach the controller with Host:
// attacker.example. An IP literal cannot be rebound, so any is accepted.
// The token is checked before the body is read: an unauthenticated upload
// is refused before a byte of it is stored.

// Errors of access control; answer maps them to statuses.
var (
	errNoCredentials  = errors.New("authentication required: send Authorization: Bearer TOKEN, or sign in at " + dashboard.LoginPath)
	errBadCredentials = errors.New("credentials not accepted")
	errForbidden      = errors.New("forbidden")
	errForeignOrigin  = errors.New("cross-origin request refused")
	errMisdirected    = errors.New("unknown Host")
	errMediaType      = errors.New("unsupported Content-Type")
	errNoEndpoint     = errors.New("no such API endpoint")
	errInvalid        = errors.New("invalid request")
)

// principal is who a request comes from.
type principal struct {
	tokenID, name string
	role          auth.Role
	session       bool // signed in with the dashboard's cookie
}

type principalKey struct{}

// caller returns the request's principal (zero on public routes).
func caller(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}

// ServeHTTP checks Host and Origin, then hands the request to its route.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.checkHost(r.Host); err != nil {
		h.answer(w, r, 0, nil, err)
		return
	}
	if err := checkOrigin(r); err != nil {
		h.answer(w, r, 0, nil, err)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// handle registers rt behind its access check: the only way a route is
// added (routes.go).
func (h *Handler) handle(rt route) {
	h.table = append(h.table, rt)
	h.mux.HandleFunc(rt.Pattern, func(w http.ResponseWriter, r *http.Request) {
		if rt.Role != auth.RolePublic {
			p, err := h.authenticate(r)
			if err == nil && !p.role.Allows(rt.Role) {
				err = fmt.Errorf("%w: this needs a token with the %s role; %q has %s", errForbidden, rt.Role, p.name, p.role)
			}
			if err != nil {
				h.refuse(w, r, rt.Route, err)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				h.log.Info("operator request", "method", r.Method, "path", r.URL.Path, "token", p.tokenID, "name", p.name)
			}
		}
		if err := checkBody(r, rt.body); err != nil {
			h.answer(w, r, 0, nil, err)
			return
		}
		rt.h(w, r)
	})
}

// refuse answers a request that failed authentication: a browser asking
// for a page without a valid session is sent to the sign-in page, anyone
// else gets the status.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, rt Route, err error) {
	if rt.Page && r.Header.Get("Authorization") == "" && !errors.Is(err, errForbidden) {
		http.Redirect(w, r, dashboard.LoginPath+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	h.answer(w, r, 0, nil, err)
}

// authenticate finds the request's principal from its bearer token or,
// without an Authorization header, its session cookie.
func (h *Handler) authenticate(r *http.Request) (principal, error) {
	hdrs := r.Header.Values("Authorization")
	switch {
	case len(hdrs) > 1:
		return principal{}, fmt.Errorf("%w: more than one Authorization header", errBadCredentials)
	case len(hdrs) == 1:
		token, err := bearer(hdrs[0])
		if err != nil {
			return principal{}, err
		}
		return h.checkToken(r.Context(), token)
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return principal{}, errNoCredentials
	}
	return h.checkSession(r.Context(), c.Value)
}

// bearer takes the token out of an Authorization header value.
func bearer(v string) (string, error) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: Authorization header is not \"Bearer TOKEN\"", errBadCredentials)
	}
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", fmt.Errorf("%w: Authorization header is not \"Bearer TOKEN\"", errBadCredentials)
	}
	return token, nil
}

// checkToken verifies an operator token: well formed, known, not revoked,
// its secret's hash equal to the stored one (in constant time).
func (h *Handler) checkToken(ctx context.Context, token string) (principal, error) {
	id, secret, err := auth.ParseToken(token)
	if err != nil {
		return principal{}, fmt.Errorf("%w: token malformed", errBadCredentials)
	}
	t, err := h.store.TokenByID(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		auth.CheckSecret(nil, secret) // the same work as for a known id
		return principal{}, fmt.Errorf("%w: token unknown or revoked", errBadCredentials)
	case err != nil:
		return principal{}, err
	}
	if !auth.CheckSecret(t.Hash, secret) || !t.Revoked.IsZero() {
		return principal{}, fmt.Errorf("%w: token unknown or revoked", errBadCredentials)
	}
	role, err := auth.ParseRole(t.Role)
	if err != nil {
		return principal{}, fmt.Errorf("token %s: %w", t.ID, err)
	}
	return principal{tokenID: t.ID, name: t.Name, role: role}, nil
}

// checkHost accepts an IP literal, localhost and the names in
// Options.Hosts; the port is not checked (a proxy may change it).
func (h *Handler) checkHost(hostport string) error {
	host := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		host = hh
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" {
		return fmt.Errorf("%w: the request names no Host", errMisdirected)
	}
	if net.ParseIP(host) != nil || host == "localhost" || h.hosts[host] {
		return nil
	}
	return fmt.Errorf("%w %q: this controller answers to IP addresses, localhost and its --public-host names", errMisdirected, host)
}

// checkOrigin refuses a request a browser sends on behalf of another
// site: an Origin header other than the request's own host, or a
// Sec-Fetch-Site other than same-origin or none (a user's own navigation),
// except for a top-level navigation (a link to the dashboard from
// elsewhere, which carries no SameSite=Strict cookie).
func checkOrigin(r *http.Request) error {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
			return fmt.Errorf("%w: Origin %q is not this controller", errForeignOrigin, o)
		}
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		navigation := (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.Header.Get("Sec-Fetch-Mode") == "navigate"
		if !navigation {
			return fmt.Errorf("%w: Sec-Fetch-Site %s", errForeignOrigin, site)
		}
	}
	return nil
}

// checkBody refuses a body of the wrong media type before it is read.
func checkBody(r *http.Request, b body) error {
	var want string
	switch b {
	case jsonBody:
		want = "application/json"
	case formBody:
		want = "application/x-www-form-urlencoded"
	default:
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != want {
		return fmt.Errorf("%w %q: want %s", errMediaType, ct, want)
	}
	return nil
}
