// Package e2e drives the real binaries (edge-agent, edge-control, edgectl,
// orders-native, orders.wasm) over loopback. Set EDGE_BIN to a folder that
// holds them (make test does); otherwise the tests build them once.
package e2e

import (
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/edgeplane/edge/tests/harness"
)

// The shared harness under the short names these tests use.
var (
	bin           = harness.Bin
	call          = harness.Call
	readFile      = harness.ReadFile
	repoRoot      = harness.RepoRoot
	mysqlDatabase = func(t testing.TB) string { return harness.MySQLDatabase(t, "e2e") }
)

type proc = harness.Proc

// start runs a program until its ready line, within a minute.
func start(t testing.TB, ready *regexp.Regexp, env []string, name string, args ...string) (*proc, string) {
	t.Helper()
	return harness.Start(t, ready, env, time.Minute, name, args...)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}
