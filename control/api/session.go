package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/edgeplane/edge/control/auth"
	"github.com/edgeplane/edge/control/dashboard"
	"github.com/edgeplane/edge/control/store"
)

// The dashboard signs in with an operator token (a read token is enough):
// POST /login checks it and sets a session cookie, which the pages' API
// calls carry (credentials: "same-origin"). The cookie is HttpOnly (no
// script reads it), SameSite=Strict (no other site's page makes the
// browser send it), Secure when the controller serves TLS, and lives
// Options.SessionTTL. The controller keeps SHA-256 of each session id, the
// token it was opened with and its end, in its database (store.Session:
// replicas share them, at most store.MaxSessions): sign-out ends the
// session on the server, and revoking the token ends its sessions (each
// request looks the token up again).

const sessionCookie = "edge_session"

// DefaultSessionTTL is how long a dashboard session lasts.
const DefaultSessionTTL = 12 * time.Hour

// openSession stores a new session of tokenID and returns the cookie's
// value.
func (h *Handler) openSession(ctx context.Context, tokenID string) (string, error) {
	id, hash := auth.SessionID()
	now := h.now()
	if err := h.store.OpenSession(ctx, hash[:], tokenID, now, now.Add(h.opts.SessionTTL)); err != nil {
		return "", err
	}
	return id, nil
}

func sessionHash(id string) []byte {
	sum := sha256.Sum256([]byte(id))
	return sum[:]
}

// checkSession verifies a session cookie's value and the token behind it.
func (h *Handler) checkSession(ctx context.Context, id string) (principal, error) {
	tokenID, _, err := h.store.Session(ctx, sessionHash(id), h.now())
	if errors.Is(err, store.ErrNotFound) {
		return principal{}, fmt.Errorf("%w: session expired or ended; sign in again at %s", errBadCredentials, dashboard.LoginPath)
	}
	if err != nil {
		return principal{}, err
	}
	t, err := h.store.TokenByID(ctx, tokenID)
	if err != nil || !t.Revoked.IsZero() {
		h.store.EndSession(ctx, sessionHash(id))
		return principal{}, fmt.Errorf("%w: the session's token was revoked; sign in again at %s", errBadCredentials, dashboard.LoginPath)
	}
	role, err := auth.ParseRole(t.Role)
	if err != nil {
		return principal{}, fmt.Errorf("token %s: %w", t.ID, err)
	}
	return principal{tokenID: t.ID, name: t.Name, role: role, session: true}, nil
}

// safeNext keeps a post-sign-in destination on this controller: a path,
// never another host ("//evil", "/\evil", "https://...").
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n\\") {
		return "/"
	}
	return next
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	h.dash.Login(w, r, http.StatusOK, safeNext(r.URL.Query().Get("next")), "")
}

// login checks the form's token and opens a session.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		h.dash.Login(w, r, http.StatusBadRequest, "/", "The sign-in form could not be read.")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	p, err := h.checkToken(r.Context(), strings.TrimSpace(r.PostForm.Get("token")))
	if err != nil {
		if !errors.Is(err, errBadCredentials) {
			h.serverError(w, r, err)
			return
		}
		h.log.Warn("dashboard sign-in refused", "remote", r.RemoteAddr, "err", err)
		h.dash.Login(w, r, http.StatusUnauthorized, next, "That token was not accepted: it is malformed, unknown or revoked.")
		return
	}
	id, err := h.openSession(r.Context(), p.tokenID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/", MaxAge: int(h.opts.SessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	h.log.Info("dashboard sign-in", "token", p.tokenID, "name", p.name, "role", p.role, "remote", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session and clears the cookie.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := h.store.EndSession(r.Context(), sessionHash(c.Value)); err != nil {
			h.serverError(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, dashboard.LoginPath, http.StatusSeeOther)
}
