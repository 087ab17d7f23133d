// Command msgbench measures module messaging on one device (`make
// msgbench`): the agent's session and supervisor on a broker (the
// embedded one on a free port, or -broker URL, anonymous), a worker
// running the SDK's test guest (agent/wasmhost/testdata/msgguest), and a
// controller-side client on the same broker.
//
//	throughput  N QoS 1 messages published to the module's filter, at
//	            most -window of them not yet delivered; the guest
//	            acknowledges each and publishes nothing: messages/s from
//	            the first publish to the last delivery
//	latency     one QoS 1 message at a time; the guest publishes an echo
//	            at QoS 1: broker → agent → worker → guest → publish →
//	            broker → client, p50/p90/p99 over -rounds
//
// It prints a Markdown section for docs/BENCHMARKS.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgeplane/edge/internal/freeport"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/agent/session"
	"github.com/edgeplane/edge/agent/store"
	"github.com/edgeplane/edge/agent/supervisor"
	"github.com/edgeplane/edge/control/broker"
	"github.com/edgeplane/edge/wire"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "msgbench:", err)
		os.Exit(1)
	}
}

const device = "bench-1"

func run() error {
	brokerURL := flag.String("broker", "", "broker URL (anonymous access); empty: the embedded broker on a free port")
	n := flag.Int("n", 5000, "messages of the throughput run")
	window := flag.Int("window", 200, "messages the throughput run keeps published but not yet delivered (a burst larger than the module's queue and the broker's queue for the device is dropped by the broker)")
	rounds := flag.Int("rounds", 500, "round trips of the latency run")
	engine := flag.String("engine", "auto", "wasm engine of the worker")
	flag.Parse()

	dir, err := os.MkdirTemp("", "msgbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	agent, wasm, err := build(dir)
	if err != nil {
		return err
	}
	url := *brokerURL
	name := "embedded broker"
	if url == "" {
		b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", AllowAnonymous: true, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return err
		}
		defer b.Close()
		url = "tcp://" + b.DialAddr()
	} else {
		name = url
	}
	st, err := store.Open(filepath.Join(dir, "data"), nil, store.Options{})
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sess, err := session.New(session.Config{Broker: url, Device: device}, st.Outbox(), log)
	if err != nil {
		return err
	}
	sup, err := supervisor.New(supervisor.Config{Exe: agent, Args: []string{"worker", "--log-level", "warn"},
		DataDir: filepath.Join(dir, "data"), CacheDir: filepath.Join(dir, "cache"), ListenHost: "127.0.0.1",
		Engine: *engine, Device: device, Bus: sess, Stderr: io.Discard})
	if err != nil {
		return err
	}
	sess.SetAppHandler(sup.Receive)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess.Start(ctx)
	defer sess.Close()
	defer sup.Close(context.Background())

	ctl, echoes, err := controller(url)
	if err != nil {
		return err
	}
	defer ctl.Disconnect(100)
	port, err := freePort()
	if err != nil {
		return err
	}
	m := &wire.Manifest{Schema: wire.ManifestSchemaPlatform, Name: "msg", Version: "1.0.0", SHA256: strings.Repeat("1", 64),
		Port: port, Probe: wire.Probe{Path: "/healthz"}, Limits: wire.Limits{Pool: 2},
		Messaging: wire.Messaging{Publish: []string{"echo/#"}, Rate: wire.MaxPublishRate,
			Subscribe: []wire.Subscription{{Filter: "edge/v1/dev/{device}/in/t/#", QoS: 1}}}}
	if err := waitFor(10*time.Second, sess.Connected); err != nil {
		return fmt.Errorf("agent session: %w", err)
	}
	if err := sup.Deploy(ctx, m, wasm, nil); err != nil {
		return err
	}
	if err := waitFor(10*time.Second, func() bool { return sess.AppSubscribed("edge/v1/dev/" + device + "/in/t/#") }); err != nil {
		return fmt.Errorf("module subscription: %w", err)
	}

	tput, err := throughput(ctl, sup, *n, *window)
	if err != nil {
		return err
	}
	lat, err := latency(ctl, echoes, *rounds)
	if err != nil {
		return err
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	fmt.Printf("| broker | engine | throughput (QoS 1, guest acknowledges) | round trip p50 | p90 | p99 |\n|---|---|---|---|---|---|\n")
	fmt.Printf("| %s | %s | %.0f messages/s (%d messages, window %d) | %s | %s | %s |\n", name, *engine, tput, *n, *window,
		q(0.5).Round(10*time.Microsecond), q(0.9).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond))
	return nil
}

