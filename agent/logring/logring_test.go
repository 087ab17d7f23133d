package logring

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/wire"
)

func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		in         string
		drop       []string
		level, msg string
		ok         bool
		time       string
	}{
		{`time=2025-03-14T09:30:00.123+01:00 level=INFO msg="worker ready" worker=orders@1.0.0 pid=42 addr=[::]:8080`,
			[]string{"worker", "pid"}, "INFO", "worker ready addr=[::]:8080", true, "2025-03-14T08:30:00.123Z"},
		{`time=2025-03-14T09:30:00Z level=WARN+2 msg=hello`, nil, "WARN", "hello", true, "2025-03-14T09:30:00Z"},
		{`time=2025-03-14T09:30:00Z level=ERROR msg="a \"quoted\" = msg" err="x y"`, nil, "ERROR", `a "quoted" = msg err="x y"`, true, "2025-03-14T09:30:00Z"},
		{`time=2025-03-14T09:30:00Z level=DEBUG-4 msg=""`, nil, "DEBUG", "", true, "2025-03-14T09:30:00Z"},
		// Not records: kept raw by the Writer.
		{`panic: runtime error: index out of range [3] with length 3`, nil, "", "", false, ""},
		{`goroutine 1 [running]:`, nil, "", "", false, ""},
		{`time=yesterday level=INFO msg=x`, nil, "", "", false, ""},
		{`time=2025-03-14T09:30:00Z msg=x`, nil, "", "", false, ""},
		{`time=2025-03-14T09:30:00Z level=INFO msg="unterminated`, nil, "", "", false, ""},
		{`time=2025-03-14T09:30:00Z level=INFO msg="bad \q escape"`, nil, "", "", false, ""},
		{``, nil, "", "", false, ""},
	} {
		tm, level, msg, ok := ParseLine([]byte(tc.in), tc.drop...)
		if ok != tc.ok || level != tc.level || msg != tc.msg {
			t.Errorf("%q: got %q %q %v, want %q %q %v", tc.in, level, msg, ok, tc.level, tc.msg, tc.ok)
		}
		if ok && tm.UTC().Format(time.RFC3339Nano) != tc.time {
			t.Errorf("%q: time %v, want %s", tc.in, tm.UTC().Format(time.RFC3339Nano), tc.time)
		}
	}
}

// FuzzParseLine: whatever slog's text handler writes, ParseLine reads the
// level and the message back; for arbitrary bytes it never panics.
func FuzzParseLine(f *testing.F) {
	f.Add("hello", "v", []byte("time=x level=INFO msg=y"))
	f.Add("a \"b\" c=d\n", "x=y z", []byte{})
	f.Add("\x00\xff", "", []byte("time=2025-03-14T09:30:00Z level=INFO msg=\""))
	f.Fuzz(func(t *testing.T, msg, attr string, raw []byte) {
		ParseLine(raw, "pid")
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Warn(msg, "pid", 7, "k", attr)
		_, level, got, ok := ParseLine(buf.Bytes(), "pid")
		if !ok || level != "WARN" {
			t.Fatalf("slog line %q: ok %v level %q", buf.String(), ok, level)
		}
		want := msg
		if !strings.HasPrefix(got, want+" k=") || strings.Contains(got, "pid=") {
			t.Fatalf("slog line %q: message %q, want %q then k=", buf.String(), got, want)
		}
	})
}

func line(i int, msg string) wire.LogLine {
	return wire.LogLine{Time: time.Unix(1e9, 0).Add(time.Duration(i) * time.Millisecond), Level: "INFO", Msg: msg}
}

func TestRingBounds(t *testing.T) {
	r := NewRing()
	for i := range MaxLines + 10 {
		r.Add(line(i, "x"))
	}
	if n, _ := r.Len(); n != MaxLines {
		t.Errorf("after %d lines: %d held, want %d", MaxLines+10, n, MaxLines)
	}
	r = NewRing()
	big := strings.Repeat("é", wire.MaxLogLineSize) // 2 bytes each: cut on a boundary
	for i := range 400 {
		r.Add(line(i, big))
	}
	n, b := r.Len()
	if b > MaxBytes || n == 0 {
		t.Errorf("big lines: %d lines of %d bytes, want at most %d bytes", n, b, MaxBytes)
	}
	var batch wire.LogBatch
	r.batch(&batch, time.Time{}, wire.MaxLogLines, 1<<30)
	for _, l := range batch.Lines {
		if len(l.Msg) > wire.MaxLogLineSize || !strings.HasPrefix(big, l.Msg) {
			t.Fatalf("a line of %d bytes was kept as %d bytes, not cut on a character", len(big), len(l.Msg))
		}
	}
	if batch.Dropped != uint64(400-n) {
		t.Errorf("dropped %d, want %d", batch.Dropped, 400-n)
	}
}

func TestRingTimesIncrease(t *testing.T) {
	r := NewRing()
	at := time.Unix(1e9, 0)
	for i := range 5 {
		r.Add(wire.LogLine{Time: at, Msg: fmt.Sprint(i)}) // the same time (ms-precision logs)
	}
	r.Add(wire.LogLine{Time: at.Add(-time.Hour), Msg: "earlier"})
	var b wire.LogBatch
	r.batch(&b, time.Time{}, 100, 1<<30)
	for i := 1; i < len(b.Lines); i++ {
		if !b.Lines[i].Time.After(b.Lines[i-1].Time) {
			t.Fatalf("line %d at %v not after line %d at %v", i, b.Lines[i].Time, i-1, b.Lines[i-1].Time)
		}
	}
	// Following from the third line gets the rest, once.
	var next wire.LogBatch
	r.batch(&next, b.Lines[2].Time, 100, 1<<30)
	if len(next.Lines) != 3 || next.Lines[0].Msg != "3" {
		t.Errorf("after line 2: %v", next.Lines)
	}
}

