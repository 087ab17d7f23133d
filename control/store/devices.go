package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/edgeplane/edge/wire"
)

// PutStatus records a device's status report, seen at now. An online
// status older (by the agent's clock) than the one stored is left out:
// with several controllers taking a device's reports from one shared
// subscription, two of its statuses may be stored out of order. An offline
// status (a Last Will, which carries the time its session began, or a
// clean stop), or one without a time, always applies.
func (s *Store) PutStatus(ctx context.Context, st *wire.Status, now time.Time) error {
	return s.putStatus(ctx, s.db, st, now)
}

// Report is a status or an event (one of the two) as it arrived, and the
// deployment progress it reports.
type Report struct {
	Status   *wire.Status
	Event    *wire.Event
	Received time.Time
	Progress []StateChange
}

// StateChange is a device's progress in a deployment, as SetDeviceState
// records it.
type StateChange struct {
	Deployment, Device, State, Reason string
}

// PutReports stores reports in their order, each as PutStatus or AddEvent
// does, with the progress it reports as SetDeviceState records it (at the
// report's arrival), all in one transaction: one commit (one fsync on
// SQLite) for the reports of many devices.
func (s *Store) PutReports(ctx context.Context, reports []Report) error {
	if len(reports) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, r := range reports {
			var err error
			switch {
			case r.Status != nil:
				err = s.putStatus(ctx, tx, r.Status, r.Received)
			case r.Event != nil:
				err = addEvent(ctx, tx, r.Event, r.Received)
			}
			if err != nil {
				return err
			}
			for _, c := range r.Progress {
				if _, err := setDeviceState(ctx, tx, c.Deployment, c.Device, c.State, c.Reason, r.Received); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (s *Store) putStatus(ctx context.Context, ex execer, st *wire.Status, now time.Time) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("status of %s: %w", st.Device, err)
	}
	if st.Online && !st.Time.IsZero() {
		return s.putOnline(ctx, ex, st, string(b), now)
	}
	_, err = ex.ExecContext(ctx, s.engine.upsert("devices", []string{"id"},
		[]string{"id", "online", "last_seen", "status"}, []string{"online", "last_seen", "status"}),
		st.Device, st.Online, nanos(now), string(b))
	if err != nil {
		return fmt.Errorf("status of %s: %w", st.Device, err)
	}
	return nil
}

// putOnline records an online status unless a newer one is stored.
func (s *Store) putOnline(ctx context.Context, ex execer, st *wire.Status, status string, now time.Time) error {
	at := nanos(st.Time)
	res, err := ex.ExecContext(ctx, `UPDATE devices SET online = ?, last_seen = ?, status = ?, reported = ? WHERE id = ? AND reported <= ?`,
		true, nanos(now), status, at, st.Device, at)
	if err != nil {
		return fmt.Errorf("status of %s: %w", st.Device, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	// No row yet, or a newer status in it (then this does nothing).
	if _, err := ex.ExecContext(ctx, s.engine.insertIgnore("devices", []string{"id"}, []string{"id", "online", "last_seen", "status", "reported"}),
		st.Device, true, nanos(now), status, at); err != nil {
		return fmt.Errorf("status of %s: %w", st.Device, err)
	}
	return nil
}

func (s *Store) putMetricsSQL() string {
	return s.engine.upsert("devices", []string{"id"}, []string{"id", "last_seen", "metrics"}, []string{"last_seen", "metrics"})
}

func marshalMetrics(m *wire.Metrics) (string, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("metrics of %s: %w", m.Device, err)
	}
	return string(b), nil
}

// PutMetrics records a device's metrics report, seen at now. The
// controller's ingest writes reports in batches (FlushMetrics); this is
// for one report.
func (s *Store) PutMetrics(ctx context.Context, m *wire.Metrics, now time.Time) error {
	b, err := marshalMetrics(m)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, s.putMetricsSQL(), m.Device, nanos(now), b); err != nil {
		return fmt.Errorf("metrics of %s: %w", m.Device, err)
	}
	return nil
}

// deviceQuery lists every device that reported or was registered.
const deviceQuery = `SELECT id, online, last_seen, status, metrics FROM devices
	UNION ALL SELECT id, 0, 0, NULL, NULL FROM credentials WHERE id NOT IN (SELECT id FROM devices)`

// deviceStatusQuery is deviceQuery without the metrics reports.
const deviceStatusQuery = `SELECT id, online, last_seen, status, NULL FROM devices
	UNION ALL SELECT id, 0, 0, NULL, NULL FROM credentials WHERE id NOT IN (SELECT id FROM devices)`

// Devices returns the inventory, ordered by id. Registered devices that
// never reported are listed offline.
func (s *Store) Devices(ctx context.Context) ([]wire.Device, error) {
	return s.devices(ctx, deviceQuery)
}

// DeviceStatuses is Devices without the latest metrics reports (Metrics
// nil): what targeting reads. A report, with its histograms, is most of
// a device's row; measured with 10,000 devices, leaving it out halves
// the time of a plan (control/fleet's TestPlanLargeFleet).
func (s *Store) DeviceStatuses(ctx context.Context) ([]wire.Device, error) {
	return s.devices(ctx, deviceStatusQuery)
}

func (s *Store) devices(ctx context.Context, query string) ([]wire.Device, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT * FROM (`+query+`) AS d ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	out := []wire.Device{}
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("list devices: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Device returns one device, or ErrNotFound.
func (s *Store) Device(ctx context.Context, id string) (wire.Device, error) {
	d, err := scanDevice(s.db.QueryRowContext(ctx, `SELECT * FROM (`+deviceQuery+`) AS d WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("device %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("device %s: %w", id, err)
	}
	return d, nil
}

func scanDevice(r interface{ Scan(...any) error }) (wire.Device, error) {
	var d wire.Device
	var lastSeen int64
	var status, metrics sql.NullString
	if err := r.Scan(&d.ID, &d.Online, &lastSeen, &status, &metrics); err != nil {
		return d, err
	}
	d.LastSeen = fromNanos(lastSeen)
	if status.Valid {
		d.Status = new(wire.Status)
		if err := wire.Decode([]byte(status.String), d.Status); err != nil {
			return d, fmt.Errorf("status of %s: %w", d.ID, err)
		}
	}
	if metrics.Valid {
		d.Metrics = new(wire.Metrics)
		if err := wire.Decode([]byte(metrics.String), d.Metrics); err != nil {
			return d, fmt.Errorf("metrics of %s: %w", d.ID, err)
		}
	}
	return d, nil
}
