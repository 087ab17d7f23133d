package worker

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// echo.wasm answers 200 with the request body (see its .wat).
const echoWasm = "../wasmhost/testdata/echo.wasm"

func TestValidate(t *testing.T) {
	for _, c := range []Config{{}, {Module: "x", DeadlineMode: "slow"}, {Module: "x", Engine: "jit"}, {Module: "x", Pool: 65}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	if err := (&Config{Module: "x"}).Validate(); err != nil {
		t.Error(err)
	}
}

func start(t *testing.T, cfg Config) (addr string, beats <-chan Heartbeat, cancel func(), done <-chan error) {
	t.Helper()
	w, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	ch := heartbeats(pr)
	ctx, stop := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx, ln, nil, pw); pw.Close() }()
	t.Cleanup(stop)
	return ln.Addr().String(), ch, stop, errc
}

func TestLoadFailureIsReported(t *testing.T) {
	_, beats, _, done := start(t, Config{Module: "/nonexistent.wasm", Name: "bad"})
	var sawErr bool
	timeout := time.After(5 * time.Second)
	for !sawErr {
		select {
		case hb := <-beats:
			if hb.Ready {
				t.Fatal("ready with no module")
			}
			sawErr = hb.Err != ""
		case <-timeout:
			t.Fatal("no heartbeat with the error")
		}
	}
	if err := <-done; err == nil {
		t.Fatal("Run succeeded with no module")
	}
}

// TestServeAndDrain: the worker serves on the listener it is given,
// reports ready and counts responses; on cancel it answers a request on
// a kept-alive connection with Connection: close and then exits.
func TestServeAndDrain(t *testing.T) {
	addr, beats, cancel, done := start(t, Config{Module: echoWasm, Name: "echo", Pool: 1, DrainIdleMS: 2000})
	timeout := time.After(30 * time.Second)
	for ready := false; !ready; {
		select {
		case hb := <-beats:
			ready = hb.Ready
		case <-timeout:
			t.Fatal("not ready")
		}
	}
	c := &http.Client{}
	post := func() *http.Response {
		resp, err := c.Post("http://"+addr+"/", "text/plain", strings.NewReader("hello"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "hello" {
			t.Fatalf("got %d %q", resp.StatusCode, b)
		}
		return resp
	}
	if resp := post(); resp.Close {
		t.Fatal("Connection: close before draining")
	}
	cancel()
	time.Sleep(200 * time.Millisecond) // draining now; the connection is kept alive
	if resp := post(); !resp.Close {
		t.Fatal("no Connection: close while draining")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not exit after draining")
	}
	var last Heartbeat
	for hb := range beats { // closed when Run has returned
		last = hb
	}
	if last.HTTP != 2 {
		t.Fatalf("counted %d responses", last.HTTP)
	}
}