// build builds the agent (workers are it) and the test guest.
func build(dir string) (agent, wasm string, err error) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	agent, wasm = filepath.Join(dir, "edge-agent"), filepath.Join(dir, "msg.wasm")
	cmds := []*exec.Cmd{
		exec.Command("go", "build", "-o", agent, "./cmd/edge-agent"),
		exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w", "-o", wasm, "./agent/wasmhost/testdata/msgguest"),
	}
	cmds[1].Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	for _, c := range cmds {
		c.Dir, c.Stderr = root, os.Stderr
		if err := c.Run(); err != nil {
			return "", "", fmt.Errorf("build %v: %w", c.Args, err)
		}
	}
	return agent, wasm, nil
}

// controller connects the client that publishes to the device's inbox
// and receives the module's echoes.
func controller(url string) (mqtt.Client, chan string, error) {
	echoes := make(chan string, 1024)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("bench-ctl").SetAutoReconnect(false).
		SetMaxResumePubInFlight(1000))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return nil, nil, fmt.Errorf("controller connect: %v", tok.Error())
	}
	tok := c.Subscribe(wire.AppTopic(device, "msg", "echo/#"), 1, func(_ mqtt.Client, m mqtt.Message) {
		echoes <- strings.TrimPrefix(m.Topic(), wire.AppTopic(device, "msg", "echo/"))
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return nil, nil, fmt.Errorf("controller subscribe: %v", tok.Error())
	}
	return c, echoes, nil
}

func throughput(ctl mqtt.Client, sup *supervisor.Supervisor, n, window int) (float64, error) {
	base := sup.MessagingStats("msg").Delivered
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		for uint64(i)-(sup.MessagingStats("msg").Delivered-base) >= uint64(window) {
			time.Sleep(100 * time.Microsecond)
		}
		tok := ctl.Publish(wire.InboxTopic(device, "t/x"), 1, false, "nop")
		wg.Go(func() { tok.WaitTimeout(30 * time.Second) })
	}
	wg.Wait()
	if err := waitFor(120*time.Second, func() bool { return sup.MessagingStats("msg").Delivered-base >= uint64(n) }); err != nil {
		return 0, fmt.Errorf("throughput: %d of %d delivered: %w (%+v)", sup.MessagingStats("msg").Delivered-base, n, err, sup.MessagingStats("msg"))
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func latency(ctl mqtt.Client, echoes chan string, rounds int) ([]time.Duration, error) {
	var out []time.Duration
	for i := 0; i < rounds+20; i++ {
		p := "r" + strconv.Itoa(i)
		start := time.Now()
		ctl.Publish(wire.InboxTopic(device, "t/x"), 1, false, p)
		for got := ""; got != p; {
			select {
			case got = <-echoes:
			case <-time.After(10 * time.Second):
				return nil, fmt.Errorf("latency: no echo of %s", p)
			}
		}
		if i >= 20 { // warm-up
			out = append(out, time.Since(start))
		}
	}
	return out, nil
}

func freePort() (int, error) { return freeport.Pick() }

func waitFor(d time.Duration, ok func() bool) error {
	end := time.Now().Add(d)
	for !ok() {
		if time.Now().After(end) {
			return errors.New("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}
