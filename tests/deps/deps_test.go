// Package deps checks what each program links, the way tailscale's
// cmd/tailscaled/deps_test.go does: the agent never links controller or
// broker code, edgectl never links wazero or an MQTT client, and the wire
// contract stays standard-library only.
package deps

import (
	"os/exec"
	"strings"
	"testing"
)

func deps(t *testing.T, pkg string, env ...string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", pkg)
	cmd.Dir = "../.."
	cmd.Env = append(cmd.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

const mod = "github.com/edgeplane/edge/"

func TestImportRules(t *testing.T) {
	tests := []struct {
		pkg       string
		env       []string
		forbidden []string // prefixes
		allowed   []string // exceptions to forbidden
	}{
		{pkg: "./cmd/edge-agent", forbidden: []string{mod + "control/", "github.com/mochi-mqtt/"}},
		{pkg: "./cmd/edgectl", forbidden: []string{"github.com/tetratelabs/wazero", "github.com/eclipse/paho", "github.com/mochi-mqtt/", mod + "agent/", "modernc.org/"}},
		{pkg: "./cmd/edge-control", forbidden: []string{"github.com/tetratelabs/wazero", mod + "agent/"}},
		{pkg: "./wire", forbidden: []string{"github.com/", "golang.org/", "modernc.org/"}, allowed: []string{mod + "wire"}},
		{pkg: "./modules/abi", forbidden: []string{"github.com/", "golang.org/", "modernc.org/"}, allowed: []string{mod + "modules/abi"}},
		// Code two programs share lives in internal/: the database bindings
		// are used by the agent and by the native order service, which must
		// not borrow agent code.
		{pkg: "./internal/...", forbidden: []string{mod + "agent/", mod + "control/", mod + "modules/", "github.com/tetratelabs/wazero", "github.com/eclipse/paho", "github.com/mochi-mqtt/"}},
		{pkg: "./modules/orders/native", forbidden: []string{mod + "agent/", mod + "control/", "github.com/tetratelabs/wazero", "github.com/eclipse/paho"}},
		{pkg: "./modules/orders/wasm", env: []string{"GOOS=wasip1", "GOARCH=wasm"},
			forbidden: []string{"net/http", "encoding/json", "github.com/", mod + "agent/"},
			allowed:   []string{mod + "modules/"}},
	}
	for _, tt := range tests {
		for _, d := range deps(t, tt.pkg, tt.env...) {
			for _, f := range tt.forbidden {
				if !strings.HasPrefix(d, f) {
					continue
				}
				ok := false
				for _, a := range tt.allowed {
					ok = ok || strings.HasPrefix(d, a)
				}
				if !ok {
					t.Errorf("%s links %s (forbidden: %s)", tt.pkg, d, f)
				}
			}
		}
	}
}
