package logring

import (
	"bytes"
	"sync"
	"time"

	"github.com/edgeplane/edge/wire"
)

// Bounds of a Writer (see the package doc).
const (
	Rate        = 100  // lines a second a Writer admits
	Burst       = 1000 // lines it admits at once after a quiet time
	MaxRawLines = 100  // lines that are not log records, per Writer
)

// Writer feeds one Ring from log text: the agent's slog tee (Write) or a
// worker's output (Line). It is safe for concurrent use.
type Writer struct {
	ring    *Ring
	version string   // LogLine.Version of every line
	drop    []string // attributes left out of the messages

	mu      sync.Mutex
	tokens  float64
	last    time.Time
	raw     int    // raw lines kept
	dropped uint64 // over the rate, or raw lines over MaxRawLines
	now     func() time.Time
}

// NewWriter returns a Writer into ring; its lines carry version, and
// attributes named in drop are left out of their messages.
func NewWriter(ring *Ring, version string, drop ...string) *Writer {
	return &Writer{ring: ring, version: version, drop: drop, tokens: Burst, last: time.Now(), now: time.Now}
}

// Write takes whole lines (slog's handlers write one record per call). It
// never fails: what does not fit is counted.
func (w *Writer) Write(p []byte) (int, error) {
	for rest := p; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		w.Line(line)
	}
	return len(p), nil
}

// Line adds one line of output: a slog text record, or anything else (a
// crash's output), kept as an ERROR line at the time it is read.
func (w *Writer) Line(line []byte) {
	line = bytes.TrimRight(line, "\r\n")
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	t, level, msg, ok := ParseLine(line, w.drop...)
	w.mu.Lock()
	now := w.now()
	if !ok {
		if w.raw >= MaxRawLines {
			w.dropped++
			w.mu.Unlock()
			return
		}
		w.raw++
		t, level, msg = now.UTC(), "ERROR", cut(string(line), wire.MaxLogLineSize)
	}
	if dt := now.Sub(w.last).Seconds(); dt > 0 {
		w.tokens = min(w.tokens+dt*Rate, Burst)
		w.last = now
	}
	if w.tokens < 1 {
		w.dropped++
		w.mu.Unlock()
		return
	}
	w.tokens--
	w.mu.Unlock()
	w.ring.Add(wire.LogLine{Time: t.UTC(), Level: level, Version: w.version, Msg: msg})
}

// Dropped returns the lines not kept: over the rate, or output that is
// not a log record beyond MaxRawLines.
func (w *Writer) Dropped() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dropped
}
