package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/edgeplane/edge/wire"
)

// History resolutions and how long each is kept: 1-minute points for a
// day, 15-minute points for two weeks. A 15-minute point is the sum of the
// 1-minute points of its window, made once the window has closed.
const (
	StepMinute    = 60
	StepQuarter   = 900
	KeepMinute    = 24 * time.Hour
	KeepQuarter   = 14 * 24 * time.Hour
	historyFleet  = "" // device of a fleet row: one module summed over devices
	historyDevice = "" // module of a device row: the agent's own figures
)

// Buckets is the number of latency histogram counts of a point
// (wire.LatencyBuckets and the overflow bucket).
const Buckets = 15

// Counts is what one history point adds up. Counters are the increase
// over the point; Seconds is the time those increases cover (the sum of
// the intervals between the reports they came from), so a rate is a
// counter over Seconds. RSS is averaged over the samples (RSSSum/RSSN).
type Counts struct {
	Seconds  float64
	Requests int64
	R2xx     int64
	R4xx     int64
	R5xx     int64
	Traps    int64
	Timeouts int64
	Latency  [Buckets]int64 // per bucket, not cumulative
	LatSum   float64        // seconds
	RSSSum   float64        // bytes × samples
	RSSN     int64
	CPU      float64 // CPU seconds used over the point
}

// Add adds o to c.
func (c *Counts) Add(o *Counts) {
	c.Seconds += o.Seconds
	c.Requests += o.Requests
	c.R2xx += o.R2xx
	c.R4xx += o.R4xx
	c.R5xx += o.R5xx
	c.Traps += o.Traps
	c.Timeouts += o.Timeouts
	for i := range c.Latency {
		c.Latency[i] += o.Latency[i]
	}
	c.LatSum += o.LatSum
	c.RSSSum += o.RSSSum
	c.RSSN += o.RSSN
	c.CPU += o.CPU
}

// Point turns the sums into a wire.HistoryPoint starting at t.
func (c *Counts) Point(t time.Time) wire.HistoryPoint {
	p := wire.HistoryPoint{Time: t.UTC()}
	if c.Seconds > 0 {
		p.Requests = float64(c.Requests) / c.Seconds
		p.Errors = float64(c.R5xx) / c.Seconds
		p.ClientErr = float64(c.R4xx) / c.Seconds
		p.CPU = c.CPU / c.Seconds
	}
	h := wire.Histogram{Counts: make([]uint64, Buckets), Sum: c.LatSum}
	for i, n := range c.Latency {
		h.Counts[i] = uint64(max(n, 0))
	}
	p.P50, p.P99 = h.Quantile(0.5), h.Quantile(0.99)
	if c.RSSN > 0 {
		p.RSSBytes = int64(c.RSSSum / float64(c.RSSN))
	}
	return p
}

// HistoryRow is one point of one series: a (device, module) pair, a
// device's agent (Module ""), or a module across the fleet (Device "").
type HistoryRow struct {
	Device, Module string
	Time           time.Time // start of the minute
	Counts
}

// LatestMetrics is a device's latest report and when it arrived.
type LatestMetrics struct {
	Metrics  *wire.Metrics
	Received time.Time
}

// countColumns are the columns of Counts, in scan order.
var countColumns = func() []string {
	cols := []string{"seconds", "requests", "r2xx", "r4xx", "r5xx", "traps", "timeouts"}
	for i := range Buckets {
		cols = append(cols, fmt.Sprintf("b%d", i))
	}
	return append(cols, "lat_sum", "rss_sum", "rss_n", "cpu")
}()

// historySchema is created with the rest of the schema. Portable SQL
// (SQLite today, MySQL later): no upserts, no AUTOINCREMENT, integer
// arithmetic with % only. Rows of one (device, module, step, ts) may
// repeat (a restart within a minute writes it twice): readers sum them.
var historySchema = func() string {
	var b strings.Builder
	b.WriteString(`CREATE TABLE IF NOT EXISTS history (
	device  VARCHAR(64) NOT NULL,
	module  VARCHAR(64) NOT NULL,
	step    BIGINT NOT NULL,
	ts      BIGINT NOT NULL`)
	for _, c := range countColumns {
		typ := "BIGINT"
		if c == "seconds" || c == "lat_sum" || c == "rss_sum" || c == "cpu" {
			typ = "DOUBLE PRECISION"
		}
		fmt.Fprintf(&b, ",\n\t%s %s NOT NULL DEFAULT 0", c, typ)
	}
	b.WriteString(`
);
CREATE INDEX IF NOT EXISTS history_series ON history(device, module, step, ts);
CREATE INDEX IF NOT EXISTS history_age ON history(step, ts);
CREATE TABLE IF NOT EXISTS history_rollup (
	step BIGINT PRIMARY KEY,
	done BIGINT NOT NULL   -- unix seconds: windows before this are rolled up
);
`)
	return b.String()
}()

