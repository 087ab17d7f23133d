// Package deps checks what each program links, the way tailscale's
// cmd/tailscaled/deps_test.go does: the agent never links controller or
// broker code, edgectl never links wazero or an MQTT client, and the wire
// contract stays standard-library only; each program reads its secret
// files through internal/secretfile (one rule for their modes). Packages
// under internal/ are shared by several programs, so each stays
// standard-library only unless internalAllowed says what else it may
// import.
package deps

import (
	"os/exec"
	"slices"
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
		required  []string // packages it must link
	}{
		// Boards fetch modules from the controller over MQTT, never from a
		// registry: no OCI client on the board.
		{pkg: "./cmd/edge-agent", forbidden: []string{mod + "control/", mod + "tests/", "github.com/mochi-mqtt/", "github.com/chromedp/", "github.com/prometheus/",
			mod + "internal/ociwasm", "oras.land/", "github.com/opencontainers/"},
			required: []string{mod + "internal/secretfile"}},
		{pkg: "./cmd/edgectl", forbidden: []string{"github.com/tetratelabs/wazero", "github.com/eclipse/paho", "github.com/mochi-mqtt/", "github.com/prometheus/", mod + "agent/", mod + "tests/", "modernc.org/", "github.com/chromedp/"},
			required: []string{mod + "internal/secretfile"}},
		// chromedp drives the dashboard's browser tests only; the
		// controller never links the simulator or test code.
		{pkg: "./cmd/edge-control", forbidden: []string{"github.com/tetratelabs/wazero", mod + "agent/", mod + "tests/", "github.com/chromedp/"},
			required: []string{mod + "internal/secretfile"}},
		{pkg: "./wire", forbidden: []string{"github.com/", "golang.org/", "modernc.org/"}, allowed: []string{mod + "wire"}},
		// Linked into all three programs / run by every make build: stdlib only.
		{pkg: "./internal/buildinfo", forbidden: []string{"github.com/", "golang.org/", "modernc.org/"}, allowed: []string{mod + "internal/buildinfo"}},
		{pkg: "./deploy/version", forbidden: []string{"github.com/", "golang.org/", "modernc.org/"}, allowed: []string{mod + "deploy/version", mod + "deploy/release"}},
		{pkg: "./modules/abi", forbidden: []string{"github.com/", "golang.org/", "modernc.org/"}, allowed: []string{mod + "modules/abi"}},
		// Code two programs share lives in internal/: the database bindings
		// are used by the agent and by the native order service, which must
		// not borrow agent code.
		{pkg: "./internal/...", forbidden: []string{mod + "agent/", mod + "control/", mod + "modules/", "github.com/tetratelabs/wazero", "github.com/mochi-mqtt/"}},
		{pkg: "./internal/dbbind", forbidden: []string{"github.com/eclipse/paho"}},
		{pkg: "./modules/orders/native", forbidden: []string{mod + "agent/", mod + "control/", "github.com/tetratelabs/wazero", "github.com/eclipse/paho"}},
		{pkg: "./modules/orders/wasm", env: []string{"GOOS=wasip1", "GOARCH=wasm"},
			forbidden: []string{"net/http", "encoding/json", "github.com/", mod + "agent/"},
			allowed:   []string{mod + "modules/"}},
	}
	for _, tt := range tests {
		ds := deps(t, tt.pkg, tt.env...)
		for _, r := range tt.required {
			if !slices.Contains(ds, r) {
				t.Errorf("%s does not link %s", tt.pkg, r)
			}
		}
		for _, d := range ds {
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

// internalAllowed lists, per package under internal/, the non-standard
// imports it may have (prefixes). A package missing here may import the
// standard library and other internal/ packages only.
var internalAllowed = map[string][]string{
	// oras-go for the OCI distribution protocol, and what it links
	// (edgectl and edge-control only; see TestImportRules).
	"internal/ociwasm": {mod + "wire", "oras.land/oras-go/v2", "github.com/opencontainers/go-digest", "github.com/opencontainers/image-spec", "golang.org/x/sync/"},
	// paho for its websocket dialer, and what paho itself links.
	"internal/mqttdial": {"github.com/eclipse/paho.mqtt.golang", "github.com/gorilla/websocket", "golang.org/x/net/", "golang.org/x/sync/"},
	// The two SQL drivers the product is built on, and what they link.
	"internal/dbbind": {"github.com/go-sql-driver/mysql", "filippo.io/edwards25519", "modernc.org/", "github.com/dustin/go-humanize",
		"github.com/google/uuid", "github.com/remyoudompheng/bigfft", "github.com/ncruces/go-strftime", "golang.org/x/sys/"},
}

func init() {
	// The key-value store is a SQLite file opened through dbbind: what
	// dbbind links, and nothing more.
	internalAllowed["internal/kvstore"] = internalAllowed["internal/dbbind"]
}

func TestInternalPackages(t *testing.T) {
	cmd := exec.Command("go", "list", "./internal/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./internal/...: %v", err)
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) == 0 {
		t.Fatal("go list ./internal/... found no package")
	}
	for _, pkg := range pkgs {
		rel := strings.TrimPrefix(pkg, mod)
		cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg)
		cmd.Dir = "../.."
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, d := range strings.Fields(string(out)) {
			ok := strings.HasPrefix(d, mod+"internal/")
			for _, a := range internalAllowed[rel] {
				ok = ok || strings.HasPrefix(d, a)
			}
			if !ok {
				t.Errorf("%s imports %s: internal packages are standard-library only unless internalAllowed lists it", rel, d)
			}
		}
	}
}
