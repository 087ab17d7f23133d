package wasmhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/edgeplane/edge/internal/breaker"
	"github.com/edgeplane/edge/modules/abi"
	"github.com/tetratelabs/wazero/api"
)

// allowList holds the hosts http_fetch may reach.
type allowList struct {
	hosts     map[string]bool // "example.com": any port
	hostPorts map[string]bool // "example.com:8443"
}

func newAllowList(entries []string) allowList {
	a := allowList{hosts: map[string]bool{}, hostPorts: map[string]bool{}}
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		if _, _, err := net.SplitHostPort(e); err == nil {
			a.hostPorts[e] = true
		} else if e != "" {
			a.hosts[strings.Trim(e, "[]")] = true
		}
	}
	return a
}

// allows reports whether u may be fetched.
func (a allowList) allows(u *url.URL) bool {
	if u.Scheme != "http" && u.Scheme != "https" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if a.hosts[host] {
		return true
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return a.hostPorts[net.JoinHostPort(host, port)]
}

var errDenied = errors.New("host not in the module's allow-list")

// maxFetchHeaderBytes bounds the header of a response fetched for a module.
const maxFetchHeaderBytes = 64 << 10

func (h *hostEnv) newHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4
	tr.MaxResponseHeaderBytes = maxFetchHeaderBytes
	return &http.Client{
		Transport: tr,
		// Redirects are checked against the allow-list like the first URL.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("stopped after 5 redirects")
			}
			if !h.allow.allows(req.URL) {
				return fmt.Errorf("redirect to %s: %w", req.URL.Host, errDenied)
			}
			return nil
		},
	}
}

// hostFetch: http_fetch(reqPtr, reqLen, bufPtr, bufCap) i32.
func (h *hostEnv) hostFetch(ctx context.Context, m api.Module, stack []uint64) {
	bufPtr, bufCap := uint32(stack[2]), uint32(stack[3])
	st := enter(ctx)
	frame, code := h.requestFrame(m, stack)
	if code != 0 {
		stack[0] = i32(code)
		return
	}
	req, err := abi.DecodeFetchRequest(frame)
	if err != nil {
		stack[0] = i32(abi.ErrMalformed)
		return
	}
	if st == nil {
		res := abi.AppendFetchResult(nil, &abi.FetchResult{Err: &abi.Error{Code: abi.CodeDenied, Message: "http_fetch outside a request"}})
		stack[0] = i32((&callState{}).deliver(m, bufPtr, bufCap, res))
		return
	}
	res := h.fetch(st, &req)
	st.scratch = abi.AppendFetchResult(st.scratch[:0], &res)
	stack[0] = i32(st.deliver(m, bufPtr, bufCap, st.scratch))
}

func (h *hostEnv) fetch(st *callState, r *abi.FetchRequest) abi.FetchResult {
	fail := func(code abi.ErrorCode, msg string) abi.FetchResult {
		return abi.FetchResult{Err: &abi.Error{Code: code, Message: msg}}
	}
	if st.fetchCall++; st.fetchCall > h.limits.MaxFetchCalls {
		return fail(abi.CodeTooLarge, fmt.Sprintf("over the host's limit of %d http_fetch calls per request", h.limits.MaxFetchCalls))
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return fail(abi.CodeBadRequest, fmt.Sprintf("bad url %q", r.URL))
	}
	if !h.allow.allows(u) || u.Host == "" {
		return fail(abi.CodeDenied, fmt.Sprintf("%s://%s: %v", u.Scheme, u.Host, errDenied))
	}
	// The guest's timeout, or FetchTimeout; never past the request's
	// deadline less the reserve the guest needs to answer.
	timeout := h.limits.FetchTimeout
	if r.TimeoutMS > 0 {
		timeout = time.Duration(r.TimeoutMS) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(st.io, timeout)
	defer cancel()
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(r.Body))
	if err != nil {
		return fail(abi.CodeBadRequest, err.Error())
	}
	for _, hd := range r.Header {
		req.Header.Add(hd.Name, hd.Value)
	}
	br := h.fetchBreaker(req.URL)
	if err := br.Allow(); err != nil {
		return fail(abi.CodeUnavailable, fmt.Sprintf("%s: %v", req.URL.Host, err))
	}
	start := time.Now()
	resp, body, err := h.roundTrip(req)
	switch {
	case err == nil:
		br.Done(nil)
	case errors.Is(err, errBodyTooLarge),
		st.io.Err() != nil && time.Since(start) < h.limits.FetchTimeout:
		// A body over the limit, or a call cut short by what was left of
		// the request's deadline: nothing learnt about the host's health.
		br.Abort()
	default:
		br.Done(err)
	}
	if err != nil {
		if errors.Is(err, errBodyTooLarge) {
			return fail(abi.CodeTooLarge, err.Error())
		}
		return fail(fetchErrorCode(ctx, err), err.Error())
	}
	return abi.FetchResult{Response: abi.Response{Status: resp.StatusCode, Header: toABIHeaders(resp.Header), Body: body}}
}

var errBodyTooLarge = errors.New("response body too large")

// roundTrip sends req and reads the response body, at most
// Limits.MaxResultBytes of it, within req's context.
func (h *hostEnv) roundTrip(req *http.Request) (*http.Response, []byte, error) {
	return h.roundTripWith(h.client, req)
}

// roundTripWith is roundTrip with client c.
func (h *hostEnv) roundTripWith(c *http.Client, req *http.Request) (*http.Response, []byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	limit := int64(h.limits.MaxResultBytes)
	if resp.ContentLength > limit {
		return nil, nil, fmt.Errorf("%w: %d bytes, over the host's limit of %d bytes per result", errBodyTooLarge, resp.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read response: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, nil, fmt.Errorf("%w: over the host's limit of %d bytes per result", errBodyTooLarge, limit)
	}
	return resp, body, nil
}

// fetchBreaker returns the breaker of u's host and port: a host that does
// not answer makes the next fetches to it fail at once for a while, not
// each one wait for its timeout while holding an instance.
func (h *hostEnv) fetchBreaker(u *url.URL) *breaker.Breaker {
	key := strings.ToLower(u.Host)
	h.breakersMu.Lock()
	defer h.breakersMu.Unlock()
	b := h.breakers[key]
	if b == nil {
		if h.breakers == nil {
			h.breakers = make(map[string]*breaker.Breaker)
		}
		b = &breaker.Breaker{}
		h.breakers[key] = b
	}
	return b
}

func fetchErrorCode(ctx context.Context, err error) abi.ErrorCode {
	switch {
	case errors.Is(err, errDenied):
		return abi.CodeDenied
	case ctx.Err() != nil, errors.Is(err, context.DeadlineExceeded):
		return abi.CodeTimeout
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return abi.CodeTimeout
	}
	return abi.CodeUnavailable
}

// toABIHeaders flattens h in name order, keeping each field's value order.
func toABIHeaders(h http.Header) []abi.Header {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	var out []abi.Header
	for _, k := range names {
		for _, v := range h[k] {
			if len(out) == 65535 {
				return out
			}
			out = append(out, abi.Header{Name: k, Value: v})
		}
	}
	return out
}