// sumColumns sums every column of Counts.
var sumColumns = "SUM(" + strings.Join(countColumns, "), SUM(") + ")"

func (c *Counts) args() []any {
	a := []any{c.Seconds, c.Requests, c.R2xx, c.R4xx, c.R5xx, c.Traps, c.Timeouts}
	for _, n := range c.Latency {
		a = append(a, n)
	}
	return append(a, c.LatSum, c.RSSSum, c.RSSN, c.CPU)
}

func (c *Counts) dest() []any {
	d := []any{&c.Seconds, &c.Requests, &c.R2xx, &c.R4xx, &c.R5xx, &c.Traps, &c.Timeouts}
	for i := range c.Latency {
		d = append(d, &c.Latency[i])
	}
	return append(d, &c.LatSum, &c.RSSSum, &c.RSSN, &c.CPU)
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// FlushMetrics writes, in one transaction, the history rows of closed
// minutes (1-minute resolution), the devices' latest reports, the
// 15-minute points of every window that closed before flushedTo, and
// removes points past their retention. flushedTo is the time up to which
// every 1-minute row has now been written.
func (s *Store) FlushMetrics(ctx context.Context, rows []HistoryRow, latest []LatestMetrics, flushedTo time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.flushTx(ctx, tx, rows, latest, flushedTo) })
}

func (s *Store) flushTx(ctx context.Context, tx *sql.Tx, rows []HistoryRow, latest []LatestMetrics, flushedTo time.Time) error {
	if len(rows) > 0 {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO history(device, module, step, ts, `+strings.Join(countColumns, ", ")+
			`) VALUES(`+placeholders(4+len(countColumns))+`)`)
		if err != nil {
			return fmt.Errorf("flush metrics: %w", err)
		}
		defer ins.Close()
		for i := range rows {
			r := &rows[i]
			args := append([]any{r.Device, r.Module, StepMinute, r.Time.Unix() - r.Time.Unix()%StepMinute}, r.Counts.args()...)
			if _, err := ins.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("flush metrics: history of %q/%q: %w", r.Device, r.Module, err)
			}
		}
	}
	if err := s.putLatest(ctx, tx, latest); err != nil {
		return err
	}
	if err := s.rollup(ctx, tx, flushedTo); err != nil {
		return err
	}
	return pruneHistory(ctx, tx, flushedTo)
}

func (s *Store) putLatest(ctx context.Context, tx *sql.Tx, latest []LatestMetrics) error {
	if len(latest) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, s.putMetricsSQL())
	if err != nil {
		return fmt.Errorf("flush metrics: %w", err)
	}
	defer st.Close()
	for _, l := range latest {
		b, err := marshalMetrics(l.Metrics)
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, l.Metrics.Device, nanos(l.Received), b); err != nil {
			return fmt.Errorf("flush metrics: latest of %s: %w", l.Metrics.Device, err)
		}
	}
	return nil
}

// rollup makes the 15-minute points of every window that ends at or
// before flushedTo and was not rolled up yet.
func (s *Store) rollup(ctx context.Context, tx *sql.Tx, flushedTo time.Time) error {
	end := flushedTo.Unix() - flushedTo.Unix()%StepQuarter // windows before end are complete
	var done int64
	err := tx.QueryRowContext(ctx, `SELECT done FROM history_rollup WHERE step = ?`+s.engine.forUpdate(), StepQuarter).Scan(&done)
	if errors.Is(err, sql.ErrNoRows) {
		// First flush: start with the oldest minute kept.
		var oldest sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MIN(ts) FROM history WHERE step = ?`, StepMinute).Scan(&oldest); err != nil {
			return fmt.Errorf("rollup: %w", err)
		}
		done = end
		if oldest.Valid {
			done = min(end, oldest.Int64-oldest.Int64%StepQuarter)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO history_rollup(step, done) VALUES(?, ?)`, StepQuarter, done); err != nil {
			return fmt.Errorf("rollup: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("rollup: %w", err)
	}
	q := `INSERT INTO history(device, module, step, ts, ` + strings.Join(countColumns, ", ") + `)
		SELECT device, module, ?, ?, ` + sumColumns + ` FROM history
		WHERE step = ? AND ts >= ? AND ts < ? GROUP BY device, module`
	// Window by window, skipping empty ones (a controller that was down
	// for days does not roll up nothing a thousand times).
	for {
		var next sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MIN(ts) FROM history WHERE step = ? AND ts >= ?`, StepMinute, done).Scan(&next); err != nil {
			return fmt.Errorf("rollup: %w", err)
		}
		if !next.Valid {
			done = max(done, end)
			break
		}
		w := next.Int64 - next.Int64%StepQuarter
		if w+StepQuarter > end {
			done = max(done, w)
			break
		}
		if _, err := tx.ExecContext(ctx, q, StepQuarter, w, StepMinute, w, w+StepQuarter); err != nil {
			return fmt.Errorf("rollup window %d: %w", w, err)
		}
		done = w + StepQuarter
	}
	if _, err := tx.ExecContext(ctx, `UPDATE history_rollup SET done = ? WHERE step = ?`, done, StepQuarter); err != nil {
		return fmt.Errorf("rollup: %w", err)
	}
	return nil
}

