//go:build wasip1

// Command unhealthy is a test module whose health probe fails: GET /healthz
// answers 500, every other path 200. probe_test.go builds it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared ./tests/e2e/testdata/unhealthy
//
// and pushes it as a new version of the order service, which the agent must
// refuse before any traffic reaches it.
package main

import "github.com/edgeplane/edge/modules/sdk"

func init() {
	sdk.Serve(sdk.HandlerFunc(func(w sdk.ResponseWriter, r *sdk.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if r.URL.Path == "/healthz" {
			w.WriteHeader(500)
			w.Write([]byte("unhealthy on purpose\n"))
			return
		}
		w.Write([]byte("unhealthy module: this answer must never reach a client\n"))
	}))
}

func main() {}
