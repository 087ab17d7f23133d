package abi

import "math"

// Kind is the type tag of a SQL Value on the wire.
type Kind uint8

// Value kinds. Booleans travel as KindInt (0/1) and times as KindText in
// RFC 3339, the way database/sql drivers commonly represent them.
const (
	KindNull  Kind = 0
	KindInt   Kind = 1
	KindFloat Kind = 2
	KindText  Kind = 3
	KindBlob  Kind = 4
)

// Value is one SQL argument or column value.
type Value struct {
	Kind  Kind
	Int   int64
	Float float64
	Text  string
	Blob  []byte
}

// Int, Float, Text, Blob and Null build Values.
func Int(v int64) Value     { return Value{Kind: KindInt, Int: v} }
func Float(v float64) Value { return Value{Kind: KindFloat, Float: v} }
func Text(v string) Value   { return Value{Kind: KindText, Text: v} }
func Blob(v []byte) Value   { return Value{Kind: KindBlob, Blob: v} }
func Null() Value           { return Value{} }

// SQLOp is the operation of a SQLRequest.
type SQLOp uint8

// SQL operations. Query returns rows, Exec returns counts; Begin opens a
// transaction whose id later requests pass in Tx; Commit and Rollback end it.
const (
	OpQuery    SQLOp = 1
	OpExec     SQLOp = 2
	OpBegin    SQLOp = 3
	OpCommit   SQLOp = 4
	OpRollback SQLOp = 5
)

// SQLRequest is the frame the guest passes to sql.
type SQLRequest struct {
	Op    SQLOp
	Tx    uint32 // 0: no transaction
	Query string
	Args  []Value
}

// Column describes one result column: its name and the declared database
// type as the driver reports it (e.g. "INTEGER", "VARCHAR", "DOUBLE").
type Column struct {
	Name, Type string
}

// SQLResult is the answer to a SQLRequest. Exactly one of the groups is set,
// according to the request's Op: Columns and Rows for OpQuery,
// LastInsertID and RowsAffected for OpExec, Tx for OpBegin; Err on failure.
type SQLResult struct {
	Err          *Error
	Columns      []Column
	Rows         [][]Value
	LastInsertID int64
	RowsAffected int64
	Tx           uint32
}

func appendValue(b []byte, v *Value) []byte {
	b = append(b, byte(v.Kind))
	switch v.Kind {
	case KindInt:
		b = appendU64(b, uint64(v.Int))
	case KindFloat:
		b = appendU64(b, math.Float64bits(v.Float))
	case KindText:
		b = appendString(b, v.Text)
	case KindBlob:
		b = appendBytes(b, v.Blob)
	}
	return b
}

func (d *decoder) value(v *Value) {
	v.Kind = Kind(d.u8("value kind"))
	switch v.Kind {
	case KindNull:
	case KindInt:
		v.Int = int64(d.u64("int value"))
	case KindFloat:
		v.Float = d.f64("float value")
	case KindText:
		v.Text = d.str("text value")
	case KindBlob:
		v.Blob = d.bytes("blob value")
	default:
		d.fail("unknown value kind")
	}
}

// AppendSQLRequest appends the encoding of r to b.
func AppendSQLRequest(b []byte, r *SQLRequest) []byte {
	b = append(b, byte(r.Op))
	b = appendU32(b, r.Tx)
	b = appendString(b, r.Query)
	b = appendU16(b, uint16(len(r.Args)))
	for i := range r.Args {
		b = appendValue(b, &r.Args[i])
	}
	return b
}

// DecodeSQLRequest decodes a SQLRequest frame.
func DecodeSQLRequest(b []byte) (SQLRequest, error) {
	d := decoder{b: b}
	r := SQLRequest{Op: SQLOp(d.u8("op"))}
	r.Tx = d.u32("tx")
	r.Query = d.str("query")
	if n := d.count(int(d.u16("arg count")), 1, "arg"); n > 0 {
		r.Args = make([]Value, n)
		for i := range r.Args {
			d.value(&r.Args[i])
		}
	}
	if d.err == nil && (r.Op < OpQuery || r.Op > OpRollback) {
		d.fail("unknown op")
	}
	return r, d.finish()
}

