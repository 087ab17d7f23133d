package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/internal/plural"
	"github.com/edgeplane/edge/wire"
)

// putBlob streams an upload to the store: hashed, compressed and written
// as it arrives, so an upload costs a few buffers whatever its size. At
// most Options.MaxUploads run at once (429 beyond), each within
// wire.MaxModuleSize (413) and the store's quota (507), and a client that
// stalls for UploadIdle is cut off (408).
func (h *Handler) putBlob(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("sha256")
	if !store.ValidDigest(sha) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("blob %q: %w", sha, store.ErrBadDigest))
		return
	}
	if r.ContentLength > wire.MaxModuleSize {
		writeError(w, http.StatusRequestEntityTooLarge, &wire.SizeError{What: "module", Size: r.ContentLength, Limit: wire.MaxModuleSize})
		return
	}
	release, ok := h.takeUpload(w)
	if !ok {
		return
	}
	defer release()
	body := newDeadlineReader(w, r, wire.MaxModuleSize, h.opts.UploadIdle, h.opts.UploadTimeout)
	ref, created, err := h.store.PutBlobFrom(r.Context(), sha, body, h.now())
	switch {
	case err == nil:
	case errors.Is(err, errReadTimeout), isBodyError(err):
		writeReadError(w, err)
		return
	default:
		h.blobError(w, r, err, http.StatusBadRequest)
		return
	}
	h.blobStored(w, ref, created, "upload")
}

// takeUpload takes one of the MaxUploads tokens (an upload, or a pull from
// a registry), or answers 429.
func (h *Handler) takeUpload(w http.ResponseWriter) (release func(), ok bool) {
	select {
	case h.uploads <- struct{}{}:
		return func() { <-h.uploads }, true
	default:
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusTooManyRequests, fmt.Errorf("%s already in progress; try again shortly", plural.Count(cap(h.uploads), "upload")))
		return nil, false
	}
}

// blobError answers an error of storing a blob: 413 over the module
// limit, 507 over the quota, badContent (400 for an upload, 502 for a
// registry's bytes) when the bytes are not the ones named.
func (h *Handler) blobError(w http.ResponseWriter, r *http.Request, err error, badContent int) {
	switch {
	case errors.Is(err, wire.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, err)
	case errors.Is(err, store.ErrQuota):
		writeError(w, http.StatusInsufficientStorage, err)
	case errors.Is(err, store.ErrDigest), errors.Is(err, store.ErrEmpty):
		writeError(w, badContent, err)
	default:
		h.serverError(w, r, err)
	}
}

// blobStored answers a stored blob: 201 when it is new, 200 when it was
// known.
func (h *Handler) blobStored(w http.ResponseWriter, ref wire.BlobRef, created bool, how string) {
	code := http.StatusOK
	if created {
		code = http.StatusCreated
		h.log.Info("blob stored", "sha256", ref.SHA256, "size", ref.Size, "stored", ref.Stored, "chunks", len(ref.Chunks), "from", how)
	}
	writeJSON(w, code, ref)
}

func (h *Handler) postDeployment(w http.ResponseWriter, r *http.Request) {
	var req wire.DeployRequest
	if !h.decodeJSON(w, r, wire.MaxDeployRequestSize, &req) {
		return
	}
	d, err := h.fleet.Deploy(r.Context(), req)
	h.answer(w, r, http.StatusCreated, d, err)
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
	limit, ok := limitParam(w, r)
	if !ok {
		return
	}
	ds, err := h.store.Deployments(r.Context(), limit)
	h.reply(w, r, ds, err)
}

// postDevice registers a device (devices.go: addDevice).
func (h *Handler) postDevice(w http.ResponseWriter, r *http.Request) {
	var req wire.DeviceCredentialsRequest
	if !h.decodeJSON(w, r, wire.MaxRequestSize, &req) {
		return
	}
	if err := wire.ValidateDeviceID(req.ID); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	h.addDevice(w, r, req.ID)
}
