//go:build wasip1

package sdk

import (
	"context"
	"fmt"
	"time"

	"github.com/edgeplane/edge/modules/abi"
)

// Call sends req to module on the same device through the host, which
// allows only the modules the signed manifest lists in capabilities.call
// (ErrDenied), refuses a loop or a chain of more than abi.MaxCallDepth
// calls (ErrDenied), and bounds the call by the context's deadline and
// what is left of the request's own (ErrTimeout). A module that does not
// run on the device gives ErrUnavailable. The callee's answer, whatever
// its status, is the response.
func Call(ctx context.Context, module string, req *CallRequest) (*FetchResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := abi.CallRequest{Module: module, Method: req.Method, URI: req.Path, Body: req.Body}
	for k, vs := range req.Header {
		for _, v := range vs {
			r.Header = append(r.Header, abi.Header{Name: k, Value: v})
		}
	}
	if dl, ok := ctx.Deadline(); ok {
		ms := time.Until(dl).Milliseconds()
		if ms <= 0 {
			return nil, context.DeadlineExceeded
		}
		r.TimeoutMS = uint32(min(ms, 1<<31))
	}
	out, err := call("call", hostCall, abi.AppendCallRequest(nil, &r), nil)
	if err != nil {
		return nil, fmt.Errorf("call %s %s: %w", module, req.Path, err)
	}
	res, err := abi.DecodeFetchResult(out)
	if err != nil {
		return nil, fmt.Errorf("call %s %s: %w: %w", module, req.Path, ErrHostCall, err)
	}
	if res.Err != nil {
		return nil, fmt.Errorf("call %s %s: %w", module, req.Path, hostError("call", res.Err))
	}
	h := make(Header, len(res.Response.Header))
	for _, f := range res.Response.Header {
		h.Add(f.Name, f.Value)
	}
	return &FetchResponse{StatusCode: res.Response.Status, Header: h, Body: res.Response.Body}, nil
}
