package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/internal/ociwasm"
	"github.com/edgeplane/edge/wire"
)

// pullBlob stores a module the controller pulls from an OCI registry
// (wire.BlobPullRequest): the artifact pinned by its manifest's digest,
// whose module layer must be the signed sha256 and size. The bytes are
// streamed into the store as they arrive and checked there as an
// upload's are: hashed, within wire.MaxModuleSize (413) and the quota
// (507), one of MaxUploads (429). A registry that cannot be reached,
// refuses the controller's credentials, lacks the artifact, serves
// something that is not a Wasm module or other bytes than the signed ones
// is answered 502 with the reason, a registry the controller is not
// allowed to pull from (edge-control --registry-allow) 403; nothing is
// stored.
func (h *Handler) pullBlob(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("sha256")
	if !store.ValidDigest(sha) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("blob %q: %w", sha, store.ErrBadDigest))
		return
	}
	var req wire.BlobPullRequest
	if !h.decodeJSON(w, r, wire.MaxRequestSize, &req) {
		return
	}
	src, err := ociwasm.ParseReference(req.Source)
	switch {
	case err != nil:
		writeError(w, http.StatusBadRequest, err)
		return
	case src.Digest == "":
		writeError(w, http.StatusBadRequest, fmt.Errorf("source %s: pin the artifact by its manifest's digest (REPOSITORY@sha256:...), not a tag that may move", src))
		return
	case req.Size <= 0:
		writeError(w, http.StatusBadRequest, fmt.Errorf("size %d: want the module's size in bytes", req.Size))
		return
	case req.Size > wire.MaxModuleSize:
		writeError(w, http.StatusRequestEntityTooLarge, &wire.SizeError{What: "module", Size: req.Size, Limit: wire.MaxModuleSize})
		return
	case h.opts.Registry == nil:
		writeError(w, http.StatusNotImplemented, errors.New("this controller pulls from no registry"))
		return
	}
	if ref, err := h.store.Blob(r.Context(), sha); err == nil && ref.Size == req.Size {
		// Content-addressed: the bytes were checked when they were
		// stored, and the registry is not asked again. Stored "again"
		// all the same (PutBlobFrom reads nothing of a known blob): that
		// refreshes its upload time, so garbage collection does not take
		// it before the deployment that follows.
		ref, created, err := h.store.PutBlobFrom(r.Context(), sha, http.NoBody, h.now())
		if err != nil {
			h.blobError(w, r, err, http.StatusInternalServerError)
			return
		}
		h.blobStored(w, ref, created, src.String())
		return
	}
	release, ok := h.takeUpload(w)
	if !ok {
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.UploadTimeout)
	defer cancel()
	start := time.Now()
	rc, err := h.opts.Registry.Fetch(ctx, src, sha, req.Size)
	if err != nil {
		h.registryError(w, r, err)
		return
	}
	defer rc.Close()
	ref, created, err := h.store.PutBlobFrom(ctx, sha, rc, h.now())
	if err != nil {
		h.registryError(w, r, err)
		return
	}
	if created {
		h.log.Info("blob pulled", "source", src.String(), "sha256", sha, "size", ref.Size, "took", time.Since(start).Round(time.Millisecond))
	}
	h.blobStored(w, ref, created, src.String())
}

// registryError answers a failed pull: the registry's faults are 502, the
// store's are answered as an upload's (a digest mismatch found by the
// store is the registry's too).
func (h *Handler) registryError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ociwasm.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, err)
	case errors.Is(err, ociwasm.ErrReference):
		writeError(w, http.StatusBadRequest, err)
	case errors.Is(err, ociwasm.ErrNotAllowed):
		writeError(w, http.StatusForbidden, err)
	case errors.Is(err, ociwasm.ErrNotFound), errors.Is(err, ociwasm.ErrMediaType), errors.Is(err, ociwasm.ErrDigest),
		errors.Is(err, ociwasm.ErrUnreachable), errors.Is(err, ociwasm.ErrAuth):
		writeError(w, http.StatusBadGateway, err)
	case errors.Is(err, wire.ErrTooLarge), errors.Is(err, store.ErrQuota), errors.Is(err, store.ErrDigest), errors.Is(err, store.ErrEmpty):
		h.blobError(w, r, err, http.StatusBadGateway)
	default:
		// Anything else the registry's client returned (an answer it
		// could not read, a Content-Length that is not the layer's).
		h.log.Warn("pull from registry failed", "err", err)
		writeError(w, http.StatusBadGateway, fmt.Errorf("pull from the registry: %w", err))
	}
}
