//go:build wasip1

// Command brokenorders is a bad build of the order service, for the
// rollback tests (rollback_test.go builds it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared ./tests/e2e/testdata/brokenorders
//
// ): GET / answers like the order service, so the health probe passes, and
// every other request writes one marker row (order_id -1) to the orders
// table, committed, and then exits the guest before it answers: the client
// gets a 5xx and the agent rolls back. The marker rows are the failed
// version's own writes, which a rollback must keep and count, never undo.
package main

import (
	"context"
	"database/sql"
	"os"

	"github.com/edgeplane/edge/modules/orders"
	"github.com/edgeplane/edge/modules/sdk"
)

func init() {
	db, _ := sql.Open(sdk.DriverName, "")
	sdk.Serve(sdk.HandlerFunc(func(w sdk.ResponseWriter, r *sdk.Request) {
		if r.Method == "GET" && r.URL.Path == "/" {
			w.Write([]byte(orders.Endpoints))
			return
		}
		db.ExecContext(context.Background(), `INSERT INTO orders (order_id, shipping_address) VALUES (-1, 'written by the broken build')`)
		os.Exit(3)
	}))
}

func main() {}
