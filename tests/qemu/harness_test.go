//go:build qemu

package qemu

import (
	"regexp"
	"testing"
	"time"

	"github.com/edgeplane/edge/tests/harness"
)

// The shared harness under the short names these tests use.
var (
	hostBin  = harness.Bin // host-native programs (EDGE_BIN, else built once)
	readFile = harness.ReadFile
	repoRoot = harness.RepoRoot
	tryCall  = harness.TryCall
	// controlToken registers a controller's admin token: call and edgectl
	// send it.
	controlToken = harness.ControlToken
	edgectlEnv   = harness.EdgectlEnvFor
)

type proc = harness.Proc

// start runs a program until its ready line, within wait; emulated
// programs shut down slowly, so Stop waits 30 s for them.
func start(t testing.TB, ready *regexp.Regexp, wait time.Duration, name string, args ...string) (*proc, string) {
	t.Helper()
	p, v := harness.Start(t, ready, nil, wait, name, args...)
	p.StopWait = 30 * time.Second
	return p, v
}

// call makes one HTTP request, allowing two minutes under emulation.
func call(t testing.TB, method, url, body string) (int, string) {
	t.Helper()
	status, b, err := tryCall(method, url, body, 2*time.Minute)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return status, b
}
