package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/edgeplane/edge/control/auth"
	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// Sessions ends a device's live MQTT session: the embedded broker's
// Disconnect. Nil with an external broker.
type Sessions interface {
	Disconnect(id string) bool
}

// addDevice registers a device and answers its password, once. A device
// that has a password already is refused (409): a second registration
// would lock the running agent out; rotating is a separate, explicit act.
func (h *Handler) addDevice(w http.ResponseWriter, r *http.Request, id string) {
	pw, hash := auth.NewPassword()
	err := h.store.AddCredential(r.Context(), id, hash, h.now())
	if errors.Is(err, store.ErrConflict) {
		writeError(w, http.StatusConflict, fmt.Errorf("device %s is already registered; for a new password run: edgectl device rotate %s", id, id))
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.fleet.DeviceRegistered(id)
	h.log.Info("device registered", "device", id)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, wire.DeviceCredentials{ID: id, Password: pw})
}

// rotateDevice replaces a device's password: the old one is refused from
// this answer on, and the device's live session (embedded broker) is
// closed, so that it must prove the new one.
func (h *Handler) rotateDevice(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := wire.ValidateDeviceID(id); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	pw, hash := auth.NewPassword()
	if err := h.store.RotateCredential(r.Context(), id, hash, h.now()); err != nil {
		h.answer(w, r, 0, nil, err)
		return
	}
	closed := false
	if h.opts.Sessions != nil {
		closed = h.opts.Sessions.Disconnect(id)
	}
	// The session ended without its Last Will: say "offline" for it, or
	// the inventory shows a locked-out device online.
	if err := h.fleet.MarkOffline(r.Context(), id); err != nil && !errors.Is(err, store.ErrNotFound) {
		h.log.Warn("device password rotated; marking it offline failed", "device", id, "err", err)
	}
	h.log.Info("device password rotated", "device", id, "session_closed", closed)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, wire.DeviceCredentials{ID: id, Password: pw})
}

func (h *Handler) removeDevice(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := wire.ValidateDeviceID(id); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	var closeSession func(string) bool
	if h.opts.Sessions != nil {
		closeSession = h.opts.Sessions.Disconnect
	}
	rm, err := h.fleet.RemoveDevice(r.Context(), id, closeSession)
	h.answer(w, r, http.StatusOK, wire.DeviceRemoval{ID: id, SessionClosed: rm.SessionClosed, Cleared: rm.Cleared,
		Deployments: rm.Deployments, Rollouts: rm.Rollouts}, err)
}
