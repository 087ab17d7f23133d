// Command devsim runs many simulated agents against a controller (see
// package devsim):
//
//	go run ./tests/devsim/cmd -control http://127.0.0.1:7080 -broker 127.0.0.1:1884 -devices 1000 -interval 10s
//
// It registers the devices through the API (a new password each run),
// connects them, and publishes their metrics until interrupted, printing
// what it sent every interval on stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/edgeplane/edge/tests/devsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("devsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	control := fs.String("control", "http://127.0.0.1:7080", "controller HTTP API `URL`")
	broker := fs.String("broker", "127.0.0.1:1884", "MQTT broker `host:port`")
	n := fs.Int("devices", 100, "simulated devices")
	prefix := fs.String("prefix", "sim", "device ids are PREFIX-00001, ...")
	interval := fs.Duration("interval", 10*time.Second, "between each device's metrics reports")
	rate := fs.Float64("rate", 5, "requests per second each device's module answers")
	serve := fs.String("serve", "orders@1.0.0", "module@version each device serves from the start (\"\": none until a push)")
	parallel := fs.Int("parallel", 16, "registrations and connections at once")
	tokenFile := fs.String("token-file", "", "admin token `file` (default: $EDGE_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ids := make([]string, *n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%05d", *prefix, i+1)
	}
	start := time.Now()
	token := os.Getenv("EDGE_TOKEN")
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			fmt.Fprintln(stderr, "devsim:", err)
			return 2
		}
		token = strings.TrimSpace(string(b))
	}
	creds, err := devsim.Register(ctx, *control, token, ids, *parallel)
	if err != nil {
		fmt.Fprintln(stderr, "devsim:", err)
		return 1
	}
	sim := devsim.New(devsim.Config{Broker: *broker, Interval: *interval, RequestRate: *rate})
	devs := sim.Add(creds...)
	if *serve != "" {
		name, version, ok := strings.Cut(*serve, "@")
		if !ok || name == "" || version == "" {
			fmt.Fprintln(stderr, "devsim: -serve: want module@version")
			return 2
		}
		for _, d := range devs {
			d.Serve(name, version, 8080)
		}
	}
	if err := sim.Connect(ctx, devs, *parallel); err != nil {
		fmt.Fprintln(stderr, "devsim:", err)
		sim.Close()
		return 1
	}
	fmt.Fprintf(stderr, "devsim: %d devices registered and connected in %s; reporting every %s\n", *n, time.Since(start).Round(time.Millisecond), *interval)
	go func() {
		t := time.NewTicker(*interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s := sim.Stats()
				fmt.Fprintf(stderr, "devsim: %d devices, %d reports published, %d failed\n", s.Devices, s.Published, s.Failed)
			}
		}
	}()
	sim.Run(ctx)
	sim.Close()
	return 0
}
