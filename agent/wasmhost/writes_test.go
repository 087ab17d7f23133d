package wasmhost

import (
	"testing"

	"github.com/edgeplane/edge/modules/abi"
)

// TestSQLWriteCount: Stats counts committed writes exactly: a statement
// outside a transaction or a committed transaction counts once when it
// changed rows; rolled back work, transactions left open at the end of a
// request, failed statements, DDL and reads count nothing. The supervisor
// reports these numbers when it rolls a version back.
func TestSQLWriteCount(t *testing.T) {
	exec := func(tx uint32, q string, args ...abi.Value) []byte {
		return sqlCmd(1024, abi.SQLRequest{Op: abi.OpExec, Tx: tx, Query: q, Args: args})
	}
	op := func(o abi.SQLOp, tx uint32) []byte { return sqlCmd(64, abi.SQLRequest{Op: o, Tx: tx}) }
	ins := "INSERT INTO kinds (i) VALUES (?)"
	tests := []struct {
		name             string
		cmds             [][]byte
		writes, rowsDone uint64
	}{
		{"autocommit insert", [][]byte{exec(0, ins, abi.Int(1))}, 1, 1},
		{"update of three rows", [][]byte{exec(0, ins, abi.Int(2)), exec(0, ins, abi.Int(2)), exec(0, ins, abi.Int(2)),
			exec(0, "UPDATE kinds SET s = 'x' WHERE i = 2")}, 4, 6},
		{"update of no row", [][]byte{exec(0, "UPDATE kinds SET s = 'x' WHERE i = -5")}, 0, 0},
		{"committed transaction", [][]byte{op(abi.OpBegin, 0), exec(1, ins, abi.Int(3)), exec(1, ins, abi.Int(4)), op(abi.OpCommit, 1)}, 1, 2},
		{"rolled back transaction", [][]byte{op(abi.OpBegin, 0), exec(1, ins, abi.Int(5)), op(abi.OpRollback, 1)}, 0, 0},
		{"transaction left open", [][]byte{op(abi.OpBegin, 0), exec(1, ins, abi.Int(6))}, 0, 0},
		{"empty commit", [][]byte{op(abi.OpBegin, 0), op(abi.OpCommit, 1)}, 0, 0},
		{"failed statement", [][]byte{exec(0, "INSERT INTO nowhere VALUES (1)")}, 0, 0},
		{"ddl", [][]byte{exec(0, "CREATE TABLE other (x INTEGER)"), exec(0, "DROP TABLE other")}, 0, 0},
		{"read", [][]byte{sqlCmd(256, abi.SQLRequest{Op: abi.OpQuery, Query: "SELECT i FROM kinds"})}, 0, 0},
	}
	for _, kind := range engines {
		t.Run(kind.String(), func(t *testing.T) {
			m := load(t, newTestEngine(t, kind), "hostcalls", Config{PoolSize: 1, DB: openSQLite(t)})
			for _, tt := range tests {
				before := m.Stats()
				callGuest(t, m, tt.cmds...)
				after := m.Stats()
				if w, r := after.Writes-before.Writes, after.RowsWritten-before.RowsWritten; w != tt.writes || r != tt.rowsDone {
					t.Errorf("%s: %d writes of %d rows, want %d of %d", tt.name, w, r, tt.writes, tt.rowsDone)
				}
				// Every SQL host call is counted, with its time (metrics).
				if c := after.SQLCalls - before.SQLCalls; c != uint64(len(tt.cmds)) || after.SQLTime <= before.SQLTime {
					t.Errorf("%s: %d SQL calls (time %v → %v), want %d", tt.name, c, before.SQLTime, after.SQLTime, len(tt.cmds))
				}
			}
		})
	}
}