func TestAnswer(t *testing.T) {
	s := NewSet()
	m := s.Module("orders")
	for i := range 300 {
		m.Add(line(i, fmt.Sprintf("line %d", i)))
	}
	s.Agent().Add(line(0, "agent"))
	for _, tc := range []struct {
		name  string
		req   wire.LogRequest
		first string
		n     int
		more  bool
	}{
		{"all", wire.LogRequest{ID: "1", Module: "orders"}, "line 0", 300, false},
		{"max", wire.LogRequest{ID: "1", Module: "orders", Max: 10}, "line 0", 10, true},
		{"since", wire.LogRequest{ID: "1", Module: "orders", Since: line(289, "").Time}, "line 290", 10, false},
		{"since the last", wire.LogRequest{ID: "1", Module: "orders", Since: line(299, "").Time}, "", 0, false},
		{"agent", wire.LogRequest{ID: "1"}, "agent", 1, false},
		{"unknown module", wire.LogRequest{ID: "1", Module: "nope"}, "", 0, false},
	} {
		b := s.Answer(tc.req)
		if len(b.Lines) != tc.n || b.More != tc.more || (tc.n > 0 && b.Lines[0].Msg != tc.first) {
			t.Errorf("%s: %d lines (first %v), more %v; want %d from %q, more %v", tc.name, len(b.Lines), b.Lines[:min(1, len(b.Lines))], b.More, tc.n, tc.first, tc.more)
		}
	}
}

// TestAnswerFitsReport: a batch of the largest lines stays within
// wire.MaxReportSize and says there is more.
func TestAnswerFitsReport(t *testing.T) {
	s := NewSet()
	m := s.Module("orders")
	worst := strings.Repeat("\x01", wire.MaxLogLineSize) // JSON-escaped as \u0001: 6 bytes each
	for i := range MaxLines {
		m.Add(line(i, worst))
	}
	b := s.Answer(wire.LogRequest{ID: strings.Repeat("i", 64), Module: "orders"})
	b.Device = strings.Repeat("d", 63)
	enc, err := json.Marshal(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(enc) > wire.MaxReportSize || !b.More || len(b.Lines) == 0 {
		t.Errorf("batch of %d lines: %d bytes (limit %d), more %v", len(b.Lines), len(enc), wire.MaxReportSize, b.More)
	}
}

func TestWriter(t *testing.T) {
	r := NewRing()
	w := NewWriter(r, "1.0.0", "worker", "pid")
	now := time.Unix(2e9, 0)
	w.now = func() time.Time { return now }
	w.last = now
	fmt.Fprintf(w, "time=2025-03-14T09:30:00Z level=INFO msg=\"order created\" worker=orders@1.0.0 pid=7 source=guest\n")
	w.Write([]byte("panic: boom\ngoroutine 1 [running]:\n"))
	var b wire.LogBatch
	r.batch(&b, time.Time{}, 100, 1<<30)
	want := []string{"INFO order created source=guest", "ERROR panic: boom", "ERROR goroutine 1 [running]:"}
	if len(b.Lines) != len(want) {
		t.Fatalf("lines %v, want %v", b.Lines, want)
	}
	for i, l := range b.Lines {
		if got := l.Level + " " + l.Msg; got != want[i] || l.Version != "1.0.0" {
			t.Errorf("line %d = %q (version %q), want %q", i, got, l.Version, want[i])
		}
	}
	// A storm: the burst is kept, the rest counted; then the rate refills.
	r2 := NewRing()
	w2 := NewWriter(r2, "")
	w2.now = func() time.Time { return now }
	w2.last = now
	for range Burst + 50 {
		w2.Line([]byte("time=2025-03-14T09:30:00Z level=INFO msg=x"))
	}
	if n, _ := r2.Len(); w2.Dropped() != 50 || n != min(Burst, MaxLines) {
		t.Errorf("storm: dropped %d, held %d; want 50 dropped", w2.Dropped(), n)
	}
	now = now.Add(time.Second)
	w2.Line([]byte("time=2025-03-14T09:30:01Z level=INFO msg=later"))
	if w2.Dropped() != 50 {
		t.Errorf("a line after a second of quiet was dropped")
	}
	// Raw output beyond MaxRawLines is counted, not kept.
	w3 := NewWriter(NewRing(), "")
	for range MaxRawLines + 7 {
		w3.Line([]byte("\tat some frame"))
	}
	if w3.Dropped() != 7 {
		t.Errorf("raw lines dropped %d, want 7", w3.Dropped())
	}
}

func TestSetBound(t *testing.T) {
	s := NewSet()
	for i := range MaxRings + 5 {
		s.Module(fmt.Sprint("m", i)).Add(line(i, "x"))
		time.Sleep(time.Millisecond)
	}
	s.mu.Lock()
	n := len(s.modules)
	_, first := s.modules["m0"]
	_, last := s.modules[fmt.Sprint("m", MaxRings+4)]
	s.mu.Unlock()
	if n != MaxRings || first || !last {
		t.Errorf("%d rings (m0 kept %v, newest kept %v), want %d, the oldest forgotten", n, first, last, MaxRings)
	}
}