func pruneHistory(ctx context.Context, tx *sql.Tx, now time.Time) error {
	for _, k := range []struct {
		step int64
		keep time.Duration
	}{{StepMinute, KeepMinute}, {StepQuarter, KeepQuarter}} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM history WHERE step = ? AND ts < ?`, k.step, now.Add(-k.keep).Unix()); err != nil {
			return fmt.Errorf("prune history: %w", err)
		}
	}
	return nil
}

// HistoryBucket is the sum of the rows of one step.
type HistoryBucket struct {
	Time time.Time
	Counts
}

// ErrHistoryRange is returned for a since/step the history cannot answer.
var ErrHistoryRange = errors.New("history range")

// MaxHistoryPoints bounds the points of one History answer.
const MaxHistoryPoints = 2000

// History returns the points of one series from since, step seconds
// apart (a multiple of StepMinute within KeepMinute, of StepQuarter
// beyond), oldest first; steps without rows are left out. device ""
// selects the fleet rows of module, module "" the device's agent rows.
func (s *Store) History(ctx context.Context, device, module string, since time.Time, step int64, now time.Time) ([]HistoryBucket, error) {
	if step <= 0 || step%StepMinute != 0 {
		return nil, fmt.Errorf("%w: step %ds: want a multiple of %d s", ErrHistoryRange, step, StepMinute)
	}
	if since.Before(now.Add(-KeepQuarter)) {
		since = now.Add(-KeepQuarter)
	}
	from := since.Unix() - since.Unix()%step
	if n := (now.Unix() - from) / step; n > MaxHistoryPoints {
		return nil, fmt.Errorf("%w: %d points from %s at %ds steps, at most %d", ErrHistoryRange, n, since.UTC().Format(time.RFC3339), step, MaxHistoryPoints)
	}
	// Within the day of 1-minute points they answer at any step; beyond
	// it, 15-minute points answer up to where the 1-minute ones were
	// rolled up, and the 1-minute ones after that.
	minuteFrom := from
	if from < now.Add(-KeepMinute).Unix() {
		if step%StepQuarter != 0 {
			return nil, fmt.Errorf("%w: step %ds beyond the last %s: want a multiple of %d s", ErrHistoryRange, step, KeepMinute, StepQuarter)
		}
		var done sql.NullInt64
		if err := s.db.QueryRowContext(ctx, `SELECT done FROM history_rollup WHERE step = ?`, StepQuarter).Scan(&done); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("history: %w", err)
		}
		minuteFrom = max(from, done.Int64)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT ts - ts % ? AS t, `+sumColumns+` FROM history
		WHERE device = ? AND module = ? AND ((step = ? AND ts >= ?) OR (step = ? AND ts >= ? AND ts < ?))
		GROUP BY t ORDER BY t`,
		step, device, module, StepMinute, minuteFrom, StepQuarter, from, minuteFrom)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	var out []HistoryBucket
	for rows.Next() {
		var b HistoryBucket
		var t int64
		if err := rows.Scan(append([]any{&t}, b.Counts.dest()...)...); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		b.Time = time.Unix(t, 0).UTC()
		out = append(out, b)
	}
	return out, rows.Err()
}
