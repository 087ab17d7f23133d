package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/edgeplane/edge/wire"
)

// Device events: the deployment steps each device reported, newest kept
// per device (KeepEvents) for its detail page and for what the controller
// derives from them (the serving version when the status lags). received
// is the controller's arrival time, strictly increasing (the caller's
// job), so it orders and keys a device's events.
const eventSchema = `
CREATE TABLE IF NOT EXISTS device_events (
	device   VARCHAR(64) NOT NULL,
	received BIGINT NOT NULL,      -- unix nanoseconds, controller clock
	state    VARCHAR(32) NOT NULL,
	event    TEXT NOT NULL,        -- JSON wire.Event
	PRIMARY KEY (device, received)
);
CREATE INDEX IF NOT EXISTS device_events_age ON device_events(received);
`

// KeepEvents bounds the events kept per device; events older than
// KeepQuarter go too.
const KeepEvents = 200

// FailedStates are the states of an event that failed.
var FailedStates = []string{wire.StateRejected, wire.StateFailed, wire.StateRolledBack}

// AddEvent records one event of a device, received at received (strictly
// after the device's previous one).
func (s *Store) AddEvent(ctx context.Context, ev *wire.Event, received time.Time) error {
	return addEvent(ctx, s.db, ev, received)
}

func addEvent(ctx context.Context, ex execer, ev *wire.Event, received time.Time) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("event of %s: %w", ev.Device, err)
	}
	if _, err := ex.ExecContext(ctx, `INSERT INTO device_events(device, received, state, event) VALUES(?,?,?,?)`,
		ev.Device, nanos(received), ev.State, string(b)); err != nil {
		return fmt.Errorf("event of %s: %w", ev.Device, err)
	}
	return nil
}

// PruneEvents keeps the newest KeepEvents events of device, and removes
// every device's events received before cutoff.
func (s *Store) PruneEvents(ctx context.Context, device string, cutoff time.Time) error {
	var oldest int64
	err := s.db.QueryRowContext(ctx, `SELECT received FROM device_events WHERE device = ?
		ORDER BY received DESC LIMIT 1 OFFSET ?`, device, KeepEvents-1).Scan(&oldest)
	if err == nil {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM device_events WHERE device = ? AND received < ?`, device, oldest); err != nil {
			return fmt.Errorf("prune events of %s: %w", device, err)
		}
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM device_events WHERE received < ?`, nanos(cutoff)); err != nil {
		return fmt.Errorf("prune events: %w", err)
	}
	return nil
}

// StoredEvent is an event with its arrival time.
type StoredEvent struct {
	Event    wire.Event
	Received time.Time
}

// Events returns up to limit events of device, newest first; with failed,
// only those in FailedStates.
func (s *Store) Events(ctx context.Context, device string, limit int, failed bool) ([]StoredEvent, error) {
	q := `SELECT received, event FROM device_events WHERE device = ?`
	args := []any{device}
	if failed {
		q += ` AND state IN (` + placeholders(len(FailedStates)) + `)`
		for _, st := range FailedStates {
			args = append(args, st)
		}
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY received DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("events of %s: %w", device, err)
	}
	defer rows.Close()
	return scanEvents(rows)
}

// AllEvents returns every stored event, oldest first per device, devices
// in order: what the controller replays at start to derive its view.
func (s *Store) AllEvents(ctx context.Context) ([]StoredEvent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT received, event FROM device_events ORDER BY device, received`)
	if err != nil {
		return nil, fmt.Errorf("all events: %w", err)
	}
	defer rows.Close()
	return scanEvents(rows)
}

func scanEvents(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
}) ([]StoredEvent, error) {
	out := []StoredEvent{}
	for rows.Next() {
		var e StoredEvent
		var received int64
		var text string
		if err := rows.Scan(&received, &text); err != nil {
			return nil, fmt.Errorf("events: %w", err)
		}
		if err := wire.Decode([]byte(text), &e.Event); err != nil {
			return nil, fmt.Errorf("events: %w", err)
		}
		e.Received = fromNanos(received)
		out = append(out, e)
	}
	return out, rows.Err()
}

// IsFailed reports whether state is one of FailedStates.
func IsFailed(state string) bool { return slices.Contains(FailedStates, state) }
