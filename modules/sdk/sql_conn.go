package sdk

import (
	"context"
	"database/sql/driver"
	"fmt"

	"github.com/edgeplane/edge/modules/abi"
)

// conn is one driver connection: a transaction id and reusable frame
// buffers. database/sql uses a connection from one goroutine at a time.
type conn struct {
	call   sqlTransport
	tx     uint32 // open transaction, 0 if none
	closed bool
	req    []byte
	res    []byte
	args   []abi.Value // DB.QueryRows' reusable argument buffer
	// The current row of DB.QueryRows' Rows, reused by the next query on
	// this connection once the Rows are closed.
	raw []abi.RawValue
	cur []field
}

var (
	_ driver.Conn               = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
)

// do sends one request and decodes its result.
//
// Errors: the host's failures become HostErrors (errors.Is against
// ErrUnavailable and the other sentinels). driver.ErrBadConn is returned
// only for a connection that was already closed, before anything was sent:
// database/sql retries ErrBadConn on another connection, and a host that
// reported "unavailable" may have run the statement, so retrying it could
// run an INSERT twice.
func (c *conn) do(ctx context.Context, r *abi.SQLRequest) (abi.SQLResult, error) {
	out, err := c.roundTrip(ctx, r)
	if err != nil {
		return abi.SQLResult{}, err
	}
	return decodeResult(r.Op, out)
}

// roundTrip sends one request and returns the raw result frame, which
// aliases c.res until the next request on c.
func (c *conn) roundTrip(ctx context.Context, r *abi.SQLRequest) ([]byte, error) {
	if c.closed {
		return nil, driver.ErrBadConn
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.req = abi.AppendSQLRequest(c.req[:0], r)
	out, err := c.call(c.req, c.res)
	if cap(out) > cap(c.res) {
		c.res = out[:0]
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// decodeResult decodes a result frame; the host's error becomes a HostError.
func decodeResult(op abi.SQLOp, out []byte) (abi.SQLResult, error) {
	res, err := abi.DecodeSQLResult(op, out)
	if err != nil {
		return abi.SQLResult{}, fmt.Errorf("edge sql: %w: %w", ErrHostCall, err)
	}
	if res.Err != nil {
		return abi.SQLResult{}, hostError("sql", res.Err)
	}
	return res, nil
}

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// PrepareContext only remembers the query: the host caches prepared
// statements by their text.
func (c *conn) PrepareContext(_ context.Context, query string) (driver.Stmt, error) {
	if c.closed {
		return nil, driver.ErrBadConn
	}
	return &stmt{c: c, query: query}, nil
}

// Close rolls back a transaction left open, then forgets the connection.
func (c *conn) Close() error {
	if c.closed {
		return nil
	}
	var err error
	if c.tx != 0 {
		err = c.endTx(abi.OpRollback)
	}
	c.closed = true
	return err
}

// IsValid lets database/sql drop a closed connection from its pool.
func (c *conn) IsValid() bool { return !c.closed }

func (c *conn) Begin() (driver.Tx, error) { return c.BeginTx(context.Background(), driver.TxOptions{}) }

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if opts.Isolation != 0 || opts.ReadOnly {
		return nil, errTxOptions
	}
	if c.tx != 0 {
		return nil, errNestedTx
	}
	res, err := c.do(ctx, &abi.SQLRequest{Op: abi.OpBegin})
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	if res.Tx == 0 {
		return nil, fmt.Errorf("begin: %w: host returned transaction id 0", ErrHostCall)
	}
	c.tx = res.Tx
	return tx{c}, nil
}

// endTx commits or rolls back. The transaction is over on the guest's side
// whatever the host answers: a host that failed to commit has rolled back
// or lost it, and a later request with the id would get ErrBadTx.
func (c *conn) endTx(op abi.SQLOp) error {
	id := c.tx
	c.tx = 0
	if id == 0 {
		return fmt.Errorf("edge sql: %w: no open transaction", ErrBadTx)
	}
	_, err := c.do(context.Background(), &abi.SQLRequest{Op: op, Tx: id})
	return err
}

type tx struct{ c *conn }

func (t tx) Commit() error {
	if err := t.c.endTx(abi.OpCommit); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (t tx) Rollback() error {
	if err := t.c.endTx(abi.OpRollback); err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	vals, err := toValues(args)
	if err != nil {
		return nil, err
	}
	res, err := c.do(ctx, &abi.SQLRequest{Op: abi.OpExec, Tx: c.tx, Query: query, Args: vals})
	if err != nil {
		return nil, err
	}
	return result{lastID: res.LastInsertID, affected: res.RowsAffected}, nil
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	vals, err := toValues(args)
	if err != nil {
		return nil, err
	}
	res, err := c.do(ctx, &abi.SQLRequest{Op: abi.OpQuery, Tx: c.tx, Query: query, Args: vals})
	if err != nil {
		return nil, err
	}
	return newRows(res.Columns, res.Rows), nil
}

type result struct{ lastID, affected int64 }

func (r result) LastInsertId() (int64, error) { return r.lastID, nil }
func (r result) RowsAffected() (int64, error) { return r.affected, nil }
