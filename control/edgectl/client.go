package edgectl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/edgeplane/edge/internal/plural"
	"github.com/edgeplane/edge/wire"
)

// Request timeouts: a JSON call is small; an upload carries up to
// wire.MaxModuleSize bytes over what may be a slow link.
const (
	apiTimeout    = 30 * time.Second
	uploadTimeout = 5 * time.Minute
)

// client talks to the controller's HTTP API (wire/api.go).
type client struct {
	base  string // scheme://host[:port][/prefix], no trailing slash
	hc    *http.Client
	token string // operator token, sent as Authorization: Bearer
}

func newClient(addr string) (*client, error) {
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("controller address %q: want http://HOST:PORT or https://HOST:PORT", addr)
	}
	return &client{base: strings.TrimSuffix(u.String(), "/"), hc: &http.Client{}}, nil
}

// APIError is an error answer of the controller.
type APIError struct {
	Method, URL string
	Status      int
	Message     string // wire.APIError.Error, or the start of the body
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: %s", e.Method, e.URL, statusMessage(e.Status, e.Message))
}

// statusMessage puts the status text before msg, once: the controller's
// messages often start with their error's kind ("conflict: rollout r1 is
// done") or end with it ("device pi-9: not found"), which is the status
// text again ("Conflict: conflict: ..." read twice); the kind is put
// first ("Not Found: device pi-9"), and a message that begins as the
// status text does says it alone ("bad deployment request: ...", not
// "Bad Request: bad deployment request: ...").
func statusMessage(code int, msg string) string {
	text := http.StatusText(code)
	if text == "" {
		text = fmt.Sprintf("HTTP %d", code)
	}
	n := len(text)
	switch {
	case strings.EqualFold(msg, text):
		return text
	case len(msg) > n+2 && strings.EqualFold(msg[:n+2], text+": "):
		return text + ": " + msg[n+2:]
	case len(msg) > n+2 && strings.EqualFold(msg[len(msg)-n-2:], ": "+text):
		return text + ": " + msg[:len(msg)-n-2]
	case strings.Contains(text, " ") && strings.EqualFold(firstWord(msg), firstWord(text)):
		return msg // "bad deployment request: ...", "too many log requests waiting"
	}
	return text + ": " + msg
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " :"); i >= 0 {
		return s[:i]
	}
	return s
}

// do sends a request to path (under wire.APIPrefix) and decodes a 2xx JSON
// answer into out (when not nil).
func (c *client) do(ctx context.Context, timeout time.Duration, method, path, contentType string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u := c.base + wire.APIPrefix + path
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportError(method, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, wire.MaxAnswerSize+1))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, u, err)
	}
	if resp.StatusCode/100 != 2 {
		return &APIError{Method: method, URL: u, Status: resp.StatusCode, Message: plainToTLS(errorMessage(data)) + c.authHint(resp.StatusCode)}
	}
	if out == nil {
		return nil
	}
	if err := wire.Decode(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, u, err)
	}
	return nil
}

func errorMessage(body []byte) string {
	var ae wire.APIError
	if wire.Decode(body, &ae) == nil && ae.Error != "" {
		return ae.Error
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		s = "(empty answer)"
	}
	return s
}

// transportError names the controller in errors that mean it could not be
// reached, so the operator knows which address to fix.
func (c *client) transportError(method, u string, err error) error {
	if terr := c.tlsError(err); terr != nil {
		return terr
	}
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w at %s: connection refused (is edge-control running? set --control or EDGE_CONTROL)", errUnreachable, c.base)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w at %s: the connection was cut (%s; did edge-control stop or restart?)", errUnreachable, c.base, cutCause(err))
	case errors.As(err, &dnsErr):
		return fmt.Errorf("cannot reach the controller at %s: %w", c.base, dnsErr)
	case isTimeout(err):
		return fmt.Errorf("%s %s: controller did not answer in time: %w", method, u, err)
	}
	return fmt.Errorf("%s %s: %w", method, u, err)
}

// errUnreachable is wrapped by errors that mean the controller could not
// be reached or went away mid-request: worth another attempt.
var errUnreachable = errors.New("cannot reach the controller")

// cutCause names how a connection was cut, without the addresses and
// syscalls of the raw error ("readfrom tcp ...: write tcp ...: write:").
func cutCause(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	}
	return "closed before it answered"
}

// isTimeout reports whether err is a deadline that passed.
func isTimeout(err error) bool {
	var ne net.Error
	var ae *APIError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errTimeout) || (errors.As(err, &ne) && ne.Timeout()) ||
		(errors.As(err, &ae) && ae.Status == http.StatusGatewayTimeout)
}

// errTimeout is wrapped by push when --wait elapses.
var errTimeout = errors.New("timed out")

// uploadRetryFor bounds how long an upload is tried again while the
// controller cannot be reached; tests shorten it.
var uploadRetryFor = time.Minute

// putBlob uploads module under its digest. The PUT is idempotent (the
// controller keeps one blob per digest), so an upload cut or refused
// because the controller went away (a crash, a restart) is sent again, as
// the polling asks again: every pollInterval, each new reason said once on
// progress, for up to uploadRetryFor.
func (c *client) putBlob(ctx context.Context, sum string, module []byte, progress io.Writer) error {
	start := time.Now()
	var lastErr string
	for attempt := 1; ; attempt++ {
		err := c.do(ctx, uploadTimeout, http.MethodPut, "/blobs/"+sum, "application/wasm", module, nil)
		if err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
		if time.Since(start)+pollInterval > uploadRetryFor {
			return fmt.Errorf("%w (gave up after %s in %s)", err, plural.Count(attempt, "attempt"), time.Since(start).Round(100*time.Millisecond))
		}
		pollFailed(err, &lastErr, progress)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pollInterval):
		}
	}
}

// retryable reports whether another attempt may succeed: the controller
// could not be reached, was busy (429), or a proxy before it could not
// reach it (502, 503, 504).
func retryable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	return errors.Is(err, errUnreachable)
}

func (c *client) deployment(ctx context.Context, id string) (*wire.Deployment, error) {
	var d wire.Deployment
	if err := c.do(ctx, apiTimeout, http.MethodGet, "/deployments/"+url.PathEscape(id), "", nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

func (c *client) deployments(ctx context.Context) ([]wire.Deployment, error) {
	var ds []wire.Deployment
	err := c.do(ctx, apiTimeout, http.MethodGet, "/deployments", "", nil, &ds)
	return ds, err
}

func (c *client) devices(ctx context.Context) ([]wire.Device, error) {
	var ds []wire.Device
	err := c.do(ctx, apiTimeout, http.MethodGet, "/devices", "", nil, &ds)
	return ds, err
}

func (c *client) addDevice(ctx context.Context, id string) (*wire.DeviceCredentials, error) {
	body, err := json.Marshal(wire.DeviceCredentialsRequest{ID: id})
	if err != nil {
		return nil, fmt.Errorf("encode device request: %w", err)
	}
	var cr wire.DeviceCredentials
	if err := c.do(ctx, apiTimeout, http.MethodPost, "/devices", "application/json", body, &cr); err != nil {
		return nil, err
	}
	return &cr, nil
}

// get reads a JSON answer of the API at path (under wire.APIPrefix, with
// its query).
func (c *client) get(ctx context.Context, path string, out any) error {
	return c.do(ctx, apiTimeout, http.MethodGet, path, "", nil, out)
}
