package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/edgeplane/edge/control/auth"
	"github.com/edgeplane/edge/control/dashboard"
)

// The dashboard signs in with an operator token (a read token is enough):
// POST /login checks it and sets a session cookie, which the pages' API
// calls carry (credentials: "same-origin"). The cookie is HttpOnly (no
// script reads it), SameSite=Strict (no other site's page makes the
// browser send it), Secure when the controller serves TLS, and lives
// Options.SessionTTL. The controller keeps SHA-256 of each session id, the
// token it was opened with and its end, in memory: a restart signs
// everyone out, sign-out ends the session on the server, and revoking the
// token ends its sessions (each request looks the token up again).

const sessionCookie = "edge_session"

// maxSessions bounds the sessions kept; beyond it the oldest ends.
const maxSessions = 1024

// DefaultSessionTTL is how long a dashboard session lasts.
const DefaultSessionTTL = 12 * time.Hour

type session struct {
	tokenID string
	expires time.Time
}

type sessions struct {
	mu sync.Mutex
	m  map[[32]byte]session
}

func (s *sessions) open(tokenID string, now, expires time.Time) string {
	id, hash := auth.SessionID()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[[32]byte]session{}
	}
	if len(s.m) >= maxSessions {
		var oldest [32]byte
		var first time.Time
		for k, v := range s.m {
			if !v.expires.After(now) {
				delete(s.m, k)
				continue
			}
			if first.IsZero() || v.expires.Before(first) {
				oldest, first = k, v.expires
			}
		}
		if len(s.m) >= maxSessions {
			delete(s.m, oldest)
		}
	}
	s.m[hash] = session{tokenID: tokenID, expires: expires}
	return id
}

func (s *sessions) get(id string, now time.Time) (session, bool) {
	hash := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[hash]
	if ok && !v.expires.After(now) {
		delete(s.m, hash)
		return session{}, false
	}
	return v, ok
}

func (s *sessions) end(id string) {
	hash := sha256.Sum256([]byte(id))
	s.mu.Lock()
	delete(s.m, hash)
	s.mu.Unlock()
}

// checkSession verifies a session cookie's value and the token behind it.
func (h *Handler) checkSession(ctx context.Context, id string) (principal, error) {
	sess, ok := h.sessions.get(id, h.now())
	if !ok {
		return principal{}, fmt.Errorf("%w: session expired or ended; sign in again at %s", errBadCredentials, dashboard.LoginPath)
	}
	t, err := h.store.TokenByID(ctx, sess.tokenID)
	if err != nil || !t.Revoked.IsZero() {
		h.sessions.end(id)
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
	now := h.now()
	id := h.sessions.open(p.tokenID, now, now.Add(h.opts.SessionTTL))
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
		h.sessions.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, dashboard.LoginPath, http.StatusSeeOther)
}
