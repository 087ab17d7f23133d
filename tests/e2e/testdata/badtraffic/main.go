//go:build wasip1

// Command badtraffic is a build of the order service that is bad only
// under traffic, for the staged rollout test (rollout_test.go builds it
// with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared ./tests/e2e/testdata/badtraffic
//
// ): GET / answers like the order service, so the health probe passes,
// and every other endpoint works but answers one request in three with a
// 500 instead. A third is under the agent's own grace-period rule (half
// the answers 5xx), so the agent keeps it: only the rollout's gate, which
// compares it with the old version, can stop it.
package main

import (
	"database/sql"

	"github.com/edgeplane/edge/modules/orders"
	"github.com/edgeplane/edge/modules/sdk"
)

func init() {
	db, _ := sql.Open(sdk.DriverName, "")
	db.SetMaxIdleConns(2)
	svc := orders.New(db)
	n := 0 // per instance: each instance serves one request at a time
	sdk.Serve(sdk.HandlerFunc(func(w sdk.ResponseWriter, r *sdk.Request) {
		if r.URL.Path != "/" {
			if n++; n%3 == 0 {
				w.WriteHeader(500)
				w.Write([]byte(`{"error":"bad build: one request in three fails"}`))
				return
			}
		}
		svc.ServeHTTP(w, r)
	}))
}

func main() {}
