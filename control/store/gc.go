package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgeplane/edge/internal/atomicfile"
)

// CollectBlobs removes the blobs no deployment references that were
// uploaded (or uploaded again) before cutoff, and blob files with no
// database row older than cutoff (a crash between writing the files and
// recording them). It returns the digests removed and the bytes freed.
//
// A blob is referenced by every deployment that names it, whether or not
// it is still in some device's desired state: deployments are history, and
// the foreign key keeps their blobs. What this removes is what was uploaded
// and never deployed (an abandoned push, or uploads nobody meant to
// deploy).
func (s *Store) CollectBlobs(ctx context.Context, cutoff time.Time) (removed []string, freed int64, err error) {
	rows, err := s.db.QueryContext(ctx, `SELECT sha256, size + stored FROM blobs b
		WHERE created < ? AND NOT EXISTS (SELECT 1 FROM deployments d WHERE d.sha256 = b.sha256)`, nanos(cutoff))
	if err != nil {
		return nil, 0, fmt.Errorf("collect blobs: %w", err)
	}
	type cand struct {
		sha   string
		bytes int64
	}
	var cands []cand
	for rows.Next() {
		var c cand
		if err := rows.Scan(&c.sha, &c.bytes); err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("collect blobs: %w", err)
		}
		cands = append(cands, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("collect blobs: %w", err)
	}
	for _, c := range cands {
		// Checked again in the DELETE: a deployment may have named the
		// blob (or an upload refreshed it) since the query.
		res, err := s.db.ExecContext(ctx, `DELETE FROM blobs WHERE sha256 = ? AND created < ?
			AND NOT EXISTS (SELECT 1 FROM deployments d WHERE d.sha256 = ?)`, c.sha, nanos(cutoff), c.sha)
		if err != nil {
			return removed, freed, fmt.Errorf("collect blob %s: %w", c.sha, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			continue
		}
		for _, p := range []string{s.rawPath(c.sha), s.encPath(c.sha)} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return removed, freed, fmt.Errorf("collect blob %s: %w", c.sha, err)
			}
		}
		s.quota.free(c.bytes)
		removed = append(removed, c.sha)
		freed += c.bytes
	}
	orphans, err := s.removeOrphanFiles(ctx, cutoff)
	if err != nil {
		return removed, freed, err
	}
	if len(removed) > 0 || orphans > 0 {
		return removed, freed, atomicfile.SyncDir(s.blobDir)
	}
	return removed, freed, nil
}

// removeOrphanFiles removes blob files without a row, older than cutoff.
func (s *Store) removeOrphanFiles(ctx context.Context, cutoff time.Time) (int, error) {
	ents, err := os.ReadDir(s.blobDir)
	if err != nil {
		return 0, fmt.Errorf("collect blobs: %w", err)
	}
	n := 0
	for _, e := range ents {
		sha := strings.TrimSuffix(e.Name(), ".gz")
		if !e.Type().IsRegular() || !ValidDigest(sha) {
			continue // temp files are Open's business
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			continue
		}
		if _, err := s.Blob(ctx, sha); !errors.Is(err, ErrNotFound) {
			continue
		}
		if err := os.Remove(filepath.Join(s.blobDir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("collect blobs: %w", err)
		}
		n++
	}
	return n, nil
}
