//go:build wasip1

// Command limits is a test module that runs into the agent's limits on
// purpose. The e2e tests build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared ./tests/e2e/testdata/limits
//
// Endpoints (all GET unless said):
//
//	/                 "ok"
//	POST /upload      the length of the body it was given
//	/oom              allocates until the guest runs out of memory
//	/logloop?ms=N     calls the log import in a loop for N ms
//	/printloop?ms=N   writes lines to stderr in a loop for N ms
//	/sql?n=N          runs SELECT 1 N times (503 unavailable, 413 too large)
//	/fetch?url=U&n=N&ms=T  fetches U N times, each within T ms if given
//	                  (503 unavailable, 413 too large)
//	/respond?n=N      answers N bytes
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/edgeplane/edge/modules/sdk"
)

var (
	hoard [][]byte
	db    *sql.DB
)

func init() {
	db, _ = sql.Open(sdk.DriverName, "")
	m := sdk.NewServeMux()
	m.HandleFunc("GET /", func(w sdk.ResponseWriter, r *sdk.Request) { w.Write([]byte("ok")) })
	m.HandleFunc("POST /upload", func(w sdk.ResponseWriter, r *sdk.Request) { fmt.Fprint(w, len(r.Body)) })
	m.HandleFunc("GET /oom", func(w sdk.ResponseWriter, r *sdk.Request) {
		for {
			hoard = append(hoard, make([]byte, 1<<20))
		}
	})
	m.HandleFunc("GET /logloop", func(w sdk.ResponseWriter, r *sdk.Request) {
		n := loop(r, func(i int) { sdk.Log(sdk.LevelInfo, "log loop "+strconv.Itoa(i)) })
		fmt.Fprint(w, n)
	})
	m.HandleFunc("GET /printloop", func(w sdk.ResponseWriter, r *sdk.Request) {
		n := loop(r, func(i int) { fmt.Fprintln(os.Stderr, "print loop", i) })
		fmt.Fprint(w, n)
	})
	m.HandleFunc("GET /sql", func(w sdk.ResponseWriter, r *sdk.Request) {
		n := atoi(r, "n")
		for i := range n {
			var one int
			if err := db.QueryRowContext(r.Context(), "SELECT 1").Scan(&one); err != nil {
				fail(w, fmt.Errorf("query %d of %d: %w", i+1, n, err))
				return
			}
		}
		fmt.Fprint(w, n)
	})
	m.HandleFunc("GET /fetch", func(w sdk.ResponseWriter, r *sdk.Request) {
		n := max(atoi(r, "n"), 1)
		var status int
		for i := range n {
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if ms := atoi(r, "ms"); ms > 0 {
				ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
			}
			resp, err := sdk.Fetch(ctx, "GET", r.URL.Query().Get("url"), nil, nil)
			cancel()
			if err != nil {
				fail(w, fmt.Errorf("fetch %d of %d: %w", i+1, n, err))
				return
			}
			status = resp.StatusCode
		}
		fmt.Fprint(w, status)
	})
	m.HandleFunc("GET /respond", func(w sdk.ResponseWriter, r *sdk.Request) {
		w.Write([]byte(strings.Repeat("r", atoi(r, "n"))))
	})
	sdk.Serve(m)
}

func atoi(r *sdk.Request, key string) int {
	n, _ := strconv.Atoi(r.URL.Query().Get(key))
	return n
}

func loop(r *sdk.Request, f func(int)) int {
	end := time.Now().Add(time.Duration(atoi(r, "ms")) * time.Millisecond)
	i := 0
	for ; time.Now().Before(end); i++ {
		f(i)
	}
	return i
}

// fail answers err: 503 for an unavailable or silent dependency, 413 for a
// limit of the host, 500 otherwise.
func fail(w sdk.ResponseWriter, err error) {
	status := 500
	switch {
	case sdk.IsUnavailable(err):
		status = 503
	case errors.Is(err, sdk.ErrTooLarge):
		status = 413
	}
	w.WriteHeader(status)
	w.Write([]byte(err.Error()))
}

func main() {}
