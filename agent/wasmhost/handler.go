package wasmhost

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/edgeplane/edge/modules/abi"
)

// Handler returns an http.Handler that serves every request with the module.
//
//	413  body over Limits.MaxRequestBody (the guest is not called)
//	408  body not received within BodyTimeout, or no byte of it for
//	     BodyIdleTimeout (the connection is closed)
//	504  deadline passed (Limits.Deadline or the request context's)
//	500  the guest trapped or hit its memory limit, or an export returned
//	     0 or a pointer outside guest memory (the message names the export)
//	502  the guest answered with a bad frame, or a response over
//	     MaxResponseBytes (the message names the limit)
//	503  no instance could be created, the module is closed, or no room
//	     for the body within MaxBufferedBody (with Retry-After)
//
// Errors have a JSON body {"error": "..."}. Those of a call that failed
// (504, 500, 502, 503 above) also say what the call wrote before it failed
// or was abandoned: {"error": "...", "writes_committed": "no"} and the
// header Edge-Writes-Committed: no, yes or unknown (a write in flight at
// the deadline; see Writes). The handler sets Content-Length
// itself, drops hop-by-hop headers the guest sets, and adds Server when the
// guest sets none (net/http adds Date).
func (m *Module) Handler() http.Handler { return handler{m} }

type handler struct{ m *Module }

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := h.m
	ctx, cancel := m.trustCall(r)
	defer cancel()
	bd, err := m.readBody(w, r)
	defer bd.release()
	if err != nil {
		m.bodyError(w, r, err)
		return
	}
	req := abi.Request{
		Method:     r.Method,
		URI:        r.URL.RequestURI(),
		RemoteAddr: r.RemoteAddr,
		Header:     requestHeaders(r),
		Body:       bd.b,
	}
	if len(req.Header) > 65535 {
		writeError(w, http.StatusRequestHeaderFieldsTooLarge, "too many header fields")
		return
	}
	resp, err := m.Serve(ctx, &req)
	bd.release() // the guest has its own copy
	// Writing the response is bounded too: a client that does not read
	// it must not hold the connection and its buffers.
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(m.cfg.Limits.WriteTimeout))
	if err != nil {
		status := errorStatus(err)
		if status >= 500 && status != http.StatusServiceUnavailable {
			m.log.Warn("wasm request failed", "method", r.Method, "uri", req.URI, "status", status, "err", err)
		}
		msg := errorText(status)
		var tooLarge *responseTooLargeError
		var violation *abiViolationError
		switch {
		case errors.As(err, &tooLarge):
			msg = tooLarge.Error() // names the limit; no guest data
		case errors.As(err, &violation):
			msg = violation.clientText()
		}
		writeCallError(w, status, msg, WritesOf(err))
		return
	}
	writeResponse(w, &resp, m.cfg.ServerHeader)
}

// bodyError answers a request whose body could not be read: 413 over the
// size limit, 408 when it stalled, 503 when the module holds as many
// bodies as it may, 400 when the connection failed. The connection is
// closed after the answer: the rest of the body was not read.
func (m *Module) bodyError(w http.ResponseWriter, r *http.Request, err error) {
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(m.cfg.Limits.WriteTimeout))
	w.Header().Set("Connection", "close")
	switch {
	case errors.Is(err, ErrBodyTooLarge):
		m.stats.requests.Add(1)
		m.stats.count(ErrBodyTooLarge)
		writeError(w, http.StatusRequestEntityTooLarge, err.Error())
	case errors.Is(err, errBodyStalled):
		m.stats.bodyTimeouts.Add(1)
		m.log.Info("request body stalled; connection closed", "method", r.Method, "uri", r.URL.RequestURI(), "remote", r.RemoteAddr, "err", err)
		writeError(w, http.StatusRequestTimeout, err.Error())
	case errors.Is(err, errBodyBusy):
		m.stats.bodyBusy.Add(1)
		m.log.Warn("request refused: no room for its body", "method", r.Method, "uri", r.URL.RequestURI(), "err", err)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		writeError(w, http.StatusBadRequest, err.Error())
	}
}

