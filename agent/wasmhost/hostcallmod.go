package wasmhost

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/edgeplane/edge/modules/abi"
	"github.com/tetratelabs/wazero/api"
)

// Module-to-module calls (the call import).
//
// The caller's host sends the callee's request straight to the callee's
// listener on the device (Router says where), with headers only hosts
// set:
//
//	Edge-Caller           the calling module (abi.HeaderCaller); the guest sees it
//	Edge-Call-Chain       the modules the request went through, the caller last
//	Edge-Call-Timeout-Ms  what is left of the caller's deadline
//	Edge-Call-Auth        the device's call secret (Config.CallSecret)
//
// The callee's host believes the first three only when the fourth matches
// its own secret, which only the agent's processes know (the supervisor
// hands it to each worker on stdin; it is never on disk nor shown to a
// guest). It removes all four from every request before the guest sees
// it, and puts Edge-Caller back for a request that proved itself: a client
// from outside cannot pose as a module. A callee's request gets the
// caller's remaining time as its deadline (or its own, when shorter), and
// its chain bounds the calls it makes in turn (abi.MaxCallDepth, no loop).

// Router finds the modules running on the device.
type Router interface {
	// Route returns the host:port module name is served on, or an error
	// wrapping ErrNoModule.
	Route(name string) (string, error)
}

// ErrNoModule is wrapped by Router errors for a module that does not run
// on the device.
var ErrNoModule = errors.New("module does not run on this device")

// Headers of a module-to-module call; see above.
const (
	headerCallChain   = "Edge-Call-Chain"
	headerCallTimeout = "Edge-Call-Timeout-Ms"
	headerCallAuth    = "Edge-Call-Auth"
)

type callChainKey struct{}

// chainFrom returns the call chain a request came with (nil for a client's).
func chainFrom(ctx context.Context) []string {
	c, _ := ctx.Value(callChainKey{}).([]string)
	return c
}

// trustCall removes the call headers from r and, when they carry the
// device's call secret, returns r's context with the call's chain and
// deadline and keeps Edge-Caller for the guest.
func (m *Module) trustCall(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := r.Context(), context.CancelFunc(func() {})
	h := r.Header
	auth, caller, chain, timeout := h.Get(headerCallAuth), h.Get(abi.HeaderCaller), h.Get(headerCallChain), h.Get(headerCallTimeout)
	for _, k := range []string{headerCallAuth, abi.HeaderCaller, headerCallChain, headerCallTimeout} {
		h.Del(k)
	}
	secret := m.cfg.CallSecret
	if auth == "" || secret == "" || subtle.ConstantTimeCompare([]byte(auth), []byte(secret)) != 1 {
		return ctx, cancel
	}
	if caller != "" {
		h.Set(abi.HeaderCaller, caller)
	}
	if chain != "" {
		ctx = context.WithValue(ctx, callChainKey{}, strings.Split(chain, ","))
	}
	if ms, err := strconv.ParseInt(timeout, 10, 64); err == nil && ms >= 0 {
		ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
	}
	return ctx, cancel
}

// hostCall: call(reqPtr, reqLen, bufPtr, bufCap) i32.
func (h *hostEnv) hostCall(ctx context.Context, m api.Module, stack []uint64) {
	bufPtr, bufCap := uint32(stack[2]), uint32(stack[3])
	st := enter(ctx)
	frame, code := h.requestFrame(m, stack)
	if code != 0 {
		stack[0] = i32(code)
		return
	}
	req, err := abi.DecodeCallRequest(frame)
	if err != nil {
		stack[0] = i32(abi.ErrMalformed)
		return
	}
	if st == nil {
		res := abi.AppendFetchResult(nil, &abi.FetchResult{Err: &abi.Error{Code: abi.CodeDenied, Message: "call outside a request"}})
		stack[0] = i32((&callState{}).deliver(m, bufPtr, bufCap, res))
		return
	}
	res := h.callModule(st, &req)
	st.scratch = abi.AppendFetchResult(st.scratch[:0], &res)
	stack[0] = i32(st.deliver(m, bufPtr, bufCap, st.scratch))
}

