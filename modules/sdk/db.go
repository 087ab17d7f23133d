package sdk

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edge/modules/abi"
)

// DB adds a direct read path to a *sql.DB. database/sql stays the general
// API (transactions, Exec, prepared statements); QueryRows is for hot reads.
//
// Over the "edge" driver (a guest), QueryRows sends the query straight to
// the host's sql import and scans values out of the result frame: no
// connection pool, no driver.Value conversion, no reflection. Over any other
// driver (the native build) it runs db.QueryContext. Both builds convert
// values to destinations with the same code, so a handler sees the same
// results in both.
type DB struct {
	db   *sql.DB
	call sqlTransport         // non-nil: db's driver is the edge driver
	idle atomic.Pointer[conn] // a direct connection kept for reuse
}

// NewDB returns db with the direct read path. db remains usable as is.
func NewDB(db *sql.DB) *DB {
	d := &DB{db: db}
	if ed, ok := db.Driver().(*sqlDriver); ok {
		d.call = ed.call
	}
	return d
}

// SQL returns the underlying *sql.DB.
func (db *DB) SQL() *sql.DB { return db.db }

// QueryRows runs a query outside any transaction and returns its rows. Call
// Close when done (or read to the end): the rows hold a connection's buffer.
//
// Arguments are those database/sql accepts, positional only. Scan accepts
// *int64, *float64, *string, *[]byte, *any, *sql.NullInt64,
// *sql.NullFloat64, *sql.NullString, *sql.RawBytes without conversion cost
// (RawBytes: valid until the next Next, as in database/sql); *int, *int32,
// *bool, *sql.NullInt32, *sql.NullBool and sql.Scanner implementations are
// converted as database/sql converts them. Other destinations are an error
// in both builds.
func (db *DB) QueryRows(ctx context.Context, query string, args ...any) (*Rows, error) {
	if db.call == nil {
		rs, err := db.db.QueryContext(ctx, query, args...)
		if err != nil {
			return nil, err
		}
		return &Rows{sqlRows: rs}, nil
	}
	c := db.idle.Swap(nil)
	if c == nil {
		c = &conn{call: db.call}
	}
	vals := c.args[:0]
	for i, a := range args {
		v, err := argValue(a)
		if err != nil {
			db.idle.Store(c)
			return nil, fmt.Errorf("edge sql: argument %d: %w", i+1, err)
		}
		vals = append(vals, v)
	}
	c.args = vals
	out, err := c.roundTrip(ctx, &abi.SQLRequest{Op: abi.OpQuery, Query: query, Args: vals})
	clear(vals) // drop references to the arguments
	if err != nil {
		db.idle.Store(c)
		return nil, err
	}
	r := &Rows{db: db, c: c, frame: out}
	if err := r.header(); err != nil {
		db.idle.Store(c)
		return nil, err
	}
	return r, nil
}

// argValue converts a query argument as database/sql's default converter
// would, with the common types first.
func argValue(a any) (abi.Value, error) {
	switch v := a.(type) {
	case nil:
		return abi.Null(), nil
	case int64:
		return abi.Int(v), nil
	case int:
		return abi.Int(int64(v)), nil
	case int32:
		return abi.Int(int64(v)), nil
	case float64:
		return abi.Float(v), nil
	case string:
		return abi.Text(v), nil
	case []byte:
		return abi.Blob(v), nil
	case bool, time.Time:
		return toValue(v)
	case sql.NamedArg:
		return abi.Value{}, errNamedArgs
	}
	dv, err := driver.DefaultParameterConverter.ConvertValue(a)
	if err != nil {
		return abi.Value{}, err
	}
	return toValue(dv)
}

// Rows is the result of DB.QueryRows, read like *sql.Rows:
//
//	for rows.Next() { rows.Scan(&a, &b) }; rows.Err()
type Rows struct {
	// Direct (edge driver): the result frame, read in place.
	db    *DB
	c     *conn
	frame []byte
	q     *abi.QueryReader
	raw   []abi.RawValue // the current row, aliasing frame
	// Native: a database/sql result scanned into vals through ptrs.
	sqlRows *sql.Rows
	vals    []any
	ptrs    []any

	cur    []field // the current row
	err    error
	closed bool
}

// field is one column value of the current row. Text and blobs alias the
// frame; other holds what a native driver returned that has no abi kind
// (time.Time, bool), with kind kindOther.
type field struct {
	kind  abi.Kind
	n     int64
	f     float64
	b     []byte
	s     string // native text
	other any
}

const kindOther abi.Kind = 255

