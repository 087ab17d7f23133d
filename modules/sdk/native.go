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
		r := &Request{
			Method:     hr.Method,
			URL:        &URL{Path: hr.URL.Path, RawPath: hr.URL.EscapedPath(), RawQuery: hr.URL.RawQuery},
			RequestURI: hr.RequestURI,
			Host:       hr.Host,
			Header:     Header(hr.Header), // net/http keeps Host apart, in r.Host
			Body:       body,
			RemoteAddr: hr.RemoteAddr,
			ctx:        hr.Context(),
		}
		w := writers.Get().(*bufferedWriter)
		defer func() { w.reset(); writers.Put(w) }()
		w.reset()
		serve(h, w, r)
		dst := rw.Header()
		for k, v := range w.header {
			dst[k] = v
		}
		rw.WriteHeader(w.statusCode())
		rw.Write(w.body)
	})
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
