package sdk

import "time"

// FetchResponse is the answer to an outbound request made with Fetch. Its
// body is read whole (the host bounds it).
type FetchResponse struct {
	StatusCode int
	Header     Header
	Body       []byte
}

// The bounds of a native Fetch: the agent's defaults for a guest's
// http_fetch (agent/wasmhost: MaxResultBytes, FetchTimeout), so that both
// builds fail alike.
const (
	maxFetchBody = 4 << 20
	fetchTimeout = 5 * time.Second
)
