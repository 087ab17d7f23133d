package abi

// Header is one HTTP header field. Frames carry headers as an ordered list,
// so repeated fields keep their order.
type Header struct {
	Name, Value string
}

// Request is the frame the host passes to edge_handle: one HTTP request whose
// body has already been read (and bounded) by the host.
type Request struct {
	Method     string
	URI        string // request target as received: path and raw query
	RemoteAddr string
	Header     []Header
	Body       []byte
}

// Response is the frame edge_handle returns.
type Response struct {
	Status int
	Header []Header
	Body   []byte
}

func appendHeaders(b []byte, hs []Header) []byte {
	b = appendU16(b, uint16(len(hs)))
	for _, h := range hs {
		b = appendString(b, h.Name)
		b = appendString(b, h.Value)
	}
	return b
}

func (d *decoder) headers() []Header {
	n := d.count(int(d.u16("header count")), 8, "header")
	if n == 0 {
		return nil
	}
	hs := make([]Header, n)
	for i := range hs {
		hs[i] = Header{Name: d.str("header name"), Value: d.str("header value")}
	}
	return hs
}

// AppendRequest appends the encoding of r to b.
func AppendRequest(b []byte, r *Request) []byte {
	b = appendString(b, r.Method)
	b = appendString(b, r.URI)
	b = appendString(b, r.RemoteAddr)
	b = appendHeaders(b, r.Header)
	return appendBytes(b, r.Body)
}

// DecodeRequest decodes a Request frame.
func DecodeRequest(b []byte) (Request, error) {
	d := decoder{b: b}
	r := Request{
		Method:     d.str("method"),
		URI:        d.str("uri"),
		RemoteAddr: d.str("remote address"),
		Header:     d.headers(),
		Body:       d.bytes("body"),
	}
	return r, d.finish()
}

// DecodeRequestInPlace decodes a Request frame whose strings and body are
// views of b rather than copies: one allocation (the header list) instead
// of two per field, which in a Go guest is most of what decoding a request
// costs. The caller must hand over b: it must never change afterwards
// (the Go SDK gives the host a fresh buffer per request for this).
func DecodeRequestInPlace(b []byte) (Request, error) {
	d := decoder{b: b, alias: true}
	r := Request{
		Method:     d.str("method"),
		URI:        d.str("uri"),
		RemoteAddr: d.str("remote address"),
		Header:     d.headers(),
		Body:       d.bytes("body"),
	}
	return r, d.finish()
}

// AppendResponse appends the encoding of r to b.
func AppendResponse(b []byte, r *Response) []byte {
	b = appendU16(b, uint16(r.Status))
	b = appendHeaders(b, r.Header)
	return appendBytes(b, r.Body)
}

// DecodeResponse decodes a Response frame. A status outside 100–599 is an
// error: the host must never forward one.
func DecodeResponse(b []byte) (Response, error) {
	d := decoder{b: b}
	r := Response{Status: int(d.u16("status"))}
	r.Header = d.headers()
	r.Body = d.bytes("body")
	if err := d.finish(); err != nil {
		return r, err
	}
	if r.Status < 100 || r.Status > 599 {
		d.fail("status out of range")
		return r, d.err
	}
	return r, nil
}

// FetchRequest asks the host to make an outbound HTTP request (http_fetch).
type FetchRequest struct {
	Method    string
	URL       string
	Header    []Header
	Body      []byte
	TimeoutMS uint32 // 0: the host's default
}

// FetchResult is the answer to a FetchRequest: either a response or an error.
type FetchResult struct {
	Err      *Error // nil on success
	Response Response
}

// AppendFetchRequest appends the encoding of r to b.
func AppendFetchRequest(b []byte, r *FetchRequest) []byte {
	b = appendString(b, r.Method)
	b = appendString(b, r.URL)
	b = appendHeaders(b, r.Header)
	b = appendBytes(b, r.Body)
	return appendU32(b, r.TimeoutMS)
}

// DecodeFetchRequest decodes a FetchRequest frame.
func DecodeFetchRequest(b []byte) (FetchRequest, error) {
	d := decoder{b: b}
	r := FetchRequest{
		Method: d.str("method"),
		URL:    d.str("url"),
		Header: d.headers(),
		Body:   d.bytes("body"),
	}
	r.TimeoutMS = d.u32("timeout")
	return r, d.finish()
}

// AppendFetchResult appends the encoding of r to b.
func AppendFetchResult(b []byte, r *FetchResult) []byte {
	b, done := appendOutcome(b, r.Err)
	if done {
		return b
	}
	return AppendResponse(b, &r.Response)
}

// DecodeFetchResult decodes a FetchResult frame.
func DecodeFetchResult(b []byte) (FetchResult, error) {
	d := decoder{b: b}
	var r FetchResult
	switch d.u8("result kind") {
	case 0:
		r.Response.Status = int(d.u16("status"))
		r.Response.Header = d.headers()
		r.Response.Body = d.bytes("body")
	case 1:
		r.Err = d.error()
	default:
		d.fail("unknown result kind")
	}
	return r, d.finish()
}
