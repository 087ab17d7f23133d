package sdk

// CallRequest is a request to another module on the same device (Call).
type CallRequest struct {
	Method string // "" means GET
	Path   string // path and query, "/orders?id=2"
	Header Header
	Body   []byte
}

// CallerHeader is the header that names the calling module in a request
// that came from another module through Call. The agent sets it and
// removes it from every other request, so a handler can trust it:
// r.Header.Get(sdk.CallerHeader) is "" for a client's request.
const CallerHeader = "Edge-Caller"

// Caller returns the module that sent r through Call, or "" when r came
// from a client.
func Caller(r *Request) string { return r.Header.Get(CallerHeader) }
