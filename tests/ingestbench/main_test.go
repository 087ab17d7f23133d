package main

import (
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/tests/harness"
)

// TestShortRun runs the benchmark in miniature against the real
// edge-control: ten devices reporting every 300 ms, measured and
// reported. (Whether it kept up is not asserted: on a loaded machine a
// run this short may say either; make ingestbench is the measurement.)
func TestShortRun(t *testing.T) {
	b := &bench{bin: harness.BinDir(t), interval: 300 * time.Millisecond, measure: 3}
	defer b.stop()
	report, err := b.run([]int{10})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(report, "| 10 |") || !strings.Contains(report, "## Controller ingest") {
		t.Errorf("report:\n%s\ncontroller log:\n%s", report, b.ctlOut.String())
	}
}
