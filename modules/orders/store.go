package orders

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/edgeplane/edge/modules/sdk"
	"github.com/edgeplane/edge/modules/sdk/jsonw"
)

// The SQL is common to SQLite and MySQL/MariaDB: ? placeholders, and
// DOUBLE for the money columns (MySQL's FLOAT is single precision: 56.1
// would come back as 56.099998474121094).
const (
	sqlDrop   = `DROP TABLE IF EXISTS orders`
	sqlCreate = `CREATE TABLE orders (order_id INT, product_id INT, quantity INT, ` +
		`amount DOUBLE, shipping DOUBLE, tax DOUBLE, shipping_address VARCHAR(256))`
	sqlInsert = `INSERT INTO orders (order_id, product_id, quantity, amount, shipping, tax, shipping_address) ` +
		`VALUES (?, ?, ?, ?, ?, ?, ?)`
	sqlColumns = `SELECT order_id, product_id, quantity, amount, shipping, tax, shipping_address FROM orders `
	sqlSelect  = sqlColumns + `ORDER BY order_id`
	// sqlPage is one page of keyset paging: LIMIT asks for one row more
	// than the page holds, to learn whether a next page exists.
	sqlPage   = sqlColumns + `WHERE order_id > ? ORDER BY order_id LIMIT ?`
	sqlCount  = `SELECT COUNT(*) FROM orders`
	sqlUpdate = `UPDATE orders SET product_id = ?, quantity = ?, amount = ?, shipping = ?, tax = ?, ` +
		`shipping_address = ? WHERE order_id = ?`
	sqlDelete = `DELETE FROM orders WHERE order_id = ?`
)

// resetTable drops and recreates the table. Two statements, not a
// transaction: MySQL commits DDL implicitly anyway.
func resetTable(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, sqlDrop); err != nil {
		return fmt.Errorf("drop table: %w", err)
	}
	if _, err := db.ExecContext(ctx, sqlCreate); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	return nil
}

// Batch sizes of insertOrders: a multi-row INSERT of up to 256 orders
// (1,792 placeholders, far under SQLite's 32,766 and MySQL's 65,535), the
// rest by 16 and by 1. Few fixed sizes keep the statements the databases
// prepare to three, and the statements per request small: the 11,000
// orders that fit in a 1 MiB body are at most 43 batches of 256 and 30
// smaller ones, where one statement per order ran into the host's
// per-request limit of SQL calls at 999 orders.
var batchSizes = [...]int{256, 16, 1}

var insertSQL = func() map[int]string {
	m := make(map[int]string, len(batchSizes))
	for _, n := range batchSizes {
		m[n] = sqlInsert + strings.Repeat(", (?, ?, ?, ?, ?, ?, ?)", n-1)
	}
	return m
}()

// insertOrders inserts list in one transaction: all or none.
func insertOrders(ctx context.Context, db *sql.DB, list []Order) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	args := make([]any, 0, 7*min(len(list), batchSizes[0]))
	for done := 0; done < len(list); {
		n := batchSizes[len(batchSizes)-1]
		for _, size := range batchSizes {
			if size <= len(list)-done {
				n = size
				break
			}
		}
		args = args[:0]
		for i := range list[done : done+n] {
			o := &list[done+i]
			args = append(args, o.OrderID, o.ProductID, o.Quantity, o.Amount, o.Shipping, o.Tax, o.ShippingAddress)
		}
		if _, err := tx.ExecContext(ctx, insertSQL[n], args...); err != nil {
			return fmt.Errorf("insert orders %d to %d of %d: %w", done+1, done+n, len(list), err)
		}
		done += n
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func updateOrder(ctx context.Context, db *sql.DB, o *Order) error {
	if _, err := db.ExecContext(ctx, sqlUpdate, o.ProductID, o.Quantity, o.Amount, o.Shipping,
		o.Tax, o.ShippingAddress, o.OrderID); err != nil {
		return fmt.Errorf("update order %d: %w", o.OrderID, err)
	}
	return nil
}

func deleteOrder(ctx context.Context, db *sql.DB, id int32) error {
	if _, err := db.ExecContext(ctx, sqlDelete, id); err != nil {
		return fmt.Errorf("delete order %d: %w", id, err)
	}
	return nil
}

// page is what writeOrders wrote: how many orders, the order_id of the
// last one, and whether the query had more rows than it was to write.
type page struct {
	n    int
	last int64
	more bool
}

// writeOrders writes the rows of query (the seven columns) as a JSON array
// straight from the rows, at most max of them (0: all). Columns are
// scanned as nullable: the table has no NOT NULL constraints (the demo's
// schema), and a NULL is written as JSON null. It reads through sdk.DB's
// direct path: in a guest that skips database/sql's pool and conversions,
// the bulk of the guest's work for GET /orders.
func writeOrders(ctx context.Context, db *sdk.DB, jw *jsonw.Writer, max int, query string, args ...any) (page, error) {
	var p page
	rows, err := db.QueryRows(ctx, query, args...)
	if err != nil {
		return p, fmt.Errorf("select orders: %w", err)
	}
	defer rows.Close()
	var (
		ints    [3]sql.NullInt64
		floats  [3]sql.NullFloat64
		address sql.RawBytes // text read in place: no string per row
	)
	jw.BeginArray()
	for rows.Next() {
		if max > 0 && p.n == max {
			p.more = true
			break
		}
		if err := rows.Scan(&ints[0], &ints[1], &ints[2], &floats[0], &floats[1], &floats[2], &address); err != nil {
			return p, fmt.Errorf("scan order: %w", err)
		}
		writeOrder(jw, &ints, &floats, address)
		p.n, p.last = p.n+1, ints[0].Int64
	}
	if err := rows.Err(); err != nil {
		return p, fmt.Errorf("read orders: %w", err)
	}
	jw.EndArray()
	return p, nil
}

func writeOrder(jw *jsonw.Writer, ints *[3]sql.NullInt64, floats *[3]sql.NullFloat64, address sql.RawBytes) {
	jw.BeginObject()
	for i, v := range ints {
		jw.Key(fieldNames[i])
		if v.Valid {
			jw.Int(v.Int64)
		} else {
			jw.Null()
		}
	}
	for i, v := range floats {
		jw.Key(fieldNames[3+i])
		if v.Valid {
			jw.Float(v.Float64)
		} else {
			jw.Null()
		}
	}
	jw.Key(fieldNames[6])
	if address != nil {
		jw.StringBytes(address)
	} else {
		jw.Null()
	}
	jw.EndObject()
}

// writeAllOrders writes the whole table, by order_id.
func writeAllOrders(ctx context.Context, db *sdk.DB, jw *jsonw.Writer) error {
	_, err := writeOrders(ctx, db, jw, 0, sqlSelect)
	return err
}

// writePage writes at most limit orders with order_id > after, by
// order_id (keyset paging).
func writePage(ctx context.Context, db *sdk.DB, jw *jsonw.Writer, limit int, after int64) (page, error) {
	return writeOrders(ctx, db, jw, limit, sqlPage, after, int64(limit+1))
}

// selectCount is the number of orders, by one COUNT(*).
func selectCount(ctx context.Context, db *sql.DB) (int64, error) {
	var n int64
	if err := db.QueryRowContext(ctx, sqlCount).Scan(&n); err != nil {
		return 0, fmt.Errorf("count orders: %w", err)
	}
	return n, nil
}
