package sdk

import (
	"database/sql/driver"
	"fmt"
	"io"
	"time"

	"github.com/edgeplane/edge/modules/abi"
)

// toValues converts arguments, which database/sql has already reduced to
// driver.Value's types, to abi Values: booleans travel as 0/1 and times as
// RFC 3339 text with nanoseconds, as package abi specifies.
func toValues(args []driver.NamedValue) ([]abi.Value, error) {
	if len(args) == 0 {
		return nil, nil
	}
	vals := make([]abi.Value, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, errNamedArgs
		}
		v, err := toValue(a.Value)
		if err != nil {
			return nil, fmt.Errorf("edge sql: argument %d: %w", a.Ordinal, err)
		}
		vals[i] = v
	}
	return vals, nil
}

func toValue(v driver.Value) (abi.Value, error) {
	switch v := v.(type) {
	case nil:
		return abi.Null(), nil
	case int64:
		return abi.Int(v), nil
	case float64:
		return abi.Float(v), nil
	case bool:
		if v {
			return abi.Int(1), nil
		}
		return abi.Int(0), nil
	case string:
		return abi.Text(v), nil
	case []byte:
		return abi.Blob(v), nil
	case time.Time:
		return abi.Text(v.Format(time.RFC3339Nano)), nil
	}
	return abi.Value{}, fmt.Errorf("%w: unsupported type %T", ErrBadRequest, v)
}

// rows serves a query result that arrived whole in one frame.
type rows struct {
	cols  []abi.Column
	names []string
	data  [][]abi.Value
	next  int
}

var _ driver.RowsColumnTypeDatabaseTypeName = (*rows)(nil)

func newRows(cols []abi.Column, data [][]abi.Value) *rows {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return &rows{cols: cols, names: names, data: data}
}

func (r *rows) Columns() []string { return r.names }
func (r *rows) Close() error      { r.data, r.next = nil, 0; return nil }

// Next converts one row: integers to int64, floats to float64, text to
// string and blobs to []byte, which database/sql scans into any
// compatible destination.
func (r *rows) Next(dest []driver.Value) error {
	if r.next >= len(r.data) {
		return io.EOF
	}
	row := r.data[r.next]
	r.next++
	for i := range dest {
		if i >= len(row) {
			dest[i] = nil
			continue
		}
		switch v := row[i]; v.Kind {
		case abi.KindInt:
			dest[i] = v.Int
		case abi.KindFloat:
			dest[i] = v.Float
		case abi.KindText:
			dest[i] = v.Text
		case abi.KindBlob:
			dest[i] = v.Blob
		default:
			dest[i] = nil
		}
	}
	return nil
}

// ColumnTypeDatabaseTypeName returns the declared type the host reported,
// upper case ("INTEGER", "VARCHAR", "DOUBLE"), or "" if unknown.
func (r *rows) ColumnTypeDatabaseTypeName(i int) string {
	t := []byte(r.cols[i].Type)
	for j, c := range t {
		if 'a' <= c && c <= 'z' {
			t[j] = c - 'a' + 'A'
		}
	}
	return string(t) // ASCII only: strings.ToUpper links Unicode's case tables
}