// AppendSQLResult appends the encoding of r, the answer to a request of
// operation op, to b.
func AppendSQLResult(b []byte, op SQLOp, r *SQLResult) []byte {
	b, done := appendOutcome(b, r.Err)
	if done {
		return b
	}
	switch op {
	case OpQuery:
		b = AppendColumns(b, r.Columns)
		b = appendU32(b, uint32(len(r.Rows)))
		for _, row := range r.Rows {
			for i := range row {
				b = appendValue(b, &row[i])
			}
		}
	case OpExec:
		b = appendU64(b, uint64(r.LastInsertID))
		b = appendU64(b, uint64(r.RowsAffected))
	case OpBegin:
		b = appendU32(b, r.Tx)
	}
	return b
}

// AppendColumns, AppendRowCount and AppendRowValue let the host stream a
// query result into a frame without building [][]Value first. A frame built
// this way is: 0, AppendColumns, AppendRowCount(n), then n×len(columns)
// values. The host patches the row count at the offset AppendRowCount
// returns once it knows it.
func AppendColumns(b []byte, cols []Column) []byte {
	b = appendU16(b, uint16(len(cols)))
	for _, c := range cols {
		b = appendString(b, c.Name)
		b = appendString(b, c.Type)
	}
	return b
}

// AppendRowCount appends a placeholder row count and returns its offset.
func AppendRowCount(b []byte) ([]byte, int) {
	return appendU32(b, 0), len(b)
}

// PatchRowCount writes n at offset off, which AppendRowCount returned.
func PatchRowCount(b []byte, off int, n uint32) {
	b[off] = byte(n)
	b[off+1] = byte(n >> 8)
	b[off+2] = byte(n >> 16)
	b[off+3] = byte(n >> 24)
}

// AppendRowValue appends one column value of a streamed row.
func AppendRowValue(b []byte, v *Value) []byte { return appendValue(b, v) }

// DecodeSQLResult decodes the answer to a request of operation op.
func DecodeSQLResult(op SQLOp, b []byte) (SQLResult, error) {
	if op == OpQuery {
		return decodeQueryResult(b)
	}
	d := decoder{b: b}
	var r SQLResult
	switch d.u8("result kind") {
	case 0:
	case 1:
		r.Err = d.error()
		return r, d.finish()
	default:
		d.fail("unknown result kind")
		return r, d.err
	}
	switch op {
	case OpExec:
		r.LastInsertID = int64(d.u64("last insert id"))
		r.RowsAffected = int64(d.u64("rows affected"))
	case OpBegin:
		r.Tx = d.u32("tx")
	}
	return r, d.finish()
}

// decodeQueryResult copies a query result out of its frame.
func decodeQueryResult(b []byte) (SQLResult, error) {
	q, hostErr, err := NewQueryReader(b)
	if hostErr != nil {
		return SQLResult{Err: hostErr}, nil
	}
	if err != nil {
		return SQLResult{}, err
	}
	r := SQLResult{Columns: q.Columns()}
	ncol, nrow := len(r.Columns), q.Rows()
	raw := make([]RawValue, ncol)
	if nrow > 0 {
		flat := make([]Value, nrow*ncol)
		r.Rows = make([][]Value, nrow)
		for i := range r.Rows {
			if _, err := q.Next(raw); err != nil {
				return SQLResult{}, err
			}
			row := flat[i*ncol : (i+1)*ncol : (i+1)*ncol]
			for j := range raw {
				row[j] = raw[j].Value()
			}
			r.Rows[i] = row
		}
	}
	if _, err := q.Next(raw); err != nil { // the frame must end here
		return SQLResult{}, err
	}
	return r, nil
}
