//go:build wasip1

// Command wasm is the order service as an edge module, a Wasm reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags='-s -w' -o orders.wasm ./modules/orders/wasm
//
// The agent calls _initialize, which runs init below; main is never run.
// The database is whatever binding the agent grants the module: the "edge"
// driver takes no DSN.
package main

import (
	"database/sql"

	"github.com/edgeplane/edge/modules/orders"
	"github.com/edgeplane/edge/modules/sdk"
)

func init() {
	db, err := sql.Open(sdk.DriverName, "")
	if err != nil {
		// Only an unregistered driver makes Open fail, which cannot happen
		// once sdk is linked; serve 503s rather than trap if it ever does.
		sdk.Log(sdk.LevelError, "orders: open database: "+err.Error())
	}
	// No SetMaxOpenConns: an edge connection is only a handle, and a
	// goroutine waiting for a free one could never be woken inside a
	// reactor call (the guest would trap). Two idle handles keep their frame
	// buffers warm for a request that uses a transaction and the pool.
	db.SetMaxIdleConns(2)
	sdk.Serve(orders.New(db))
}

func main() {}
