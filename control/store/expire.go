package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/edgeplane/edge/wire"
)

// Expired is one device's part in a deployment that ExpireDeployments
// marked timed_out.
type Expired struct {
	Deployment, Device string
	Was                string // the state it had
	Reason             string
}

// ExpireDeployments marks timed_out every device whose part in a
// deployment is not terminal once the deployment's deadline has passed
// (for a deployment stored before deadlines were: created + legacy), with
// a reason that says what the controller last knew: the device never
// connected, is offline, said nothing about the deployment, or the last
// step it reported. It returns what it marked.
func (s *Store) ExpireDeployments(ctx context.Context, now time.Time, legacy time.Duration) ([]Expired, error) {
	cond, args := notTerminal()
	rows, err := s.db.QueryContext(ctx, `SELECT dd.deployment, dd.device, dd.state, dd.reason, d.created, d.deadline,
			dev.online, dev.last_seen
		FROM deployment_devices dd JOIN deployments d ON d.id = dd.deployment
		LEFT JOIN devices dev ON dev.id = dd.device
		WHERE dd.`+cond+` AND (CASE WHEN d.deadline > 0 THEN d.deadline ELSE d.created + ? END) <= ?`,
		append(args, int64(legacy), nanos(now))...)
	if err != nil {
		return nil, fmt.Errorf("expire deployments: %w", err)
	}
	var due []Expired
	for rows.Next() {
		var (
			e                 Expired
			reason            string
			created, deadline int64
			online            sql.NullBool
			lastSeen          sql.NullInt64
		)
		if err := rows.Scan(&e.Deployment, &e.Device, &e.Was, &reason, &created, &deadline, &online, &lastSeen); err != nil {
			rows.Close()
			return nil, fmt.Errorf("expire deployments: %w", err)
		}
		limit := legacy
		if deadline > 0 {
			limit = time.Duration(deadline - created)
		}
		e.Reason = timeoutReason(limit, e.Was, reason, online, lastSeen)
		due = append(due, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("expire deployments: %w", err)
	}
	var out []Expired
	for _, e := range due {
		// Only if nothing was reported since it was read.
		res, err := s.db.ExecContext(ctx, `UPDATE deployment_devices SET state = ?, reason = ?, updated = ?
			WHERE deployment = ? AND device = ? AND state = ?`,
			wire.StateTimedOut, e.Reason, nanos(now), e.Deployment, e.Device, e.Was)
		if err != nil {
			return out, fmt.Errorf("expire deployment %s on %s: %w", e.Deployment, e.Device, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			out = append(out, e)
		}
	}
	return out, nil
}

// timeoutReason says why a device did not finish within limit.
func timeoutReason(limit time.Duration, state, reason string, online sql.NullBool, lastSeen sql.NullInt64) string {
	head := fmt.Sprintf("no terminal state within %s of the push", limit)
	switch {
	case !lastSeen.Valid || lastSeen.Int64 == 0:
		return head + ": the device never connected"
	case !online.Bool:
		return fmt.Sprintf("%s: the device is offline (last seen %s)", head, fromNanos(lastSeen.Int64).Format(time.RFC3339))
	case state == wire.StatePending:
		return head + ": the device is online but reported nothing about this deployment"
	case reason != "":
		return fmt.Sprintf("%s: last step reported: %s (%s)", head, state, reason)
	}
	return fmt.Sprintf("%s: last step reported: %s", head, state)
}