// callModule checks that r may be made and makes it.
func (h *hostEnv) callModule(st *callState, r *abi.CallRequest) abi.FetchResult {
	fail := func(code abi.ErrorCode, msg string) abi.FetchResult {
		return abi.FetchResult{Err: &abi.Error{Code: code, Message: msg}}
	}
	if h.router == nil || !h.calls[r.Module] {
		return fail(abi.CodeDenied, fmt.Sprintf("module %q is not in this module's capabilities.call", r.Module))
	}
	if st.modCalls++; st.modCalls > h.limits.MaxModuleCalls {
		return fail(abi.CodeTooLarge, fmt.Sprintf("over the host's limit of %d module calls per request", h.limits.MaxModuleCalls))
	}
	chain := append(append([]string(nil), st.chain...), h.module)
	if i := indexOf(chain, r.Module); i >= 0 {
		return fail(abi.CodeDenied, fmt.Sprintf("call loop refused: %s → %s", strings.Join(chain[i:], " → "), r.Module))
	}
	if len(chain) > abi.MaxCallDepth {
		return fail(abi.CodeDenied, fmt.Sprintf("call chain too deep: %s → %s is over %d calls", strings.Join(chain, " → "), r.Module, abi.MaxCallDepth))
	}
	if !strings.HasPrefix(r.URI, "/") {
		return fail(abi.CodeBadRequest, fmt.Sprintf("uri %q must start with /", r.URI))
	}
	addr, err := h.router.Route(r.Module)
	if err != nil {
		return fail(abi.CodeUnavailable, err.Error())
	}
	// The guest's timeout, never past what is left of its own deadline
	// less the reserve it needs to answer.
	ctx, cancel := st.io, context.CancelFunc(func() {})
	if r.TimeoutMS > 0 {
		ctx, cancel = context.WithTimeout(ctx, time.Duration(r.TimeoutMS)*time.Millisecond)
	}
	defer cancel()
	left := time.Duration(0)
	if d, ok := ctx.Deadline(); ok {
		if left = time.Until(d); left <= 0 {
			return fail(abi.CodeTimeout, "no time left for the call")
		}
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+r.URI, bytes.NewReader(r.Body))
	if err != nil {
		return fail(abi.CodeBadRequest, err.Error())
	}
	for _, hd := range r.Header {
		if name := http.CanonicalHeaderKey(hd.Name); !hopByHop[name] && !strings.HasPrefix(name, "Edge-Call") {
			req.Header.Add(hd.Name, hd.Value)
		}
	}
	req.Header.Set(abi.HeaderCaller, h.module)
	req.Header.Set(headerCallChain, strings.Join(chain, ","))
	req.Header.Set(headerCallAuth, h.callSecret)
	if left > 0 {
		req.Header.Set(headerCallTimeout, strconv.FormatInt(max(left.Milliseconds(), 1), 10))
	}
	resp, body, err := h.roundTripWith(h.modClient, req)
	if err != nil {
		if errors.Is(err, errBodyTooLarge) {
			return fail(abi.CodeTooLarge, err.Error())
		}
		return fail(callErrorCode(ctx, err), fmt.Sprintf("call %s %s%s: %v", method, r.Module, r.URI, err))
	}
	return abi.FetchResult{Response: abi.Response{Status: resp.StatusCode, Header: toABIHeaders(resp.Header), Body: body}}
}

func callErrorCode(ctx context.Context, err error) abi.ErrorCode {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return abi.CodeTimeout
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return abi.CodeTimeout
	}
	return abi.CodeUnavailable
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// newModuleClient is the client of module calls: keep-alive connections
// to the device's own listeners, redirects handed to the guest as they are.
func newModuleClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the device's own listeners, never through a proxy
	tr.MaxIdleConnsPerHost = 8
	tr.MaxResponseHeaderBytes = maxFetchHeaderBytes
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
