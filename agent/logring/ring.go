package logring

import (
	"sync"
	"time"
	"unicode/utf8"

	"github.com/edgeplane/edge/wire"
)

// Bounds of a Ring (see the package doc).
const (
	MaxLines     = wire.MaxLogLines // one full batch
	MaxBytes     = 128 << 10
	LineOverhead = 64 // bytes a line costs besides its strings (struct, time)
)

// Ring is a bounded ring of recent log lines. It is safe for concurrent
// use.
type Ring struct {
	mu      sync.Mutex
	lines   []wire.LogLine // circular, cap MaxLines
	head    int            // index of the oldest line
	n       int
	bytes   int
	evicted uint64 // lines pushed out since the ring was made
	last    time.Time
	written time.Time // wall clock of the last Add (for Set's eviction)
}

// NewRing returns an empty ring.
func NewRing() *Ring { return &Ring{lines: make([]wire.LogLine, MaxLines)} }

func lineCost(l *wire.LogLine) int {
	return len(l.Msg) + len(l.Version) + len(l.Level) + LineOverhead
}

// Add appends a line, cutting its message to wire.MaxLogLineSize and
// pushing out the oldest lines beyond the bounds.
func (r *Ring) Add(l wire.LogLine) {
	l.Msg = cut(l.Msg, wire.MaxLogLineSize)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !l.Time.After(r.last) {
		l.Time = r.last.Add(time.Nanosecond)
	}
	r.last = l.Time
	r.written = time.Now()
	cost := lineCost(&l)
	for r.n > 0 && (r.n == len(r.lines) || r.bytes+cost > MaxBytes) {
		r.bytes -= lineCost(&r.lines[r.head])
		r.lines[r.head] = wire.LogLine{}
		r.head = (r.head + 1) % len(r.lines)
		r.n--
		r.evicted++
	}
	r.lines[(r.head+r.n)%len(r.lines)] = l
	r.n++
	r.bytes += cost
}

// Len returns the number of lines held and their cost in bytes.
func (r *Ring) Len() (lines, bytes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n, r.bytes
}

// batch fills b with the lines strictly after since, oldest first, as many
// as max and the report size allow (see Set.Answer).
func (r *Ring) batch(b *wire.LogBatch, since time.Time, max, room int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := 0
	for i < r.n && !r.lines[(r.head+i)%len(r.lines)].Time.After(since) {
		i++
	}
	if r.evicted > 0 && i == 0 && (since.IsZero() || r.n == 0 || since.Before(r.lines[r.head].Time)) {
		// The request reaches back past the oldest line held.
		b.Dropped = r.evicted
	}
	for ; i < r.n; i++ {
		l := &r.lines[(r.head+i)%len(r.lines)]
		size := jsonSize(l)
		if len(b.Lines) == max || size > room {
			b.More = true
			return
		}
		room -= size
		b.Lines = append(b.Lines, *l)
	}
}

// cut shortens s to at most n bytes on a UTF-8 boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
