package sdk

import (
	"fmt"
	"runtime"
)

// A Handler responds to a Request, like net/http's Handler.
type Handler interface {
	ServeHTTP(w ResponseWriter, r *Request)
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(w ResponseWriter, r *Request)

// ServeHTTP calls f(w, r).
func (f HandlerFunc) ServeHTTP(w ResponseWriter, r *Request) { f(w, r) }

// serve calls h and turns a panic into a plain 500 response, discarding
// whatever the handler had written. Both builds call it, so a panic means
// the same thing natively and in the guest, and a guest instance survives it.
func serve(h Handler, w *bufferedWriter, r *Request) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		stack := make([]byte, 8<<10)
		stack = stack[:runtime.Stack(stack, false)]
		Log(LevelError, fmt.Sprintf("panic serving %s %s: %v\n%s", r.Method, r.RequestURI, p, stack))
		w.plain(500, "internal server error\n")
	}()
	h.ServeHTTP(w, r)
}
