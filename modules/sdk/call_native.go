//go:build !wasip1

package sdk

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// Call sends req to module. A native build has no agent to route it: it
// sends req with Fetch to the base URL in the environment variable
// EDGE_CALL_<MODULE> (upper case, '-' and '.' as '_'; for example
// EDGE_CALL_ORDERS=http://127.0.0.1:8080), and fails with ErrUnavailable
// when that is not set. No Edge-Caller header is sent: only the agent can
// vouch for one.
func Call(ctx context.Context, module string, req *CallRequest) (*FetchResponse, error) {
	env := "EDGE_CALL_" + strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(module))
	base := os.Getenv(env)
	if base == "" {
		return nil, fmt.Errorf("call %s %s: %w: module %q does not run here (set %s to its base URL)", module, req.Path, ErrUnavailable, module, env)
	}
	method := req.Method
	if method == "" {
		method = "GET"
	}
	h := Header{}
	for k, vs := range req.Header {
		if CanonicalHeaderKey(k) != CallerHeader {
			h[k] = vs
		}
	}
	return Fetch(ctx, method, strings.TrimSuffix(base, "/")+req.Path, h, req.Body)
}
