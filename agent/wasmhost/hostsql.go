package wasmhost

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/edgeplane/edge/modules/abi"
	"github.com/tetratelabs/wazero/api"
)

// requestFrame reads the request frame of a (reqPtr, reqLen, bufPtr,
// bufCap) import call, checking that both it and the result buffer lie in
// guest memory and that the frame is within the result-size limit. A
// non-zero code is the abi error the import returns.
func (h *hostEnv) requestFrame(m api.Module, stack []uint64) ([]byte, int32) {
	frame, ok := read(m, uint32(stack[0]), uint32(stack[1]))
	if !ok || !checkBuf(m, uint32(stack[2]), uint32(stack[3])) {
		return nil, abi.ErrMemory
	}
	if len(frame) > h.limits.MaxResultBytes {
		return nil, abi.ErrTooLarge
	}
	return frame, 0
}

// hostSQL: sql(reqPtr, reqLen, bufPtr, bufCap) i32.
func (h *hostEnv) hostSQL(ctx context.Context, m api.Module, stack []uint64) {
	bufPtr, bufCap := uint32(stack[2]), uint32(stack[3])
	st := enter(ctx)
	frame, code := h.requestFrame(m, stack)
	if code != 0 {
		stack[0] = i32(code)
		return
	}
	req, err := abi.DecodeSQLRequest(frame)
	if err != nil {
		stack[0] = i32(abi.ErrMalformed)
		return
	}
	if st == nil {
		st = &callState{env: h}
		st.ctx, st.io = ctx, ctx
	}
	began := time.Now()
	st.scratch = h.runSQL(st, &req, st.scratch[:0])
	h.sql.add(time.Since(began))
	stack[0] = i32(st.deliver(m, bufPtr, bufCap, st.scratch))
}

// runSQL executes req and appends its result frame to b.
func (h *hostEnv) runSQL(st *callState, req *abi.SQLRequest, b []byte) []byte {
	fail := func(code abi.ErrorCode, msg string) []byte {
		return abi.AppendSQLResult(b[:0], req.Op, &abi.SQLResult{Err: &abi.Error{Code: code, Message: msg}})
	}
	failErr := func(what string, err error) []byte {
		code := sqlErrorCode(st.io, err)
		if code == abi.CodeUnavailable {
			h.log.Warn("database unavailable", "op", what, "err", err)
		}
		return fail(code, what+": "+err.Error())
	}
	if h.db == nil {
		return fail(abi.CodeDenied, "no database binding for this module")
	}
	if st.sqlCalls++; st.sqlCalls > h.limits.MaxSQLCalls {
		return fail(abi.CodeTooLarge, fmt.Sprintf("over the host's limit of %d SQL calls per request", h.limits.MaxSQLCalls))
	}
	ctx := h.statementContext(st)
	switch req.Op {
	case abi.OpBegin:
		tx, err := h.db.BeginTx(ctx, nil)
		if err != nil {
			return failErr("begin", err)
		}
		if st.txs == nil {
			st.txs = make(map[uint32]*sql.Tx)
		}
		st.nextTx++
		st.txs[st.nextTx] = tx
		return abi.AppendSQLResult(b, req.Op, &abi.SQLResult{Tx: st.nextTx})
	case abi.OpCommit, abi.OpRollback:
		tx := st.txs[req.Tx]
		if tx == nil {
			return fail(abi.CodeBadTx, fmt.Sprintf("no open transaction %d", req.Tx))
		}
		delete(st.txs, req.Tx)
		rows := st.txRows[req.Tx]
		delete(st.txRows, req.Tx)
		var err error
		if req.Op == abi.OpCommit {
			if rows > 0 {
				st.startWrite()
			}
			err = tx.Commit()
			if rows > 0 {
				st.endWrite(err == nil)
			}
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			return failErr(strings.ToLower(opName(req.Op)), err)
		}
		if req.Op == abi.OpCommit {
			h.writes.committed(rows)
		}
		return abi.AppendSQLResult(b, req.Op, &abi.SQLResult{})
	}

	var tx *sql.Tx
	if req.Tx != 0 {
		if tx = st.txs[req.Tx]; tx == nil {
			return fail(abi.CodeBadTx, fmt.Sprintf("no open transaction %d", req.Tx))
		}
	}
	var stmt *sql.Stmt
	var err error
	if tx == nil {
		stmt, err = h.stmts.get(ctx, req.Query)
	} else if cached := h.stmts.lookup(req.Query); cached != nil {
		stmt = tx.StmtContext(ctx, cached)
		defer stmt.Close()
	} else {
		// Preparing on the DB would need a second connection, which a
		// single-connection binding (SQLite writer) cannot give while the
		// transaction holds it.
		stmt, err = tx.PrepareContext(ctx, req.Query)
		if err == nil {
			defer stmt.Close()
		}
	}
	if err != nil {
		return failErr("prepare", err)
	}
	args := make([]any, len(req.Args))
	for i := range req.Args {
		args[i] = argValue(&req.Args[i])
	}
	if req.Op == abi.OpExec {
		write := tx == nil && changesRows(req.Query) // commits now: a write in flight
		if write {
			st.startWrite()
		}
		res, err := stmt.ExecContext(ctx, args...)
		if err != nil {
			if write {
				st.endWrite(false)
			}
			return failErr("exec", err)
		}
		id, _ := res.LastInsertId()
		n, _ := res.RowsAffected()
		if write {
			st.endWrite(n > 0)
		}
		h.countWrite(st, req, tx != nil, n)
		return abi.AppendSQLResult(b, req.Op, &abi.SQLResult{LastInsertID: id, RowsAffected: n})
	}
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return failErr("query", err)
	}
	defer rows.Close()
	out, err := h.appendRows(b, rows)
	if err != nil {
		var tl errTooLarge
		if errors.As(err, &tl) {
			return fail(abi.CodeTooLarge, err.Error())
		}
		return failErr("query", err)
	}
	return out
}

