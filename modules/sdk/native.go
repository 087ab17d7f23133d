//go:build !wasip1

package sdk

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/edgeplane/edge/modules/sdk/jsonw"
)

// MaxNativeBody bounds the request body NativeHandler reads: the agent's
// default body limit, so that both builds take the same requests. A larger
// body gets 413 with the agent's error body.
const MaxNativeBody = 1 << 20

var writers = sync.Pool{New: func() any { return new(bufferedWriter) }}

// NativeHandler adapts h to net/http, so the source of a module also builds
// as a plain Go server. The request body is read whole and the response
// buffered, as in the guest, so h behaves the same in both builds
// (including a panic becoming a 500).
func NativeHandler(h Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, hr *http.Request) {
		if hr.ContentLength > MaxNativeBody {
			refuse(rw, http.StatusRequestEntityTooLarge, fmt.Sprintf(
				"request body too large: %d bytes, over the limit of %d bytes", hr.ContentLength, MaxNativeBody))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(rw, hr.Body, MaxNativeBody))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				refuse(rw, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body too large: over the limit of %d bytes", MaxNativeBody))
				return
			}
			refuse(rw, http.StatusBadRequest, "read request body: "+err.Error())
			return
		}
		w := writers.Get().(*bufferedWriter)
		defer func() { w.reset(); writers.Put(w) }()
		w.reset()
		if r, err := nativeRequest(hr, body); err != nil {
			w.plain(http.StatusBadRequest, badURIBody) // as the guest answers it
		} else {
			serve(h, w, r)
		}
		dst := rw.Header()
		for k, v := range w.header {
			dst[k] = v
		}
		rw.WriteHeader(w.statusCode())
		rw.Write(w.body)
	})
}

// nativeRequest builds the Request a guest would get for hr under the
// agent: the request target is hr.URL.RequestURI(), the target the agent
// hands a guest (agent/wasmhost), parsed by the guest's own parser; the
// Host header is among the headers, as the agent sends it. So
// every form of request target (origin-form, absolute-form with or
// without a path, "*", a CONNECT's authority-form) reaches the handler as
// the same path and query in both builds: hr.URL.Path is empty for
// "http://example.com?x=1" and for a CONNECT, where the agent's target is
// "/?x=1" and "/".
func nativeRequest(hr *http.Request, body []byte) (*Request, error) {
	h := make(Header, len(hr.Header)+1)
	for k, v := range hr.Header {
		h[k] = v // net/http keeps Host apart, in hr.Host
	}
	h["Host"] = []string{hr.Host}
	return newRequest(hr.Context(), hr.Method, hr.URL.RequestURI(), hr.RemoteAddr, h, body)
}

// refuse answers as the agent does for what it refuses before the
// guest runs (agent/wasmhost's writeError): a JSON error body and a
// newline, the connection closed after it.
func refuse(rw http.ResponseWriter, status int, msg string) {
	b := append(jsonw.AppendString([]byte(`{"error":`), msg), "}\n"...)
	h := rw.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Connection", "close")
	rw.WriteHeader(status)
	rw.Write(b)
}
