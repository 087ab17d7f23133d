// Command capguest is a test module for the key-value store and module
// calls (agent/wasmhost, agent/supervisor tests and the call benchmark in
// docs/BENCHMARKS.md). It is built for wasip1 like any module, and
// natively (main_native.go) to show the SDK's native build of both.
//
//	GET    /ping                        "pong"
//	GET    /whoami                      the Edge-Caller of the request ("" from a client)
//	GET    /kv?key=K                    the value; Kv-Version, 404 if missing
//	PUT    /kv?key=K                    set to the body; Kv-Version
//	PUT    /kv?key=K&version=N          compare-and-set; 409 on a conflict
//	DELETE /kv?key=K[&version=N]        204, 404 if missing, 409 on a conflict
//	POST   /incr?key=K                  add one to the counter K (sdk KV Update); the new count
//	GET    /list?prefix=P&after=A&limit=N  "key=value\n" lines; Kv-More: 1 when keys are left
//	GET    /call?module=M&path=P[&timeout_ms=T]  M's answer to GET P, status and body as they are
//	GET    /chain?next=a,b,c            calls a with /chain?next=b,c, ...; "end" at the end
//	GET    /sleep?ms=N                  answers after N ms
//	GET    /bench?n=N[&module=M]        N calls of M's /ping, or N direct calls of the same handler
//
// Host errors answer 403 (denied), 409 (conflict), 413 (too large),
// 503 (unavailable), 504 (timeout), 500 otherwise, with the error as body.
package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/edgeplane/edge/modules/sdk"
)

func handler() sdk.Handler {
	mux := sdk.NewServeMux()
	mux.HandleFunc("/ping", func(w sdk.ResponseWriter, r *sdk.Request) { w.Write([]byte("pong")) })
	mux.HandleFunc("/whoami", func(w sdk.ResponseWriter, r *sdk.Request) { w.Write([]byte(sdk.Caller(r))) })
	mux.HandleFunc("/kv", kvHandler)
	mux.HandleFunc("/incr", incr)
	mux.HandleFunc("/list", list)
	mux.HandleFunc("/call", callHandler)
	mux.HandleFunc("/chain", chain)
	mux.HandleFunc("/sleep", func(w sdk.ResponseWriter, r *sdk.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		w.Write([]byte("slept"))
	})
	mux.HandleFunc("/bench", bench)
	return mux
}

func fail(w sdk.ResponseWriter, err error) {
	status := 500
	switch {
	case errors.Is(err, sdk.ErrDenied):
		status = 403
	case errors.Is(err, sdk.ErrConflict):
		status = 409
	case errors.Is(err, sdk.ErrTooLarge):
		status = 413
	case errors.Is(err, sdk.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		status = 504
	case errors.Is(err, sdk.ErrUnavailable):
		status = 503
	case errors.Is(err, sdk.ErrBadRequest):
		status = 400
	}
	w.WriteHeader(status)
	w.Write([]byte(err.Error()))
}

func kvHandler(w sdk.ResponseWriter, r *sdk.Request) {
	ctx, q := r.Context(), r.URL.Query()
	key := q.Get("key")
	version, hasVersion := uint64(0), q.Has("version")
	if hasVersion {
		version, _ = strconv.ParseUint(q.Get("version"), 10, 64)
	}
	kv := sdk.KV()
	switch r.Method {
	case "GET":
		e, found, err := kv.Get(ctx, key)
		if err != nil {
			fail(w, err)
			return
		}
		if !found {
			w.WriteHeader(404)
			return
		}
		w.Header().Set("Kv-Version", strconv.FormatUint(e.Version, 10))
		w.Write(e.Value)
	case "PUT":
		var v uint64
		var err error
		if hasVersion {
			v, err = kv.CompareAndSet(ctx, key, r.Body, version)
		} else {
			v, err = kv.Set(ctx, key, r.Body)
		}
		if err != nil {
			fail(w, err)
			return
		}
		w.Header().Set("Kv-Version", strconv.FormatUint(v, 10))
		w.WriteHeader(200)
	case "DELETE":
		var ok bool
		var err error
		if hasVersion {
			ok, err = kv.DeleteVersion(ctx, key, version)
		} else {
			ok, err = kv.Delete(ctx, key)
		}
		switch {
		case err != nil:
			fail(w, err)
		case !ok:
			w.WriteHeader(404)
		default:
			w.WriteHeader(204)
		}
	default:
		w.WriteHeader(405)
	}
}

func incr(w sdk.ResponseWriter, r *sdk.Request) {
	var n int
	_, err := sdk.KV().Update(r.Context(), r.URL.Query().Get("key"), func(b []byte, _ bool) ([]byte, error) {
		n, _ = strconv.Atoi(string(b))
		n++
		return []byte(strconv.Itoa(n)), nil
	})
	if err != nil {
		fail(w, err)
		return
	}
	w.Write([]byte(strconv.Itoa(n)))
}

func list(w sdk.ResponseWriter, r *sdk.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	es, more, err := sdk.KV().List(r.Context(), q.Get("prefix"), q.Get("after"), limit)
	if err != nil {
		fail(w, err)
		return
	}
	if more {
		w.Header().Set("Kv-More", "1")
	}
	var b strings.Builder
	for _, e := range es {
		b.WriteString(e.Key + "=" + string(e.Value) + "\n")
	}
	w.Write([]byte(b.String()))
}

func callHandler(w sdk.ResponseWriter, r *sdk.Request) {
	q := r.URL.Query()
	ctx := r.Context()
	if ms, err := strconv.Atoi(q.Get("timeout_ms")); err == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
		defer cancel()
	}
	resp, err := sdk.Call(ctx, q.Get("module"), &sdk.CallRequest{Path: q.Get("path"), Header: sdk.Header{"Edge-Caller": {"forged"}}})
	if err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(resp.Body)
}

func chain(w sdk.ResponseWriter, r *sdk.Request) {
	next := r.URL.Query().Get("next")
	if next == "" {
		w.Write([]byte("end"))
		return
	}
	first, rest, _ := strings.Cut(next, ",")
	resp, err := sdk.Call(r.Context(), first, &sdk.CallRequest{Path: "/chain?next=" + rest})
	if err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(resp.Body)
}

// ping is /ping as a plain function: the in-guest baseline of /bench.
func ping() []byte { return []byte("pong") }

func bench(w sdk.ResponseWriter, r *sdk.Request) {
	q := r.URL.Query()
	n, _ := strconv.Atoi(q.Get("n"))
	module := q.Get("module")
	start := time.Now()
	total := 0
	for range n {
		if module == "" {
			total += len(ping())
			continue
		}
		resp, err := sdk.Call(r.Context(), module, &sdk.CallRequest{Path: "/ping"})
		if err != nil {
			fail(w, err)
			return
		}
		total += len(resp.Body)
	}
	w.Header().Set("Bench-Ns", strconv.FormatInt(time.Since(start).Nanoseconds(), 10))
	w.Write([]byte(strconv.Itoa(total)))
}