// requestHeaders flattens r's header, Host first, then by name.
func requestHeaders(r *http.Request) []abi.Header {
	hs := make([]abi.Header, 0, len(r.Header)+1)
	hs = append(hs, abi.Header{Name: "Host", Value: r.Host})
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range r.Header[k] {
			hs = append(hs, abi.Header{Name: k, Value: v})
		}
	}
	return hs
}

// hopByHop are headers the connection owns, never the guest.
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true,
	"Transfer-Encoding": true, "Te": true, "Trailer": true, "Upgrade": true,
	"Proxy-Authenticate": true, "Proxy-Authorization": true,
	"Content-Length": true, // set from the body below
}

func writeResponse(w http.ResponseWriter, resp *abi.Response, server string) {
	if resp.Status < 200 {
		writeError(w, http.StatusBadGateway, "module answered with an informational status")
		return
	}
	h := w.Header()
	for _, f := range resp.Header {
		name := http.CanonicalHeaderKey(f.Name)
		if hopByHop[name] || !validHeaderName(name) || !validHeaderValue(f.Value) {
			continue
		}
		h.Add(name, f.Value)
	}
	if h.Get("Server") == "" && server != "" {
		h.Set("Server", server)
	}
	noBody := resp.Status == http.StatusNoContent || resp.Status == http.StatusNotModified
	if !noBody {
		h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	}
	w.WriteHeader(resp.Status)
	if !noBody {
		_, _ = w.Write(resp.Body)
	}
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c < 0x80 && c > 0x20 && !isSeparator(c):
		default:
			return false
		}
	}
	return true
}

func isSeparator(c byte) bool {
	for i := 0; i < len(`()<>@,;:\"/[]?={}`); i++ {
		if c == `()<>@,;:\"/[]?={}`[i] {
			return true
		}
	}
	return false
}

func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}

// errorStatus maps a Serve error to an HTTP status.
func errorStatus(err error) int {
	switch { // ErrUnavailable first: it wraps the creation failure's cause
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrTimeout):
		return http.StatusGatewayTimeout
	case errors.Is(err, ErrTrap):
		return http.StatusInternalServerError
	case errors.As(err, new(*abiViolationError)):
		return http.StatusInternalServerError // no answer at all: the call failed
	case errors.Is(err, ErrBadResponse):
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

// errorText is what a client sees: no guest internals.
func errorText(status int) string {
	switch status {
	case http.StatusGatewayTimeout:
		return "module did not answer in time"
	case http.StatusInternalServerError:
		return "module failed"
	case http.StatusBadGateway:
		return "module answered with an invalid response"
	case http.StatusServiceUnavailable:
		return "module unavailable"
	case http.StatusRequestEntityTooLarge:
		return "request body too large"
	}
	return http.StatusText(status)
}

// WritesHeader says, on an error the host answers for a call that failed
// (Serve's errors: 504, 500, 502, 503), whether the call committed writes
// before it failed or was abandoned: "no", "yes" or "unknown" (Writes). The
// error body says the same in writes_committed.
const WritesHeader = "Edge-Writes-Committed"

// errorBody is the JSON of an error the host answers.
type errorBody struct {
	Error           string `json:"error"`
	WritesCommitted string `json:"writes_committed,omitempty"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeErrorBody(w, status, errorBody{Error: msg})
}

// writeCallError answers a request whose call failed, with what the call
// wrote: a client that retries on 504 must know whether the write it
// asked for may be done already.
func writeCallError(w http.ResponseWriter, status int, msg string, writes Writes) {
	w.Header().Set(WritesHeader, writes.String())
	writeErrorBody(w, status, errorBody{Error: msg, WritesCommitted: writes.String()})
}

func writeErrorBody(w http.ResponseWriter, status int, body errorBody) {
	b, _ := json.Marshal(body)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
