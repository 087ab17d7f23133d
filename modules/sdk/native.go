//go:build !wasip1

package sdk

import (
	"errors"
	"io"
	"net/http"
	"sync"
)

// MaxNativeBody bounds the request body NativeHandler reads, as the agent
// bounds the bodies it hands to a guest. A larger body gets 413.
const MaxNativeBody = 4 << 20

var writers = sync.Pool{New: func() any { return new(bufferedWriter) }}

// NativeHandler adapts h to net/http, so the source of a module also builds
// as a plain Go server. The request body is read whole and the response
// buffered, as in the guest, so h behaves the same in both builds
// (including a panic becoming a 500).
func NativeHandler(h Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, hr *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(rw, hr.Body, MaxNativeBody))
		if err != nil {
			var tooLarge *http.MaxBytesError
			status := http.StatusBadRequest
			if errors.As(err, &tooLarge) {
				status = http.StatusRequestEntityTooLarge
			}
			http.Error(rw, http.StatusText(status), status)
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
