package wasmhost

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared statements by query text. database/sql makes a
// *sql.Stmt safe for concurrent use and re-prepares it per connection. When
// full, an arbitrary entry is evicted: Close is safe while it is in use.
type stmtCache struct {
	db  *sql.DB
	max int
	mu  sync.Mutex
	m   map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB, max int) *stmtCache {
	return &stmtCache{db: db, max: max, m: make(map[string]*sql.Stmt)}
}

// lookup returns the cached statement for query, or nil.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[query]
}

func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	s := c.m[query]
	c.mu.Unlock()
	if s != nil {
		return s, nil
	}
	s, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[query]; old != nil { // prepared concurrently
		s.Close()
		return old, nil
	}
	if len(c.m) >= c.max {
		for q, old := range c.m {
			old.Close()
			delete(c.m, q)
			break
		}
	}
	c.m[query] = s
	return s, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, s := range c.m {
		s.Close()
		delete(c.m, q)
	}
}
