package wasmhost

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/modules/abi"
)

// Commands of the hostcalls guest beyond helpers_test.go's.
const (
	opWrite = 6 // fd_write(fd=cap, payload)
	opTrap  = 7
)

// logRecord is one JSON log record.
type logRecord map[string]any

func jsonLogger(w *syncBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func parseRecords(t *testing.T, out string) []logRecord {
	t.Helper()
	var recs []logRecord
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r logRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

func guestRecords(recs []logRecord) []logRecord {
	var out []logRecord
	for _, r := range recs {
		if r["source"] == "guest" {
			out = append(out, r)
		}
	}
	return out
}

// TestGuestOutputWholeLines writes a crash report to stderr piece by piece,
// as the Go runtime prints "runtime: out of memory", and traps: the log
// gets one record holding the whole report, not one per write.
func TestGuestOutputWholeLines(t *testing.T) {
	pieces := []string{"runtime: out of memory: cannot allocate ", "1048576", "-byte block (", "134217728 in use)\n",
		"fatal error: out of memory\n\n", "goroutine 1 gp=0x1 m=0 [running]:\n", "runtime.throw(", "{0x1, 0x2})\n",
		"\t/usr/local/go/src/runtime/panic.go:1094 +0x5\n"}
	want := strings.TrimRight(strings.Join(pieces, ""), "\n")
	for _, kind := range engines {
		t.Run(kind.String(), func(t *testing.T) {
			logs := &syncBuffer{}
			m := load(t, newTestEngine(t, kind), "hostcalls", Config{PoolSize: 1, Logger: jsonLogger(logs)})
			var body []byte
			for _, p := range pieces {
				body = append(body, cmd(opWrite, 2, []byte(p))...)
			}
			body = append(body, cmd(opTrap, 0, nil)...)
			if _, err := serveBody(m, body); !isErr(err, ErrTrap) {
				t.Fatalf("Serve = %v, want ErrTrap", err)
			}
			got := guestRecords(parseRecords(t, logs.String()))
			if len(got) != 1 {
				t.Fatalf("%d guest records, want 1: %v", len(got), got)
			}
			if got[0]["msg"] != want || got[0]["stream"] != "stderr" || got[0]["level"] != "WARN" {
				t.Errorf("record = %v, want msg %q on stderr at WARN", got[0], want)
			}
		})
	}
}

// TestLogWriterLines drives the line buffer directly with writes of every
// shape: pieces of a line, several lines per write, a partial last line,
// lines longer than a record and output larger than one record.
func TestLogWriterLines(t *testing.T) {
	long := strings.Repeat("x", maxLogRecord+100)
	line := strings.Repeat("y", 1000) + "\n"
	tests := []struct {
		name   string
		writes []string
		want   []string // records
		cut    []bool   // records marked truncated
	}{
		{"pieces of one line", []string{"a", "b", "c\n"}, []string{"abc"}, nil},
		{"lines of one call are one record", []string{"one\ntwo\n", "three\n"}, []string{"one\ntwo\nthree"}, nil},
		{"partial last line", []string{"done\nno newline"}, []string{"done\nno newline"}, nil},
		{"empty writes and blank output", []string{"", "\n\n"}, nil, nil},
		{"a line longer than a record is cut", []string{long, "\nnext\n"},
			[]string{long[:maxLogRecord], "next"}, []bool{true, false}},
		{"more than a record: whole lines per record", []string{strings.Repeat(line, 20)},
			[]string{strings.TrimSuffix(strings.Repeat(line, 16), "\n"), strings.TrimSuffix(strings.Repeat(line, 4), "\n")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := &syncBuffer{}
			log := jsonLogger(out)
			lim := Limits{}.withDefaults()
			w := newLogWriter(log, newLogLimiter(log, &lim), "stdout", slog.LevelInfo)
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			w.flush()
			recs := parseRecords(t, out.String())
			if len(recs) != len(tt.want) {
				t.Fatalf("%d records, want %d: %v", len(recs), len(tt.want), recs)
			}
			for i, r := range recs {
				if r["msg"] != tt.want[i] {
					t.Errorf("record %d = %.60q..., want %.60q...", i, r["msg"], tt.want[i])
				}
				cut := tt.cut != nil && tt.cut[i]
				if (r["truncated"] == true) != cut {
					t.Errorf("record %d truncated = %v, want %v", i, r["truncated"], cut)
				}
			}
		})
	}
}

// TestGuestLogLimit: a guest that logs in a loop, through the log import
// and through stdout, gets its budget and no more; what was dropped is
// reported with its count.
func TestGuestLogLimit(t *testing.T) {
	const loops = 3000
	for _, kind := range engines {
		t.Run(kind.String(), func(t *testing.T) {
			logs := &syncBuffer{}
			lim := Limits{LogRecordsPerSecond: 20, LogBytesPerSecond: 4 << 10, LogBurst: time.Second, LogReportInterval: 50 * time.Millisecond}
			m := load(t, newTestEngine(t, kind), "hostcalls", Config{PoolSize: 1, Logger: jsonLogger(logs), Limits: lim})
			var body []byte
			for i := range loops {
				body = append(body, cmd(opLog, uint32(abi.LevelInfo), fmt.Appendf(nil, "log loop %d", i))...)
			}
			// 64 KiB on stdout in one call: four records of whole lines,
			// over the byte budget.
			body = append(body, cmd(opWrite, 1, []byte(strings.Repeat(strings.Repeat("z", 1023)+"\n", 64)))...)
			start := time.Now()
			if _, err := serveBody(m, body); err != nil {
				t.Fatal(err)
			}
			elapsed := time.Since(start)
			var dropped float64
			waitFor(t, "the drop report", func() bool {
				dropped = 0
				for _, r := range parseRecords(t, logs.String()) {
					if n, ok := r["dropped_records"].(float64); ok {
						dropped += n
					}
				}
				return dropped > 0
			})
			time.Sleep(100 * time.Millisecond) // a second report, if any
			recs := parseRecords(t, logs.String())
			kept := len(guestRecords(recs))
			dropped = 0
			for _, r := range recs {
				if n, ok := r["dropped_records"].(float64); ok {
					dropped += n
				}
			}
			// The burst (20) plus what the rate refills while the call runs.
			maxKept := 20 + int(20*elapsed.Seconds()) + 1
			if kept > maxKept {
				t.Errorf("%d guest records kept, want at most %d", kept, maxKept)
			}
			if total := kept + int(dropped); total != loops+4 {
				t.Errorf("kept %d + dropped %v = %d, want every record accounted for (%d)", kept, dropped, total, loops+4)
			}
			if got := m.Stats().LogsDropped; got != uint64(dropped) {
				t.Errorf("Stats().LogsDropped = %d, want the %v reported", got, dropped)
			}
		})
	}
}