// header reads the frame up to the first row.
func (r *Rows) header() error {
	q, hostErr, err := abi.NewQueryReader(r.frame)
	if hostErr != nil {
		return hostError("sql", hostErr)
	}
	if err != nil {
		return fmt.Errorf("edge sql: %w: %w", ErrHostCall, err)
	}
	r.q = q
	n := q.NumColumns()
	if cap(r.c.raw) < n {
		r.c.raw, r.c.cur = make([]abi.RawValue, n), make([]field, n)
	}
	r.raw, r.cur = r.c.raw[:n], r.c.cur[:n]
	return nil
}

// Columns returns the column names.
func (r *Rows) Columns() ([]string, error) {
	if r.sqlRows != nil {
		return r.sqlRows.Columns()
	}
	if r.closed {
		return nil, errRowsClosed
	}
	cols := r.q.Columns()
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return names, nil
}

// Next prepares the next row for Scan; false at the end or on an error
// (see Err), which also closes r.
func (r *Rows) Next() bool {
	if r.closed {
		return false
	}
	if r.sqlRows != nil {
		return r.nextNative()
	}
	ok, err := r.q.Next(r.raw)
	if err != nil {
		return r.fail(fmt.Errorf("edge sql: %w: %w", ErrHostCall, err))
	}
	if !ok {
		r.Close()
		return false
	}
	for i, v := range r.raw {
		r.cur[i] = field{kind: v.Kind, n: v.Int(), f: v.Float(), b: v.Bytes}
	}
	return true
}

func (r *Rows) fail(err error) bool {
	r.err = err
	r.Close()
	return false
}

func (r *Rows) nextNative() bool {
	rs := r.sqlRows
	if !rs.Next() {
		r.err = rs.Err()
		r.Close()
		return false
	}
	if r.ptrs == nil {
		cols, err := rs.Columns()
		if err != nil {
			return r.fail(err)
		}
		r.vals = make([]any, len(cols))
		r.ptrs = make([]any, len(cols))
		for i := range r.vals {
			r.ptrs[i] = &r.vals[i]
		}
		r.cur = make([]field, len(cols))
	}
	if err := rs.Scan(r.ptrs...); err != nil {
		return r.fail(err)
	}
	for i, v := range r.vals {
		f := &r.cur[i]
		*f = field{}
		switch v := v.(type) {
		case nil:
		case int64:
			f.kind, f.n = abi.KindInt, v
		case float64:
			f.kind, f.f = abi.KindFloat, v
		case string:
			f.kind, f.s = abi.KindText, v
		case []byte: // already a copy: database/sql clones into *any
			f.kind, f.b = abi.KindBlob, v
		default:
			f.kind, f.other = kindOther, v
		}
	}
	return true
}

// Err returns the error that ended the iteration, if any.
func (r *Rows) Err() error { return r.err }

// Close releases the rows; it is safe to call more than once.
func (r *Rows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.sqlRows != nil {
		return r.sqlRows.Close()
	}
	r.frame, r.q, r.raw, r.cur = nil, nil, nil, nil
	if r.c != nil {
		r.db.idle.Store(r.c)
		r.c = nil
	}
	return nil
}

var errRowsClosed = fmt.Errorf("sdk: rows are closed")

// Scan copies the current row into dest, one destination per column.
func (r *Rows) Scan(dest ...any) error {
	if r.closed {
		return errRowsClosed
	}
	if len(dest) != len(r.cur) {
		return fmt.Errorf("sdk: Scan: expected %d destination arguments, got %d", len(r.cur), len(dest))
	}
	for i, d := range dest {
		if err := r.cur[i].assign(d); err != nil {
			return fmt.Errorf("sdk: Scan column %d: %w", i, err)
		}
	}
	return nil
}

// text returns a text value as a string (a copy of the frame's bytes).
func (f *field) text() string {
	if f.b != nil {
		return string(f.b)
	}
	return f.s
}

