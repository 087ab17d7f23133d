package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// jsonReadTimeout bounds reading a JSON body (at most
// wire.MaxDeployRequestSize, ~90 KiB). The server's ReadHeaderTimeout
// bounds the headers; this and Options.UploadIdle/UploadTimeout bound the
// body, so a client that stalls mid-body holds a connection and its buffer
// for a bounded time.
const jsonReadTimeout = 30 * time.Second

// errReadTimeout is returned when a client sends its body too slowly.
var errReadTimeout = errors.New("request body not received in time")

// deadlineReader reads a request body with the connection's read deadline
// moved to now+idle before every read (never past end), so a client that
// keeps sending may take until end and one that stalls is cut after idle.
type deadlineReader struct {
	rc   *http.ResponseController
	body io.Reader
	idle time.Duration
	end  time.Time
}

func newDeadlineReader(w http.ResponseWriter, r *http.Request, limit int64, idle, total time.Duration) *deadlineReader {
	return &deadlineReader{
		rc:   http.NewResponseController(w),
		body: http.MaxBytesReader(w, r.Body, limit),
		idle: idle,
		end:  time.Now().Add(total),
	}
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	dl := time.Now().Add(d.idle)
	if dl.After(d.end) {
		dl = d.end
	}
	// Not every ResponseWriter supports deadlines (httptest's recorder);
	// the server's does.
	_ = d.rc.SetReadDeadline(dl)
	n, err := d.body.Read(p)
	switch {
	case err == nil, err == io.EOF:
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("%w (%v)", errReadTimeout, err)
	default:
		err = fmt.Errorf("%w: %w", errBodyRead, err)
	}
	return n, err
}

// isBodyError reports whether err came from reading the request body (the
// client went away or sent a malformed chunked body), not from the server.
func isBodyError(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, http.ErrBodyReadAfterClose) ||
		errors.Is(err, errBodyRead)
}

// errBodyRead marks errors of the request body's reader.
var errBodyRead = errors.New("read request body")

// readBody reads a whole request body of at most limit bytes, with no
// pause longer than idle and within total.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, idle, total time.Duration) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	return io.ReadAll(newDeadlineReader(w, r, limit, idle, total))
}

// answerDeadline bounds the time the answer about to be written may take.
// It is set when the handler starts writing, not when the request arrives:
// handling a deployment may take a while, reading an upload much longer.
func answerDeadline(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(responseWriteTimeout))
}

// writeReadError answers a failed body read: 413 over the limit, 408 for a
// client too slow (and the connection is closed), 400 otherwise.
func writeReadError(w http.ResponseWriter, err error) {
	if mb, ok := errors.AsType[*http.MaxBytesError](err); ok {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("request body exceeds the limit of %d bytes", mb.Limit))
		return
	}
	if errors.Is(err, errReadTimeout) {
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestTimeout, err)
		return
	}
	writeError(w, http.StatusBadRequest, fmt.Errorf("read request body: %w", err))
}
