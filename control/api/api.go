// Package api serves the controller's HTTP API (the contract is in
// wire/api.go) and mounts the web dashboard (package dashboard), which
// reads that same API from the browser.
//
// Handlers validate and bound every request in size and time (module
// uploads by wire.MaxModuleSize, streamed to disk, a number at once and the
// store's quota; JSON bodies by their wire limits, parsed with wire.Decode),
// translate domain errors into status codes with errors.Is, and answer
// errors as wire.APIError:
//
//	400 malformed or invalid      408 body not received in time
//	403 signature not trusted,    409 not in the present state (a rollout in
//	    registry not allowed          progress, an action its state refuses),
//	404 unknown                       or a device would exceed wire.MaxModules
//	413 over a size limit             (names it)
//	    (names it)
//	429 too many uploads (or log      500 the controller's fault
//	    requests) at once             502 a registry failed a pull, or served
//	507 blob storage quota reached        other bytes than the signed ones
//	                                      (or did not finish in UploadTimeout)
//	                                  504 a device did not answer (logs)
//
// The API carries no authentication yet: bind it to loopback (the default) or
// put it behind an authenticating proxy. Deployments are signed by the
// operator, so API access alone cannot make a board run unsigned code, but
// it can register devices and withhold or re-push signed versions. The
// operator's actions that need no key (ops.go: plans, rollouts and their
// pause/resume/abort, cancels, central labels, quarantine clears) change
// what is delivered, never what is trusted.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/edgeplane/edge/control/dashboard"
	"github.com/edgeplane/edge/control/fleet"
	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/internal/ociwasm"
	"github.com/edgeplane/edge/wire"
)

// Handler is the controller's HTTP handler.
type Handler struct {
	store   *store.Store
	fleet   *fleet.Fleet
	log     *slog.Logger
	now     func() time.Time
	mux     *http.ServeMux
	opts    Options
	uploads chan struct{} // one token per upload in progress
}

// Options bound uploads; zero values take the defaults noted.
type Options struct {
	MaxUploads    int           // uploads at once (4); 429 beyond
	UploadIdle    time.Duration // a request body that sends nothing this long is cut off (30s); 408
	UploadTimeout time.Duration // a whole upload (15m): wire.MaxModuleSize at ~75 KB/s
	// Metrics serves GET /metrics and ControllerMetrics GET
	// /metrics/controller (package prom); nil: not served.
	Metrics, ControllerMetrics http.Handler
	// Sessions closes a device's live session when it is removed or its
	// password rotated; nil with an external broker.
	Sessions Sessions
	// Registry pulls modules for POST /blobs/{sha256}/pull; nil: 501.
	Registry *ociwasm.Client
}

// responseWriteTimeout bounds writing one answer: a client that stops
// reading (a large device list) holds its connection no longer.
var responseWriteTimeout = 30 * time.Second

// Defaults of Options.
const (
	DefaultMaxUploads    = 4
	DefaultUploadIdle    = 30 * time.Second
	DefaultUploadTimeout = 15 * time.Minute
)

// New returns the HTTP handler of the API and the dashboard.
func New(st *store.Store, fl *fleet.Fleet, log *slog.Logger, opts Options) *Handler {
	if opts.MaxUploads <= 0 {
		opts.MaxUploads = DefaultMaxUploads
	}
	if opts.UploadIdle <= 0 {
		opts.UploadIdle = DefaultUploadIdle
	}
	if opts.UploadTimeout <= 0 {
		opts.UploadTimeout = DefaultUploadTimeout
	}
	h := &Handler{store: st, fleet: fl, log: log, now: time.Now, mux: http.NewServeMux(),
		opts: opts, uploads: make(chan struct{}, opts.MaxUploads)}
	p := wire.APIPrefix
	h.mux.HandleFunc("PUT "+p+"/blobs/{sha256}", h.putBlob)
	h.mux.HandleFunc("POST "+p+"/blobs/{sha256}/pull", h.pullBlob)
	h.mux.HandleFunc("POST "+p+"/deployments", h.postDeployment)
	h.mux.HandleFunc("GET "+p+"/deployments/{id}", h.getDeployment)
	h.mux.HandleFunc("GET "+p+"/deployments", h.listDeployments)
	h.mux.HandleFunc("GET "+p+"/devices", h.listDevices)
	h.mux.HandleFunc("GET "+p+"/devices/{id}", h.getDevice)
	h.mux.HandleFunc("POST "+p+"/devices", h.postDevice)
	h.mux.HandleFunc("GET "+p+"/devices/{id}/detail", h.getDeviceDetail)
	h.mux.HandleFunc("GET "+p+"/devices/{id}/logs", h.getLogs)
	h.mux.HandleFunc("GET "+p+"/modules", h.listModules)
	h.mux.HandleFunc("GET "+p+"/history", h.getHistory)
	if opts.Metrics != nil {
		h.mux.Handle("GET /metrics", opts.Metrics)
	}
	if opts.ControllerMetrics != nil {
		h.mux.Handle("GET /metrics/controller", opts.ControllerMetrics)
	}
	h.opsRoutes(p)
	h.deviceRoutes(p)
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		noSniff(w)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok"))
	})
	h.mux.HandleFunc(p+"/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, errors.New("no such API endpoint"))
	})
	dashboard.New(log).Register(h.mux)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// noSniff keeps a browser from reading an answer as anything but its
// content type, and from rendering it as a document that runs code:
// device-supplied text (labels, reasons) appears in these answers.
func noSniff(w http.ResponseWriter) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	answerDeadline(w)
	noSniff(w)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, wire.APIError{Error: err.Error()})
}

// decodeJSON reads a request body of at most limit bytes and decodes it
// with wire.Decode (the one parser of wire types: strict, one value, no
// duplicate keys), answering 400/408/413 itself.
func (h *Handler) decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	body, err := readBody(w, r, limit, h.opts.UploadIdle, jsonReadTimeout)
	if err != nil {
		writeReadError(w, err)
		return false
	}
	if err := wire.Decode(body, v); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, wire.ErrTooLarge) {
			code = http.StatusRequestEntityTooLarge
		}
		writeError(w, code, fmt.Errorf("decode request: %w", err))
		return false
	}
	return true
}

// serverError logs err and answers 500 without internal detail.
func (h *Handler) serverError(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Error("http request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, errors.New("internal error (see controller log)"))
}
