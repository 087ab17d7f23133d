package wasmhost

import (
	"bytes"
	"log/slog"
)

// logWriter turns a guest's stdout/stderr (e.g. a Go panic trace) into log
// records, one per write, capped.
type logWriter struct {
	log    *slog.Logger
	stream string
}

func (w *logWriter) Write(p []byte) (int, error) {
	const max = 4 << 10
	msg := bytes.TrimRight(p, "\n")
	if len(msg) > max {
		msg = msg[:max]
	}
	if len(msg) > 0 {
		w.log.Warn(string(msg), "source", "guest", "stream", w.stream)
	}
	return len(p), nil
}
