package sdk

import "context"

// Request is an HTTP request whose body the host has already read, within
// the limit the agent configures.
type Request struct {
	Method     string
	URL        *URL
	RequestURI string // the request target as received
	Host       string // the Host header
	Header     Header
	Body       []byte
	RemoteAddr string
	ctx        context.Context
}

// Context returns the request's context. On wasip1 it carries no deadline:
// the host enforces the per-request deadline itself, and host imports fail
// with ErrTimeout once it has passed.
func (r *Request) Context() context.Context {
	if r.ctx == nil {
		return context.Background()
	}
	return r.ctx
}

// WithContext returns a shallow copy of r with its context changed to ctx.
func (r *Request) WithContext(ctx context.Context) *Request {
	r2 := *r
	r2.ctx = ctx
	return &r2
}

// newRequest builds a Request; the URI is parsed as net/http does.
func newRequest(ctx context.Context, method, uri, remote string, h Header, body []byte) (*Request, error) {
	u, err := parseRequestURI(uri)
	if err != nil {
		return nil, err
	}
	return &Request{
		Method:     method,
		URL:        u,
		RequestURI: uri,
		Host:       h.Get("Host"),
		Header:     h,
		Body:       body,
		RemoteAddr: remote,
		ctx:        ctx,
	}, nil
}
