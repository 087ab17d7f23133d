package worker

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// heartbeats decodes the heartbeat lines read from r; the channel closes
// at EOF. It holds the beats of a test's run (up to 1000).
func heartbeats(r io.Reader) <-chan Heartbeat {
	ch := make(chan Heartbeat, 1000)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			var hb Heartbeat
			if json.Unmarshal(sc.Bytes(), &hb) == nil {
				select {
				case ch <- hb:
				default:
				}
			}
		}
	}()
	return ch
}

// TestGate: a gated worker serves its probe listener as soon as it is
// ready but takes no request on the module's listener until the gate
// opens; its last heartbeat, after the drain, is marked Final.
func TestGate(t *testing.T) {
	w, err := New(Config{Module: echoWasm, Name: "echo", Pool: 1, DrainIdleMS: 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	ln, probe := listen(), listen()
	gateR, gateW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer gateW.Close()
	w.SetGate(gateR)
	hbR, hbW := io.Pipe()
	beats := heartbeats(hbR)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, ln, probe, hbW); hbW.Close() }()
	for hb := range beats {
		if hb.Ready {
			break
		}
	}

	post := func(addr string, timeout time.Duration) (string, error) {
		c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Post("http://"+addr+"/", "text/plain", strings.NewReader("hi"))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if got, err := post(probe.Addr().String(), 10*time.Second); err != nil || got != "hi" {
		t.Fatalf("probe listener before the gate opened: %q, %v; want it served", got, err)
	}
	if got, err := post(ln.Addr().String(), 300*time.Millisecond); err == nil {
		t.Fatalf("module listener answered %q before the gate opened", got)
	}
	gateW.Write([]byte{1})
	if got, err := post(ln.Addr().String(), 10*time.Second); err != nil || got != "hi" {
		t.Fatalf("module listener after the gate opened: %q, %v", got, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var last Heartbeat
	for hb := range beats {
		last = hb
	}
	// 2: the client's, and the request that waited in the accept queue
	// while the gate was closed (its client gave up). The supervisor's
	// probe is not a client request and is not counted.
	if !last.Final || last.HTTP != 2 {
		t.Errorf("last heartbeat %+v, want Final with 2 responses", last)
	}
	if m := last.Metrics; m == nil || m.Requests != 2 || m.Responses2xx != 2 || m.Latency.Count() != 2 {
		t.Errorf("final metrics %+v, want 2 requests, 2 2xx, 2 in the histogram", m)
	}
}
