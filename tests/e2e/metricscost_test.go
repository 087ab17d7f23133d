package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeplane/edge/wire"
)

// TestMetricsCost measures what metrics cost a device at the default
// interval: bytes on the wire per minute and the agent's CPU, with one
// module under light load (5 requests a second), against the same agent
// with --metrics-interval 0. It takes 3 minutes and runs only with
// EDGE_MEASURE=1; the figures are in docs/BENCHMARKS.md.
func TestMetricsCost(t *testing.T) {
	if os.Getenv("EDGE_MEASURE") == "" {
		t.Skip("set EDGE_MEASURE=1 to measure the cost of metrics (3 minutes)")
	}
	const window = 90 * time.Second
	for _, interval := range []string{"10s", "0"} {
		f := startFleet(t, "--allow-anonymous")
		var mu sync.Mutex
		var reports, payload, packets int
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + f.mqtt).SetClientID("cost-" + interval))
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		topic := wire.DeviceTopic("cost", wire.KindMetrics)
		c.Subscribe(topic, 0, func(_ mqtt.Client, m mqtt.Message) {
			mu.Lock()
			reports++
			payload += len(m.Payload())
			packets += wire.PublishPacketSize(topic, 0, len(m.Payload()))
			mu.Unlock()
		}).Wait()
		marker := fmt.Sprintf("cost-%s-%d", interval, time.Now().UnixNano())
		args := append(f.device(t, "cost"), "--metrics-interval", interval)
		ag, _ := start(t, agentRunning, []string{agentMarker + "=" + marker}, bin(t, "edge-agent"), args...)
		port := freePort(t)
		if out, _, code := f.push(t, bin(t, "orders.wasm"), "1.0.0", "cost", port); code != 0 {
			t.Fatalf("push = %d\n%s", code, out)
		}
		base := fmt.Sprintf("http://127.0.0.1:%d/", port)
		time.Sleep(15 * time.Second) // let start-up settle
		mu.Lock()
		reports, payload, packets = 0, 0, 0
		mu.Unlock()
		cpu0 := procCPU(t, ag.Cmd.Process.Pid)
		t0 := time.Now()
		tick := time.NewTicker(200 * time.Millisecond)
		requests := 0
		for time.Since(t0) < window {
			<-tick.C
			if resp, err := http.Get(base); err == nil {
				resp.Body.Close()
				requests++
			}
		}
		tick.Stop()
		cpu := procCPU(t, ag.Cmd.Process.Pid) - cpu0
		el := time.Since(t0).Minutes()
		mu.Lock()
		t.Logf("interval %s: %d requests; agent (supervisor) CPU %.3f s/min; %d reports, %.0f payload bytes/min, %.0f MQTT bytes/min (%.0f bytes a report)",
			interval, requests, cpu/el, reports, float64(payload)/el, float64(packets)/el, float64(payload)/max(1, float64(reports)))
		mu.Unlock()
		c.Disconnect(100)
		ag.Stop(t)
		f.ctl.Stop(t)
	}
}

// procCPU is the user + system CPU seconds of process pid.
func procCPU(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100
}
