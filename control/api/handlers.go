package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/edgeplane/edge/control/auth"
	"github.com/edgeplane/edge/control/fleet"
	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

func (h *Handler) putBlob(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("sha256")
	if !store.ValidDigest(sha) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("blob %q: %w", sha, store.ErrBadDigest))
		return
	}
	if r.ContentLength > wire.MaxModuleSize {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("blob of %d bytes exceeds %d", r.ContentLength, wire.MaxModuleSize))
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, wire.MaxModuleSize))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("blob exceeds %d bytes", wire.MaxModuleSize))
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("read blob: %w", err))
		return
	}
	ref, created, err := h.store.PutBlob(r.Context(), sha, data, h.now())
	switch {
	case errors.Is(err, store.ErrDigest), errors.Is(err, store.ErrTooLarge):
		writeError(w, http.StatusBadRequest, err)
		return
	case err != nil:
		h.serverError(w, r, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
		h.log.Info("blob stored", "sha256", sha, "size", ref.Size, "stored", ref.Stored, "chunks", len(ref.Chunks))
	}
	writeJSON(w, code, ref)
}

func (h *Handler) postDeployment(w http.ResponseWriter, r *http.Request) {
	var req wire.DeployRequest
	if !decodeJSON(w, r, wire.MaxDeployRequestSize, &req) {
		return
	}
	d, err := h.fleet.Deploy(r.Context(), req.Envelope)
	switch {
	case errors.Is(err, wire.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, err)
	case errors.Is(err, fleet.ErrUntrusted):
		writeError(w, http.StatusForbidden, err)
	case errors.Is(err, fleet.ErrBadRequest), errors.Is(err, fleet.ErrUnknownBlob),
		errors.Is(err, fleet.ErrBlobMismatch), errors.Is(err, fleet.ErrNoTargets):
		writeError(w, http.StatusBadRequest, err)
	case err != nil:
		h.serverError(w, r, err)
	default:
		writeJSON(w, http.StatusCreated, d)
	}
}

// reply answers a read: v as JSON, 404 for store.ErrNotFound, 500 for any
// other error.
func (h *Handler) reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, err)
	case err != nil:
		h.serverError(w, r, err)
	default:
		writeJSON(w, http.StatusOK, v)
	}
}

func (h *Handler) getDeployment(w http.ResponseWriter, r *http.Request) {
	d, err := h.store.Deployment(r.Context(), r.PathValue("id"))
	h.reply(w, r, d, err)
}

func (h *Handler) listDeployments(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("limit %q: want 1..1000", s))
			return
		}
		limit = n
	}
	ds, err := h.store.Deployments(r.Context(), limit)
	h.reply(w, r, ds, err)
}

func (h *Handler) listDevices(w http.ResponseWriter, r *http.Request) {
	ds, err := h.store.Devices(r.Context())
	h.reply(w, r, ds, err)
}

func (h *Handler) getDevice(w http.ResponseWriter, r *http.Request) {
	d, err := h.store.Device(r.Context(), r.PathValue("id"))
	h.reply(w, r, d, err)
}

// postDevice issues (or rotates) a device's broker password. The password
// is in this answer only; the controller keeps its hash.
func (h *Handler) postDevice(w http.ResponseWriter, r *http.Request) {
	var req wire.DeviceCredentialsRequest
	if !decodeJSON(w, r, wire.MaxRequestSize, &req) {
		return
	}
	if err := wire.ValidateDeviceID(req.ID); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	pw, hash := auth.NewPassword()
	if err := h.store.SetCredential(r.Context(), req.ID, hash, h.now()); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.log.Info("device credentials issued", "device", req.ID)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, wire.DeviceCredentials{ID: req.ID, Password: pw})
}
