//go:build wasip1

package sdk

import (
	"context"
	"fmt"
	"time"

	"github.com/edgeplane/edge/modules/abi"
)

// Fetch makes an outbound HTTP request through the host, which allows only
// the hosts the agent's configuration lists (ErrDenied otherwise). The
// context's deadline, if any, becomes the request's timeout.
func Fetch(ctx context.Context, method, url string, header Header, body []byte) (*FetchResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	req := abi.FetchRequest{Method: method, URL: url, Body: body}
	for k, vs := range header {
		for _, v := range vs {
			req.Header = append(req.Header, abi.Header{Name: k, Value: v})
		}
	}
	if dl, ok := ctx.Deadline(); ok {
		ms := time.Until(dl).Milliseconds()
		if ms <= 0 {
			return nil, context.DeadlineExceeded
		}
		req.TimeoutMS = uint32(min(ms, 1<<31))
	}
	out, err := call("http_fetch", hostHTTPFetch, abi.AppendFetchRequest(nil, &req), nil)
	if err != nil {
		return nil, fmt.Errorf("fetch %s %s: %w", method, url, err)
	}
	res, err := abi.DecodeFetchResult(out)
	if err != nil {
		return nil, fmt.Errorf("fetch %s %s: %w: %w", method, url, ErrHostCall, err)
	}
	if res.Err != nil {
		return nil, fmt.Errorf("fetch %s %s: %w", method, url, hostError("http_fetch", res.Err))
	}
	h := make(Header, len(res.Response.Header))
	for _, f := range res.Response.Header {
		h.Add(f.Name, f.Value)
	}
	return &FetchResponse{StatusCode: res.Response.Status, Header: h, Body: res.Response.Body}, nil
}
