//go:build wasip1

// Command msgguest is the test guest of messaging and timers (ABI version
// 2), built by the tests of agent/wasmhost and agent/supervisor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o msg.wasm ./agent/wasmhost/testdata/msgguest
//
// GET /healthz answers ok; GET /publish?topic=T&payload=P&qos=Q publishes and answers "ok" or the
// error. Messages on its filters act on their payload: "fail" fails
// (retried), "flaky" fails its first attempt only, "drop" is dropped, "nop" is acknowledged and nothing else, "exit" ends the process (a trap), "slow"
// sleeps 2 s, anything else is published back on "echo/<payload>" with
// the message's id and attempt. Timer "tick" publishes "ticks" with its
// missed count; timer "slow" sleeps 350 ms. The Rust SDK's guest
// (modules/sdk-rs/examples/msgguest.rs) does the same.
package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/edgeplane/edge/modules/sdk"
)

const Filter = "edge/v1/dev/{device}/in/t/#"

func init() {
	sdk.Serve(sdk.HandlerFunc(func(w sdk.ResponseWriter, r *sdk.Request) {
		if r.URL.Path == "/healthz" {
			fmt.Fprint(w, "ok")
			return
		}
		q := r.URL.Query()
		qos, _ := strconv.Atoi(q.Get("qos"))
		if err := sdk.Publish(q.Get("topic"), []byte(q.Get("payload")), byte(qos)); err != nil {
			w.WriteHeader(500)
			fmt.Fprint(w, err.Error())
			return
		}
		fmt.Fprint(w, "ok")
	}))
	handle := func(m *sdk.Message) error {
		switch p := string(m.Payload); p {
		case "fail":
			return fmt.Errorf("failing attempt %d", m.Attempt)
		case "flaky":
			if m.Attempt == 1 {
				return errors.New("failing the first attempt")
			}
		case "drop":
			return sdk.ErrDrop
		case "exit":
			os.Exit(3)
		case "slow":
			time.Sleep(2 * time.Second)
		case "nop":
			return nil
		}
		return sdk.Publish("echo/"+string(m.Payload), fmt.Appendf(nil, "%d %d %s", m.ID, m.Attempt, m.Topic), 1)
	}
	sdk.HandleMessage(Filter, handle)
	sdk.HandleMessage("edge/v1/dev/+/app/+/sensor", handle)
	sdk.HandleTimer("tick", func(t *sdk.Tick) error {
		return sdk.Publish("ticks", fmt.Appendf(nil, "%d", t.Missed), 0)
	})
	sdk.HandleTimer("slow", func(t *sdk.Tick) error {
		time.Sleep(350 * time.Millisecond)
		return sdk.Publish("slow", fmt.Appendf(nil, "%d", t.Missed), 0)
	})
}

func main() {}
