package devsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeplane/edge/control/edgectl"
)

// TestFetchBlobs: simulated devices with FetchBlobs take a pushed module
// the way agents do, chunk by chunk over MQTT from the real controller,
// and the push completes only once each has every byte of the gzip form
// (checked against the desired state's chunk hashes and stored size).
func TestFetchBlobs(t *testing.T) {
	s := startControl(t)
	base := "http://" + s.HTTPAddr()
	ctx := context.Background()
	ids := []string{"fetch-1", "fetch-2", "fetch-3"}
	creds, err := Register(ctx, base, s.NewAdminToken(), ids, 3)
	if err != nil {
		t.Fatal(err)
	}
	sim := New(Config{Broker: s.MQTTAddr(), FetchBlobs: true, Labels: map[string]string{"group": "fetch"}})
	devs := sim.Add(creds...)
	if err := sim.Connect(ctx, devs, 3); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()

	// A module of random bytes does not compress: 300 KB is several chunks.
	dir := t.TempDir()
	mod := make([]byte, 300_000)
	rand.Read(mod)
	copy(mod, []byte("\x00asm\x01\x00\x00\x00"))
	wasm := filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(wasm, mod, 0o644); err != nil {
		t.Fatal(err)
	}
	ctl := func(args ...string) string {
		var out, errOut bytes.Buffer
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if code := edgectl.Run(cctx, args, &out, &errOut); code != 0 {
			t.Fatalf("edgectl %v = %d\n%s%s", args, code, out.String(), errOut.String())
		}
		return out.String()
	}
	ctl("keygen", "--out", dir, "--force")
	ctl("push", wasm, "--control", base, "--key", filepath.Join(dir, "edge.key"), "--name", "blob", "--version", "1.0.0",
		"--label", "group=fetch", "--port", "8081", "--wait", "90s")

	for _, d := range devs {
		if m := d.Status().Modules; len(m) != 1 || m[0].Version != "1.0.0" {
			t.Errorf("%s serves %+v after the push", d.ID, m)
		}
		// Random bytes do not compress: the gzip form is a little larger.
		d.mu.Lock()
		got := d.fetched
		d.mu.Unlock()
		if got < int64(len(mod)) || got > int64(len(mod))+1024 {
			t.Errorf("%s received %d bytes in chunks, want the gzip form of %d random bytes", d.ID, got, len(mod))
		}
	}
	if st := sim.Stats(); st.Fetched < int64(len(ids)*len(mod)) {
		t.Errorf("Stats().Fetched = %d, want at least %d", st.Fetched, len(ids)*len(mod))
	}
}
