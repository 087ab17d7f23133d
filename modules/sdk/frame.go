package sdk

import (
	"context"

	"github.com/edgeplane/edge/modules/abi"
)

// Buffer sizes of a guest. The request buffer starts at initialBuffer and
// grows only when a larger request arrives; edge_alloc refuses more than
// maxRequest bytes (the host bounds request bodies well below that).
const (
	initialBuffer = 64 << 10
	maxRequest    = 256 << 20
)

// frameServer turns Request frames into Response frames for one Handler. It
// holds the buffers a guest reuses across requests. It is independent of
// wasip1 so that it can be tested natively; serve_wasip1.go wires it to the
// exports.
type frameServer struct {
	h       Handler
	reqBuf  []byte
	respBuf []byte
	w       bufferedWriter
	headers []abi.Header
	keys    []string
}

// alloc returns a buffer of at least size bytes for the host to write the
// next request into, or nil if size is out of range.
func (s *frameServer) alloc(size int) []byte {
	if size < 0 || size > maxRequest {
		return nil
	}
	if cap(s.reqBuf) < size || cap(s.reqBuf) == 0 {
		s.reqBuf = make([]byte, max(size, initialBuffer))
	}
	return s.reqBuf[:cap(s.reqBuf)]
}

// handle decodes a Request frame, serves it and returns the Response frame,
// which aliases s.respBuf until the next call.
func (s *frameServer) handle(frame []byte) []byte {
	s.w.reset()
	ar, err := abi.DecodeRequest(frame)
	if err != nil {
		Log(LevelError, "edge_handle: "+err.Error())
		return s.plain(500, "malformed request frame\n")
	}
	h := make(Header, len(ar.Header))
	for _, f := range ar.Header {
		h.Add(f.Name, f.Value)
	}
	r, err := newRequest(context.Background(), ar.Method, ar.URI, ar.RemoteAddr, h, ar.Body)
	if err != nil {
		return s.plain(400, badURIBody)
	}
	if s.h == nil {
		return s.plain(503, "no handler: the module did not call sdk.Serve\n")
	}
	serve(s.h, &s.w, r)
	return s.encode()
}

func (s *frameServer) plain(status int, body string) []byte {
	s.w.plain(status, body)
	return s.encode()
}

// encode writes the response frame with header fields sorted by name, so
// the output is deterministic.
func (s *frameServer) encode() []byte {
	s.keys = s.keys[:0]
	for k := range s.w.header {
		s.keys = append(s.keys, k)
	}
	sortStrings(s.keys)
	s.headers = s.headers[:0]
	for _, k := range s.keys {
		for _, v := range s.w.header[k] {
			s.headers = append(s.headers, abi.Header{Name: k, Value: v})
		}
	}
	resp := abi.Response{Status: s.w.statusCode(), Header: s.headers, Body: s.w.body}
	if cap(s.respBuf) == 0 {
		s.respBuf = make([]byte, 0, initialBuffer)
	}
	s.respBuf = abi.AppendResponse(s.respBuf[:0], &resp)
	return s.respBuf
}

// sortStrings sorts a short list (header names, methods) by insertion:
// slices.Sort's generic pdqsort costs ~20 KB of guest code.
func sortStrings(a []string) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}
