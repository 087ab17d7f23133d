package wasmhost

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"time"
)

// maxLogRecord bounds one guest log record: a log import message, or the
// lines of stdout/stderr gathered into one record.
const maxLogRecord = 16 << 10

// logLimiter is a module's budget for guest log output. The log import,
// stdout and stderr of all its instances share it, so no way of writing
// escapes it. Two token buckets, records and bytes, each refilled at its
// rate per second and holding at most LogBurst seconds of it: a guest that
// logs a burst keeps everything, one that logs in a loop gets its rate and
// the rest is counted, not written. What was dropped is reported in one
// record within a second of the first drop, then at most one record per
// LogReportInterval while drops go on.
type logLimiter struct {
	log      *slog.Logger
	recRate  float64 // records per second
	byteRate float64 // bytes per second
	burst    float64 // seconds of each rate a bucket holds

	mu           sync.Mutex
	recs, bytes  float64 // tokens left
	last         time.Time
	droppedRecs  uint64 // since the last report
	droppedBytes uint64
	total        uint64 // records dropped since the module started
}

func newLogLimiter(log *slog.Logger, lim *Limits) *logLimiter {
	l := &logLimiter{
		log:      log,
		recRate:  float64(lim.LogRecordsPerSecond),
		byteRate: float64(lim.LogBytesPerSecond),
		burst:    lim.LogBurst.Seconds(),
		last:     time.Now(),
	}
	l.recs, l.bytes = l.recRate*l.burst, l.byteRate*l.burst
	return l
}

// allow takes one record of n bytes from the budget, or counts it as
// dropped and returns false.
func (l *logLimiter) allow(n int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if dt := now.Sub(l.last).Seconds(); dt > 0 {
		l.recs = min(l.recs+dt*l.recRate, l.recRate*l.burst)
		l.bytes = min(l.bytes+dt*l.byteRate, l.byteRate*l.burst)
		l.last = now
	}
	if l.recs < 1 || l.bytes < float64(n) {
		l.droppedRecs++
		l.droppedBytes += uint64(n)
		l.total++
		return false
	}
	l.recs--
	l.bytes -= float64(n)
	return true
}

// dropped is the number of records dropped since the module started.
func (l *logLimiter) dropped() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// report logs what was dropped since the last report, if anything, and
// says whether it did.
func (l *logLimiter) report() bool {
	l.mu.Lock()
	recs, n, total := l.droppedRecs, l.droppedBytes, l.total
	l.droppedRecs, l.droppedBytes = 0, 0
	l.mu.Unlock()
	if recs == 0 {
		return false
	}
	l.log.Warn("guest log output over its limit: records dropped",
		"source", "agent", "dropped_records", recs, "dropped_bytes", n, "dropped_total", total,
		"limit_records_per_second", l.recRate, "limit_bytes_per_second", l.byteRate)
	return true
}

// run reports drops until ctx ends, then once more: the first report
// within a second of the first drop, then at most one per interval.
func (l *logLimiter) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(min(time.Second, interval))
	defer t.Stop()
	var last time.Time
	for {
		select {
		case now := <-t.C:
			if now.Sub(last) >= interval && l.report() {
				last = now
			}
		case <-ctx.Done():
			l.report()
			return
		}
	}
}

// logWriter turns one stream of a guest instance (stdout or stderr, e.g. a
// Go runtime's crash report) into log records of whole lines. Writes are
// buffered: the Go runtime prints a crash piece by piece ("runtime: out of
// memory: cannot allocate ", "1048576", "-byte block (", ...), and one
// record per write made a crash 800 records of fragments. The buffer is
// flushed when the guest call (or _initialize) returns, so the output of
// one call, a crash with its stack included, is one record; a call that
// writes more than maxLogRecord gets one record per maxLogRecord of whole
// lines. A line longer than that is cut and marked truncated.
type logWriter struct {
	log    *slog.Logger
	limit  *logLimiter
	stream string
	level  slog.Level

	mu         sync.Mutex
	buf        []byte
	discarding bool // dropping the rest of a line that was cut
}

func newLogWriter(log *slog.Logger, limit *logLimiter, stream string, level slog.Level) *logWriter {
	return &logWriter{log: log, limit: limit, stream: stream, level: level}
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	if w.discarding {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			return n, nil
		}
		w.discarding = false
		p = p[i+1:]
	}
	for len(p) > 0 {
		room := maxLogRecord - len(w.buf)
		take := min(room, len(p))
		w.buf = append(w.buf, p[:take]...)
		p = p[take:]
		if len(w.buf) < maxLogRecord {
			break
		}
		// Full: emit the whole lines, or cut a line that fills the buffer.
		if i := bytes.LastIndexByte(w.buf, '\n'); i >= 0 {
			w.emit(w.buf[:i], false)
			w.buf = append(w.buf[:0], w.buf[i+1:]...)
			continue
		}
		w.emit(w.buf, true)
		w.buf = w.buf[:0]
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			p = p[i+1:]
		} else {
			w.discarding = true
			p = nil
		}
	}
	return n, nil
}

// flush emits what is buffered, a last line without a newline included.
func (w *logWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(w.buf, false)
		w.buf = w.buf[:0]
	}
	w.discarding = false
	if cap(w.buf) > 4<<10 {
		w.buf = nil // do not pin a large buffer per idle instance
	}
}

func (w *logWriter) emit(b []byte, truncated bool) {
	b = bytes.TrimRight(b, "\n")
	if len(b) == 0 || !w.log.Enabled(context.Background(), w.level) || !w.limit.allow(len(b)) {
		return
	}
	if truncated {
		w.log.Log(context.Background(), w.level, string(b), "source", "guest", "stream", w.stream, "truncated", true)
		return
	}
	w.log.Log(context.Background(), w.level, string(b), "source", "guest", "stream", w.stream)
}
