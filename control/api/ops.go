package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/edgeplane/edge/control/fleet"
	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// answer writes v with code, or maps err to its status: the one place
// where the fleet's and the store's errors become HTTP statuses.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, code int, v any, err error) {
	switch {
	case err == nil:
		writeJSON(w, code, v)
	case errors.Is(err, errNoCredentials), errors.Is(err, errBadCredentials):
		w.Header().Set("WWW-Authenticate", `Bearer realm="edge-control"`)
		writeError(w, http.StatusUnauthorized, err)
	case errors.Is(err, errForbidden), errors.Is(err, errForeignOrigin):
		writeError(w, http.StatusForbidden, err)
	case errors.Is(err, errMisdirected):
		writeError(w, http.StatusMisdirectedRequest, err)
	case errors.Is(err, errMediaType):
		writeError(w, http.StatusUnsupportedMediaType, err)
	case errors.Is(err, errNoEndpoint):
		writeError(w, http.StatusNotFound, err)
	case errors.Is(err, errInvalid):
		writeError(w, http.StatusBadRequest, err)
	case errors.Is(err, wire.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, err)
	case errors.Is(err, fleet.ErrUntrusted):
		writeError(w, http.StatusForbidden, err)
	case errors.Is(err, fleet.ErrBadRequest), errors.Is(err, fleet.ErrUnknownBlob), errors.Is(err, fleet.ErrBlobMismatch),
		errors.Is(err, fleet.ErrNoTargets), errors.Is(err, fleet.ErrUnknownDevice):
		writeError(w, http.StatusBadRequest, err)
	case errors.Is(err, store.ErrNotFound), errors.Is(err, fleet.ErrNoSource), errors.Is(err, fleet.ErrNotDeployed):
		writeError(w, http.StatusNotFound, err)
	case errors.Is(err, fleet.ErrNoAnswer), errors.Is(err, fleet.ErrOffline):
		writeError(w, http.StatusGatewayTimeout, err)
	case errors.Is(err, fleet.ErrLogBusy):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusTooManyRequests, err)
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrTooManyModules), errors.Is(err, fleet.ErrUnknownModules):
		writeError(w, http.StatusConflict, err)
	default:
		h.serverError(w, r, err)
	}
}

func (h *Handler) postPlan(w http.ResponseWriter, r *http.Request) {
	var req wire.PlanRequest
	if !h.decodeJSON(w, r, wire.MaxDeployRequestSize, &req) {
		return
	}
	p, err := h.fleet.Plan(r.Context(), req)
	h.answer(w, r, http.StatusOK, p, err)
}

// postUndeploy removes a module from the desired state of the devices
// the request's targets select (fleet.Undeploy): 404 where one does not
// hold it, 409 while a rollout of it is live.
func (h *Handler) postUndeploy(w http.ResponseWriter, r *http.Request) {
	var req wire.PlanRequest
	if !h.decodeJSON(w, r, wire.MaxDeployRequestSize, &req) {
		return
	}
	p, err := h.fleet.Undeploy(r.Context(), req)
	h.answer(w, r, http.StatusOK, p, err)
}

func (h *Handler) cancelDeployment(w http.ResponseWriter, r *http.Request) {
	res, err := h.fleet.CancelDeployment(r.Context(), r.PathValue("id"))
	h.answer(w, r, http.StatusOK, res, err)
}

func (h *Handler) postRollout(w http.ResponseWriter, r *http.Request) {
	var req wire.RolloutRequest
	if !h.decodeJSON(w, r, wire.MaxRolloutRequestSize, &req) {
		return
	}
	ro, err := h.fleet.CreateRollout(r.Context(), req)
	h.answer(w, r, http.StatusCreated, ro, err)
}

func (h *Handler) listRollouts(w http.ResponseWriter, r *http.Request) {
	limit, ok := limitParam(w, r)
	if !ok {
		return
	}
	rs, err := h.fleet.Rollouts(r.Context(), limit)
	h.answer(w, r, http.StatusOK, rs, err)
}

// limitParam reads a list's ?limit= (1..1000, 100 by default), answering
// 400 itself when it is bad.
func limitParam(w http.ResponseWriter, r *http.Request) (int, bool) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 100, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("limit %q: want 1..1000", s))
		return 0, false
	}
	return n, true
}

func (h *Handler) getRollout(w http.ResponseWriter, r *http.Request) {
	ro, err := h.fleet.Rollout(r.Context(), r.PathValue("id"))
	h.answer(w, r, http.StatusOK, ro, err)
}

func (h *Handler) rolloutAction(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	switch action {
	case fleet.ActionPause, fleet.ActionResume, fleet.ActionAbort:
	default:
		writeError(w, http.StatusNotFound, fmt.Errorf("no rollout action %q: pause, resume or abort", action))
		return
	}
	ro, err := h.fleet.RolloutAction(r.Context(), r.PathValue("id"), action)
	h.answer(w, r, http.StatusOK, ro, err)
}

func (h *Handler) getLabels(w http.ResponseWriter, r *http.Request) {
	l, err := h.fleet.Labels(r.Context(), r.PathValue("id"))
	h.answer(w, r, http.StatusOK, l, err)
}

func (h *Handler) postLabels(w http.ResponseWriter, r *http.Request) {
	var req wire.LabelRequest
	if !h.decodeJSON(w, r, wire.MaxRequestSize, &req) {
		return
	}
	l, err := h.fleet.SetLabels(r.Context(), r.PathValue("id"), req)
	h.answer(w, r, http.StatusOK, l, err)
}

func (h *Handler) clearQuarantine(w http.ResponseWriter, r *http.Request) {
	var req wire.QuarantineClearRequest
	if !h.decodeJSON(w, r, wire.MaxRequestSize, &req) {
		return
	}
	res, err := h.fleet.ClearQuarantine(r.Context(), r.PathValue("id"), req.Module)
	h.answer(w, r, http.StatusAccepted, res, err)
}