// statementContext is the context a statement runs under: the request's
// less the I/O reserve, so that a database that does not answer fails the
// statement while the guest can still answer (503, not 504).
//
// A SQLite binding has no such peer: a lock wait ends at the busy timeout
// (5 s, under the default deadline less its reserve), and its statements
// run without a cancellable context. With one, modernc's driver starts a
// goroutine per statement to interrupt it, and database/sql one per result
// set: 10-20% of the host's CPU per request on GET /orders and POST
// /create_order (docs/BENCHMARKS.md). A statement that computes past the
// deadline is treated like a runaway guest: the caller gets 504 at the
// deadline, the instance is abandoned, and in a worker the watchdog ends
// the process once the call is a second past its deadline.
func (h *hostEnv) statementContext(st *callState) context.Context {
	if h.localDB {
		return context.Background()
	}
	return st.io
}

// countWrite records n rows changed by an exec: committed now outside a
// transaction, at its commit inside one (Stats.Writes).
func (h *hostEnv) countWrite(st *callState, req *abi.SQLRequest, inTx bool, n int64) {
	if n <= 0 || !changesRows(req.Query) { // SQLite repeats its last DML count for DDL
		return
	}
	if !inTx {
		h.writes.committed(n)
		return
	}
	if st.txRows == nil {
		st.txRows = make(map[uint32]int64)
	}
	st.txRows[req.Tx] += n
}

func opName(op abi.SQLOp) string {
	switch op {
	case abi.OpCommit:
		return "Commit"
	case abi.OpRollback:
		return "Rollback"
	}
	return "op " + strconv.Itoa(int(op))
}

type errTooLarge struct{ limit int }

func (e errTooLarge) Error() string {
	return fmt.Sprintf("result over the host's limit of %d bytes per SQL result", e.limit)
}

// appendRows streams rows into a query result frame.
func (h *hostEnv) appendRows(b []byte, rows *sql.Rows) ([]byte, error) {
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	if len(types) > math.MaxUint16 {
		return nil, errTooLarge{h.limits.MaxResultBytes}
	}
	cols := make([]abi.Column, len(types))
	textual := make([]bool, len(types))
	for i, t := range types {
		cols[i] = abi.Column{Name: t.Name(), Type: t.DatabaseTypeName()}
		textual[i] = isTextType(cols[i].Type)
	}
	b = append(b, 0)
	b = abi.AppendColumns(b, cols)
	b, countAt := abi.AppendRowCount(b)
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n uint32
	var v abi.Value
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, x := range vals {
			toValue(&v, x, textual[i])
			b = abi.AppendRowValue(b, &v)
		}
		if len(b) > h.limits.MaxResultBytes || n == math.MaxUint32 {
			return nil, errTooLarge{h.limits.MaxResultBytes}
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	abi.PatchRowCount(b, countAt, n)
	return b, nil
}

func argValue(v *abi.Value) any {
	switch v.Kind {
	case abi.KindInt:
		return v.Int
	case abi.KindFloat:
		return v.Float
	case abi.KindText:
		return v.Text
	case abi.KindBlob:
		if v.Blob == nil {
			return []byte{}
		}
		return v.Blob
	}
	return nil
}

// toValue converts a scanned column value. Drivers return text as []byte
// (MySQL) or string (SQLite); textual says the declared type is text.
func toValue(v *abi.Value, x any, textual bool) {
	*v = abi.Value{}
	switch x := x.(type) {
	case nil:
	case int64:
		*v = abi.Int(x)
	case int32:
		*v = abi.Int(int64(x))
	case int:
		*v = abi.Int(int64(x))
	case uint64:
		if x > math.MaxInt64 {
			*v = abi.Text(strconv.FormatUint(x, 10))
		} else {
			*v = abi.Int(int64(x))
		}
	case float64:
		*v = abi.Float(x)
	case float32:
		*v = abi.Float(float64(x))
	case bool:
		if x {
			*v = abi.Int(1)
		} else {
			*v = abi.Int(0)
		}
	case string:
		*v = abi.Text(x)
	case []byte:
		if textual {
			*v = abi.Text(string(x))
		} else {
			*v = abi.Blob(x)
		}
	case time.Time:
		*v = abi.Text(x.Format(time.RFC3339Nano))
	default:
		*v = abi.Text(fmt.Sprint(x))
	}
}

// isTextType reports whether a declared column type holds text (or a
// number or date the driver returns as text, like MySQL DECIMAL).
func isTextType(t string) bool {
	t = strings.ToUpper(t)
	for _, s := range []string{"CHAR", "TEXT", "CLOB", "JSON", "ENUM", "SET", "DECIMAL", "NUMERIC", "DATE", "TIME", "YEAR"} {
		if strings.Contains(t, s) {
			return true
		}
	}
	return false
}