// assign stores f in dest: the common pairs directly, the rest through
// database/sql's own conversions (the sql.Null* Scan methods).
func (f *field) assign(dest any) error {
	switch d := dest.(type) {
	case *int64:
		if f.kind == abi.KindInt {
			*d = f.n
			return nil
		}
	case *float64:
		if f.kind == abi.KindFloat {
			*d = f.f
			return nil
		}
	case *string:
		if f.kind == abi.KindText {
			*d = f.text()
			return nil
		}
	case *sql.NullInt64:
		switch f.kind {
		case abi.KindInt:
			*d = sql.NullInt64{Int64: f.n, Valid: true}
			return nil
		case abi.KindNull:
			*d = sql.NullInt64{}
			return nil
		}
		return d.Scan(f.value())
	case *sql.NullFloat64:
		switch f.kind {
		case abi.KindFloat:
			*d = sql.NullFloat64{Float64: f.f, Valid: true}
			return nil
		case abi.KindNull:
			*d = sql.NullFloat64{}
			return nil
		}
		return d.Scan(f.value())
	case *sql.NullString:
		switch f.kind {
		case abi.KindText:
			*d = sql.NullString{String: f.text(), Valid: true}
			return nil
		case abi.KindNull:
			*d = sql.NullString{}
			return nil
		}
		return d.Scan(f.value())
	case *sql.RawBytes:
		return f.rawBytes(d)
	case *any:
		*d = f.value()
		return nil
	case sql.Scanner:
		return d.Scan(f.value())
	}
	return f.convert(dest)
}

// rawBytes stores f in d as database/sql does for a sql.RawBytes
// destination: text and blobs as they are (in a guest a view of the
// result frame, valid until the next Next, as database/sql documents for
// RawBytes), numbers as their text, NULL as nil.
func (f *field) rawBytes(d *sql.RawBytes) error {
	switch f.kind {
	case abi.KindNull:
		*d = nil
	case abi.KindText, abi.KindBlob:
		switch {
		case f.b != nil:
			*d = f.b
		case *d == nil:
			*d = append(sql.RawBytes{}, f.s...) // not nil: "" is not NULL
		default:
			*d = append((*d)[:0], f.s...)
		}
	case abi.KindInt:
		*d = strconv.AppendInt((*d)[:0], f.n, 10)
	case abi.KindFloat:
		*d = strconv.AppendFloat((*d)[:0], f.f, 'g', -1, 64)
	default:
		switch v := f.other.(type) {
		case bool:
			*d = strconv.AppendBool((*d)[:0], v)
		case time.Time:
			*d = v.AppendFormat((*d)[:0], time.RFC3339Nano)
		default:
			return fmt.Errorf("unsupported Scan, storing driver.Value type %T into type *sql.RawBytes", f.other)
		}
	}
	return nil
}

// value returns f as a driver.Value; text and blobs are copies.
func (f *field) value() driver.Value {
	switch f.kind {
	case abi.KindInt:
		return f.n
	case abi.KindFloat:
		return f.f
	case abi.KindText:
		return f.text()
	case abi.KindBlob:
		return append([]byte(nil), f.b...)
	case kindOther:
		return f.other
	}
	return nil
}

// convert handles the destinations assign has no direct path for.
func (f *field) convert(dest any) error {
	v := f.value()
	switch d := dest.(type) {
	case *int64:
		var n sql.NullInt64
		if err := scanNotNull(&n, v, &n.Valid, "int64"); err != nil {
			return err
		}
		*d = n.Int64
	case *int:
		var n sql.NullInt64
		if err := scanNotNull(&n, v, &n.Valid, "int"); err != nil {
			return err
		}
		if int64(int(n.Int64)) != n.Int64 {
			return fmt.Errorf("converting driver.Value type %T (%v) to a int: value out of range", v, v)
		}
		*d = int(n.Int64)
	case *int32:
		var n sql.NullInt32
		if err := scanNotNull(&n, v, &n.Valid, "int32"); err != nil {
			return err
		}
		*d = n.Int32
	case *float64:
		var n sql.NullFloat64
		if err := scanNotNull(&n, v, &n.Valid, "float64"); err != nil {
			return err
		}
		*d = n.Float64
	case *string:
		var n sql.NullString
		if err := scanNotNull(&n, v, &n.Valid, "string"); err != nil {
			return err
		}
		*d = n.String
	case *bool:
		var n sql.NullBool
		if err := scanNotNull(&n, v, &n.Valid, "bool"); err != nil {
			return err
		}
		*d = n.Bool
	case *[]byte:
		switch v := v.(type) {
		case nil:
			*d = nil
		case []byte:
			*d = v
		case string:
			*d = []byte(v)
		default:
			var n sql.NullString
			if err := n.Scan(v); err != nil {
				return err
			}
			*d = []byte(n.String)
		}
	default:
		return fmt.Errorf("unsupported Scan destination %T", dest)
	}
	return nil
}

func scanNotNull(s sql.Scanner, v any, valid *bool, typ string) error {
	if err := s.Scan(v); err != nil {
		return err
	}
	if !*valid {
		return fmt.Errorf("converting NULL to %s is unsupported", typ)
	}
	return nil
}
