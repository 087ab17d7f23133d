package wasmhost

import "testing"

func TestChangesRows(t *testing.T) {
	tests := []struct {
		query string
		want  bool
	}{
		{"INSERT INTO t VALUES (1)", true},
		{"  insert into t values (1)", true},
		{"-- note\n/* more */ UPDATE t SET x = 1", true},
		{"DELETE FROM t", true},
		{"REPLACE INTO t VALUES (1)", true},
		{"WITH c(x) AS (SELECT 1) INSERT INTO t SELECT x FROM c", true},
		{"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 3), d AS (SELECT 'insert') DELETE FROM t WHERE x IN c", true},
		{"WITH c AS (SELECT ')' AS \"(\") SELECT * FROM c", false},
		{"WITH c AS (DELETE FROM t RETURNING *) SELECT 1", false},
		{"CREATE TABLE t (x INTEGER)", false},
		{"DROP TABLE t", false},
		{"SELECT 1", false},
		{"PRAGMA user_version = 3", false},
		{"", false},
		{"/* unterminated", false},
		{"WITH c AS ('unterminated", false},
		{"inserted", false},
	}
	for _, tt := range tests {
		if got := changesRows(tt.query); got != tt.want {
			t.Errorf("changesRows(%q) = %v, want %v", tt.query, got, tt.want)
		}
	}
}

func FuzzChangesRows(f *testing.F) {
	f.Add("WITH c AS (SELECT 1) INSERT INTO t SELECT * FROM c")
	f.Add("/* x */ -- y\nUPDATE t SET a = '('")
	f.Fuzz(func(t *testing.T, q string) { changesRows(q) })
}
