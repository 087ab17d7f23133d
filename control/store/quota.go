package store

import (
	"context"
	"fmt"
	"sync"
)

// quota bounds the bytes of blobs on disk (raw and encoded), counting the
// uploads in progress as they write: a flood of uploads is refused when
// it reaches the limit, not after it has filled the disk.
type quota struct {
	mu    sync.Mutex
	limit int64 // 0: no limit
	used  int64 // stored blobs
	held  int64 // written by uploads in progress
}

func (q *quota) take(n int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.limit > 0 && q.used+q.held+n > q.limit {
		return fmt.Errorf("%w: %d bytes stored and %d being uploaded, limit %d", ErrQuota, q.used, q.held, q.limit)
	}
	q.held += n
	return nil
}

func (q *quota) release(n int64) {
	q.mu.Lock()
	q.held -= n
	q.mu.Unlock()
}

func (q *quota) commit(n int64) {
	q.mu.Lock()
	q.held -= n
	q.used += n
	q.mu.Unlock()
}

func (q *quota) free(n int64) {
	q.mu.Lock()
	q.used -= n
	q.mu.Unlock()
}

// load reads the bytes stored from the database.
func (q *quota) load(ctx context.Context, s *Store) error {
	var used int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(size + stored), 0) FROM blobs`).Scan(&used); err != nil {
		return fmt.Errorf("blob usage: %w", err)
	}
	q.mu.Lock()
	q.used = used
	q.mu.Unlock()
	return nil
}

// BlobUsage is the space blobs take: stored, and held by uploads in
// progress, against the quota (0: none).
type BlobUsage struct {
	Stored, Uploading, Quota int64
}

// BlobUsage returns the space blobs take.
func (s *Store) BlobUsage() BlobUsage {
	s.quota.mu.Lock()
	defer s.quota.mu.Unlock()
	return BlobUsage{Stored: s.quota.used, Uploading: s.quota.held, Quota: s.quota.limit}
}
