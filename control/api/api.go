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
//	404 unknown (a module undeploy    or a device would exceed wire.MaxModules
//	    finds not deployed)
//	413 over a size limit             (names it)
//	    (names it)
//	429 too many uploads (or log      500 the controller's fault
//	    requests) at once             502 a registry failed a pull, or served
//	507 blob storage quota reached        other bytes than the signed ones
//	                                      (or did not finish in UploadTimeout)
//	                                  504 a device did not answer (logs)
//
// Every route requires an operator token with a role (routes.go: the
// access table; access.go: the checks, in order), and requests a browser
// sends for another site, or under a Host name the controller is not known
// by, are refused:
//
//	401 no or bad credentials     403 role too low, foreign Origin
//	415 not application/json      421 unknown Host (DNS rebinding)
//
// Deployments are signed by the operator, so even an admin token cannot
// make a board run unsigned code; it can register devices and withhold or
// re-push signed versions. The operator's actions that need no key (ops.go:
// plans, rollouts and their pause/resume/abort, cancels, undeploys
// (POST /api/v1/undeploy: wire.PlanRequest → wire.Plan, fleet.Undeploy),
// central labels, quarantine clears) change what is delivered, never what
// is trusted.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
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

	dash  *dashboard.Handler
	table []route         // the access table as registered (routes.go)
	hosts map[string]bool // Options.Hosts, lower case
}

// Options bound uploads; zero values take the defaults noted.
type Options struct {
	MaxUploads    int           // uploads at once (4); 429 beyond
	UploadIdle    time.Duration // a request body that sends nothing this long is cut off (30s); 408
	UploadTimeout time.Duration // a whole upload (15m): wire.MaxModuleSize at ~75 KB/s
	// Metrics serves GET /metrics and ControllerMetrics GET
	// /metrics/controller (package prom); nil: not served.
	Metrics, ControllerMetrics http.Handler
	// Hosts are the names this controller answers to besides IP
	// literals and localhost (421 for any other Host; access.go): its
	// listen address's name and --public-host.
	Hosts []string
	// SessionTTL bounds a dashboard session (DefaultSessionTTL).
	SessionTTL time.Duration
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
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	h := &Handler{store: st, fleet: fl, log: log, now: time.Now, mux: http.NewServeMux(),
		opts: opts, uploads: make(chan struct{}, opts.MaxUploads), dash: dashboard.New(log), hosts: map[string]bool{}}
	for _, name := range opts.Hosts {
		h.hosts[strings.TrimSuffix(strings.ToLower(name), ".")] = true
	}
	for _, rt := range h.routes(opts.Metrics, opts.ControllerMetrics) {
		h.handle(rt)
	}
	return h
}

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
