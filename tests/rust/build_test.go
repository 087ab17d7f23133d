package rust

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/edgeplane/edge/tests/harness"
)

// TestReproducibleBuild rebuilds the Rust test guests in a fresh folder
// and requires the same bytes as the committed
// agent/wasmhost/testdata/hostcalls-rs.wasm and msgguest-rs.wasm: the
// committed guests are then current, and the build does not depend on the
// checkout's path, the build folder or the time (make build uses the same
// flags for orders-rs.wasm).
func TestReproducibleBuild(t *testing.T) {
	harness.RustBin(t, "orders-rs.wasm") // skips without the toolchain
	dir := t.TempDir()
	for _, name := range []string{"hostcalls-rs.wasm", "msgguest-rs.wasm"} {
		out := filepath.Join(dir, name)
		cmd := exec.Command("make", "--no-print-directory", "BIN="+dir, out)
		cmd.Dir = harness.RepoRoot()
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make %s: %v\n%s", out, err, b)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "agent", "wasmhost", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("a fresh build of %s (%d bytes) differs from the committed one (%d bytes): "+
				"run make rust-testdata if modules/sdk-rs changed, else the build is not reproducible", name, len(got), len(want))
		}
	}
}
