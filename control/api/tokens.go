package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/edgeplane/edge/control/auth"
	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// IssueToken creates an operator token and stores its hash; the token is
// in the answer only. The controller's first start uses it for the admin
// token, POST /api/v1/tokens for the others.
func IssueToken(ctx context.Context, st *store.Store, name string, role auth.Role, now time.Time) (wire.TokenCreated, error) {
	if err := wire.ValidateTokenName(name); err != nil {
		return wire.TokenCreated{}, fmt.Errorf("%w: %w", errInvalid, err)
	}
	if _, err := auth.ParseRole(string(role)); err != nil {
		return wire.TokenCreated{}, fmt.Errorf("%w: %w", errInvalid, err)
	}
	token, id, hash := auth.NewToken()
	t := store.Token{ID: id, Name: name, Role: string(role), Hash: hash, Created: now.UTC()}
	if err := st.CreateToken(ctx, t); err != nil {
		return wire.TokenCreated{}, err
	}
	return wire.TokenCreated{Token: wireToken(t), Secret: token}, nil
}

func wireToken(t store.Token) wire.Token {
	wt := wire.Token{ID: t.ID, Name: t.Name, Role: t.Role, Created: t.Created}
	if !t.Revoked.IsZero() {
		r := t.Revoked
		wt.Revoked = &r
	}
	return wt
}

func (h *Handler) postToken(w http.ResponseWriter, r *http.Request) {
	var req wire.TokenRequest
	if !h.decodeJSON(w, r, wire.MaxRequestSize, &req) {
		return
	}
	tc, err := IssueToken(r.Context(), h.store, req.Name, auth.Role(req.Role), h.now())
	if err == nil {
		p := caller(r.Context())
		h.log.Info("token created", "id", tc.ID, "name", tc.Name, "role", tc.Role, "by", p.tokenID)
		w.Header().Set("Cache-Control", "no-store")
	}
	h.answer(w, r, http.StatusCreated, tc, err)
}

func (h *Handler) listTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := h.store.Tokens(r.Context())
	out := make([]wire.Token, 0, len(ts))
	for _, t := range ts {
		out = append(out, wireToken(t))
	}
	h.answer(w, r, http.StatusOK, out, err)
}

func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !auth.ValidTokenID(id) {
		h.answer(w, r, 0, nil, fmt.Errorf("token %q: %w", id, store.ErrNotFound))
		return
	}
	t, err := h.store.RevokeToken(r.Context(), id, h.now().UTC())
	if err == nil {
		h.log.Info("token revoked", "id", t.ID, "name", t.Name, "by", caller(r.Context()).tokenID)
	}
	h.answer(w, r, http.StatusOK, wireToken(t), err)
}
