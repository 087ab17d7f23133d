package abi

// CallRequest asks the host to send an HTTP request to another module on
// the same device (the call import). The answer is a FetchResult frame:
// the callee's response, or an error (CodeDenied: the callee is not in
// the caller's manifest, or the call would loop or go too deep;
// CodeUnavailable: the callee does not run on this device or did not
// answer; CodeTimeout: the deadline passed).
type CallRequest struct {
	Module    string // the callee's name
	Method    string // empty means GET
	URI       string // path and query, "/orders?id=2"
	Header    []Header
	Body      []byte
	TimeoutMS uint32 // 0: what is left of the caller's deadline
}

// AppendCallRequest appends the encoding of r to b.
func AppendCallRequest(b []byte, r *CallRequest) []byte {
	b = appendString(b, r.Module)
	b = appendString(b, r.Method)
	b = appendString(b, r.URI)
	b = appendHeaders(b, r.Header)
	b = appendBytes(b, r.Body)
	return appendU32(b, r.TimeoutMS)
}

// DecodeCallRequest decodes a CallRequest frame.
func DecodeCallRequest(b []byte) (CallRequest, error) {
	d := decoder{b: b}
	r := CallRequest{
		Module: d.str("module"),
		Method: d.str("method"),
		URI:    d.str("uri"),
		Header: d.headers(),
		Body:   d.bytes("body"),
	}
	r.TimeoutMS = d.u32("timeout")
	return r, d.finish()
}
