package sdk

import "strconv"

// ResponseWriter builds the response to a Request, like net/http's.
//
// Both builds buffer the whole response and send it when the handler
// returns, so a handler that panics half way still yields a clean 500. One
// difference from net/http follows: header changes made after WriteHeader
// are still sent. There is no content sniffing: set Content-Type yourself.
type ResponseWriter interface {
	// Header returns the header map sent with the response.
	Header() Header
	// WriteHeader sets the status code. Only the first call counts; a
	// code outside 100–999 panics, as in net/http.
	WriteHeader(statusCode int)
	// Write appends to the body, calling WriteHeader(200) first if needed.
	Write(p []byte) (int, error)
}

// bufferedWriter is the ResponseWriter of both builds. It is reused across
// requests: reset keeps the body buffer and the header map.
type bufferedWriter struct {
	header Header
	status int // 0 until WriteHeader
	body   []byte
}

func (w *bufferedWriter) Header() Header {
	if w.header == nil {
		w.header = make(Header)
	}
	return w.header
}

func (w *bufferedWriter) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic("sdk: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if w.status == 0 {
		w.status = code
	}
}

func (w *bufferedWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	w.body = append(w.body, p...)
	return len(p), nil
}

// statusCode returns the status to send.
func (w *bufferedWriter) statusCode() int {
	if w.status == 0 {
		return 200
	}
	return w.status
}

// plain replaces whatever w holds with a plain text answer.
func (w *bufferedWriter) plain(status int, body string) {
	w.reset()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	w.body = append(w.body, body...)
}

// reset prepares w for the next request, keeping its buffers.
func (w *bufferedWriter) reset() {
	clear(w.header)
	w.status = 0
	w.body = w.body[:0]
}
