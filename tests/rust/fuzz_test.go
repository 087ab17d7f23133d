package rust

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/agent/wasmhost"
	"github.com/edgeplane/edge/internal/dbbind"
	"github.com/edgeplane/edge/modules/abi"
	"github.com/edgeplane/edge/tests/harness"
)

// loadModule loads a built module into an in-process host over a fresh
// SQLite file, as edge-agent serve does.
func loadModule(f *testing.F, e *wasmhost.Engine, name, path string) *wasmhost.Module {
	f.Helper()
	db, err := dbbind.Open(context.Background(), "sqlite:"+filepath.Join(f.TempDir(), name+".db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	wasm, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	m, err := e.Load(context.Background(), wasm, wasmhost.Config{Name: name, PoolSize: 1, DB: db,
		Limits: wasmhost.Limits{Deadline: 5 * time.Second}})
	if err != nil {
		f.Fatalf("load %s: %v", name, err)
	}
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m.Close(ctx)
	})
	return m
}

// outcome is a module's answer as the host received it: the Response frame
// itself, or the class of the failure.
type outcome struct {
	resp abi.Response
	fail string
}

func serveFrame(m *wasmhost.Module, req *abi.Request) outcome {
	resp, err := m.Serve(context.Background(), req)
	if err == nil {
		return outcome{resp: resp}
	}
	for _, class := range []error{wasmhost.ErrTrap, wasmhost.ErrTimeout, wasmhost.ErrBadResponse, wasmhost.ErrBodyTooLarge} {
		if errors.Is(err, class) {
			return outcome{fail: class.Error()}
		}
	}
	return outcome{fail: err.Error()}
}

func (o outcome) String() string {
	if o.fail != "" {
		return "failed: " + o.fail
	}
	return fmt.Sprintf("%d %q %q", o.resp.Status, o.resp.Header, o.resp.Body)
}

func (o outcome) equal(p outcome) bool {
	if o.fail != "" || p.fail != "" {
		return o.fail == p.fail
	}
	if o.resp.Status != p.resp.Status || !bytes.Equal(o.resp.Body, p.resp.Body) || len(o.resp.Header) != len(p.resp.Header) {
		return false
	}
	for i, h := range o.resp.Header {
		if p.resp.Header[i] != h {
			return false
		}
	}
	return true
}

// FuzzModules sends the Go and the Rust order service the same request
// frames, straight through the host (method, target and body as the fuzzer
// makes them, including targets net/http would refuse), and requires the
// same Response frame byte for byte. After a write it also compares the
// listing, then resets the table, so stored values (floats, text) are
// compared as written back.
func FuzzModules(f *testing.F) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := wasmhost.NewEngine(wasmhost.EngineConfig{CacheDir: f.TempDir(), Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	goMod := loadModule(f, e, "go", harness.Bin(f, "orders.wasm"))
	rsMod := loadModule(f, e, "rust", harness.RustBin(f, "orders-rs.wasm"))
	both := func(t *testing.T, req *abi.Request) outcome {
		g, r := serveFrame(goMod, req), serveFrame(rsMod, req)
		if g.fail == wasmhost.ErrTimeout.Error() || r.fail == wasmhost.ErrTimeout.Error() {
			t.Fatalf("%s %q (body %q) ran past its deadline:\nrust %s\ngo   %s", req.Method, req.URI, req.Body, r, g)
		}
		if !g.equal(r) {
			t.Fatalf("%s %q (body %q):\nrust %s\ngo   %s", req.Method, req.URI, req.Body, r, g)
		}
		return g
	}
	for _, m := range []*wasmhost.Module{goMod, rsMod} {
		if o := serveFrame(m, &abi.Request{Method: "GET", URI: "/init"}); o.fail != "" || o.resp.Status != 200 {
			f.Fatalf("init: %s", o)
		}
	}
	for _, r := range append(tableRequests(), extraRequests(f)...) {
		if r.raw == "" && len(r.body) < 64<<10 {
			f.Add(r.method, r.target, r.header["Content-Type"], []byte(r.body))
		}
	}
	for _, target := range []string{"/%zz", "/%", "orders", "http://h", "http://h?id=1", "*", "/a b", "/\x7f", "//x", "/delete_order?id=%"} {
		f.Add("GET", target, "", []byte(nil))
	}
	for _, v := range []string{"0.1", "1e-7", "1e21", "-0.0", "5e-324", "4.9406564584124654e-324", "2.2250738585072014e-308",
		"9007199254740993", "0.30000000000000004", "1e-6", "9.999999999999999e20", "123456789012345678901234567890"} {
		f.Add("POST", "/create_order", "", []byte(order(1, v, `"x"`)))
	}
	f.Fuzz(func(t *testing.T, method, target, ctype string, body []byte) {
		if len(body) > 256<<10 {
			return
		}
		req := &abi.Request{Method: method, URI: target, RemoteAddr: "127.0.0.1:1",
			Header: []abi.Header{{Name: "Host", Value: "x"}, {Name: "Content-Type", Value: ctype}}, Body: body}
		out := both(t, req)
		if out.fail == "" && out.resp.Status == 200 && method == "POST" && strings.Contains(target, "order") {
			both(t, &abi.Request{Method: "GET", URI: "/orders", Header: req.Header[:1]})
			both(t, &abi.Request{Method: "GET", URI: "/init", Header: req.Header[:1]})
		}
	})
}
