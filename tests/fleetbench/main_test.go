package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/tests/harness"
)

// TestShortRun runs the benchmark in miniature against the real
// edge-control and edgectl: 40 devices reporting every 500 ms, a push of
// orders.wasm to 10 of them fetching its chunks over MQTT, against the
// embedded broker and a mosquitto of the test's own. The run fails if any
// targeted device does not acknowledge the push or serves another
// version afterwards; how fast it was is not asserted (make fleetbench is
// the measurement).
func TestShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts edge-control and a simulated fleet")
	}
	brokers := []string{"embedded"}
	if _, err := exec.LookPath("mosquitto"); err == nil {
		brokers = append(brokers, "mosquitto")
	} else {
		t.Log("no mosquitto binary: the embedded broker only")
	}
	bin := harness.BinDir(t)
	cfg := config{bin: bin, module: filepath.Join(bin, "orders.wasm"), devices: 40, targets: 10,
		interval: 500 * time.Millisecond, measure: 2, brokers: brokers, pushWait: 2 * time.Minute}
	var log bytes.Buffer
	report, err := run(cfg, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	for _, b := range brokers {
		if !strings.Contains(report, "| "+b+" |") {
			t.Errorf("report lacks the %s row:\n%s", b, report)
		}
	}
	t.Logf("\n%s%s", log.String(), report)
}
