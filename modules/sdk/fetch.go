package sdk

// FetchResponse is the answer to an outbound request made with Fetch. Its
// body is read whole (the host bounds it).
type FetchResponse struct {
	StatusCode int
	Header     Header
	Body       []byte
}

// maxFetchBody bounds the body a native Fetch reads, as the host does.
const maxFetchBody = 16 << 20
