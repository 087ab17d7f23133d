package sdk

import (
	"context"

	"github.com/edgeplane/edge/modules/abi"
)

// Buffer sizes of a guest. The response buffer starts at initialBuffer and
// grows only when a larger response is written; edge_alloc refuses more
// than maxRequest bytes (the host bounds request bodies well below that).
const (
	initialBuffer = 64 << 10
	maxRequest    = 256 << 20
)

// frameServer turns Request frames into Response frames for one Handler. It
// holds the response buffer a guest reuses across requests. It is
// independent of wasip1 so that it can be tested natively; serve_wasip1.go
// wires it to the exports.
//
// The request buffer is new for every request and handed over to the
// Request: its strings and body are views of the frame (one allocation for
// the frame instead of one per field), so they stay valid for as long as a
// handler keeps them, like net/http's.
type frameServer struct {
	h       Handler
	reqBuf  []byte // the buffer of the request in progress
	respBuf []byte
	w       bufferedWriter
	headers []abi.Header
	keys    []string
}

// alloc returns a new buffer of size bytes for the host to write the next
// request into, or nil if size is out of range.
func (s *frameServer) alloc(size int) []byte {
	if size < 0 || size > maxRequest {
		return nil
	}
	s.reqBuf = make([]byte, max(size, 1))
	return s.reqBuf
}

// handle decodes a Request frame, serves it and returns the Response frame,
// which aliases s.respBuf until the next call. The frame is the Request's
// from now on: it must not be written to again.
func (s *frameServer) handle(frame []byte) []byte {
	s.reqBuf = nil
	s.w.reset()
	ar, err := abi.DecodeRequestInPlace(frame)
	if err != nil {
		Log(LevelError, "edge_handle: "+err.Error())
		return s.plain(500, "malformed request frame\n")
	}
	r, err := newRequest(context.Background(), ar.Method, ar.URI, ar.RemoteAddr, headerOf(ar.Header), ar.Body)
	if err != nil {
		return s.plain(400, badURIBody)
	}
	if s.h == nil {
		return s.plain(503, "no handler: the module did not call sdk.Serve\n")
	}
	serve(s.h, &s.w, r)
	return s.encode()
}

// headerOf builds a request's Header from the frame's fields: one map and
// one slice holding every value. The host sends each name in canonical
// form, repeated names next to each other (docs/ABI.md), so a name is
// checked, not rewritten, and the values of one name share the slice.
func headerOf(fields []abi.Header) Header {
	h := make(Header, len(fields))
	if len(fields) == 0 {
		return h
	}
	vals := make([]string, len(fields))
	for i := 0; i < len(fields); {
		name := CanonicalHeaderKey(fields[i].Name)
		j := i
		for ; j < len(fields) && fields[j].Name == fields[i].Name; j++ {
			vals[j] = fields[j].Value
		}
		if old := h[name]; old != nil { // the same name again, not adjacent
			h[name] = append(old, vals[i:j]...)
		} else {
			h[name] = vals[i:j:j]
		}
		i = j
	}
	return h
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
