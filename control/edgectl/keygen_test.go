package edgectl

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeplane/edge/wire"
)

func TestKeygen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	code, stdout, stderr := run(t, "keygen", "--out", dir)
	if code != ExitOK {
		t.Fatalf("keygen: exit %d, want 0; stderr: %s", code, stderr)
	}
	keyPath, pubPath := filepath.Join(dir, PrivateKeyFile), filepath.Join(dir, PublicKeyFile)
	for path, want := range map[string]os.FileMode{dir: 0o700, keyPath: 0o600, pubPath: 0o644} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("mode of %s = %04o, want %04o", path, got, want)
		}
	}
	privPEM, _ := os.ReadFile(keyPath)
	pubPEM, _ := os.ReadFile(pubPath)
	priv, err := wire.ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatalf("private key: %v", err)
	}
	pub, err := wire.ParsePublicKey(pubPEM)
	if err != nil {
		t.Fatalf("public key: %v", err)
	}
	if !pub.Equal(priv.Public()) {
		t.Error("edge.pub is not the public half of edge.key")
	}
	if got, want := strings.TrimSpace(stdout), wire.KeyID(pub); got != want {
		t.Errorf("stdout = %q, want key id %q", got, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("keygen left %d files in %s, want 2 (no temp files)", len(entries), dir)
	}

	// A second keygen refuses to replace the key; --force replaces it.
	code, _, stderr = run(t, "keygen", "--out", dir)
	if code != ExitFailed || !strings.Contains(stderr, "--force") {
		t.Errorf("second keygen: exit %d, stderr %q; want 1 and a hint about --force", code, stderr)
	}
	if again, _ := os.ReadFile(keyPath); !bytes.Equal(again, privPEM) {
		t.Fatal("refused keygen changed the private key")
	}
	code, stdout, stderr = run(t, "keygen", "--out", dir, "--force", "--json")
	if code != ExitOK {
		t.Fatalf("keygen --force: exit %d: %s", code, stderr)
	}
	var res keygenResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("keygen --json output %q: %v", stdout, err)
	}
	newPub, _ := os.ReadFile(pubPath)
	if bytes.Equal(newPub, pubPEM) {
		t.Error("keygen --force did not replace the key pair")
	}
	if res.KeyID == wire.KeyID(pub) || res.PrivateKey != keyPath || res.PublicKey != pubPath {
		t.Errorf("keygen --json = %+v", res)
	}
}

func TestKeygenRefusesLonePublicKey(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, PublicKeyFile), []byte("old"), 0o644)
	if code, _, _ := run(t, "keygen", "--out", dir); code != ExitFailed {
		t.Errorf("keygen over an existing edge.pub: exit %d, want 1", code)
	}
	if _, err := os.Stat(filepath.Join(dir, PrivateKeyFile)); err == nil {
		t.Error("refused keygen wrote edge.key")
	}
}

// TestKeygenCleansCrashLeftovers: a keygen killed mid-write leaves temp
// files of edge.key/edge.pub (a half-written private key); the next keygen
// removes them and nothing else in the operator's folder.
func TestKeygenCleansCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	leftovers := []string{"." + PrivateKeyFile + ".tmp-123", "." + PublicKeyFile + ".tmp-456"}
	others := []string{".notes.tmp-1", "notes.txt"}
	for _, n := range append(leftovers, others...) {
		os.WriteFile(filepath.Join(dir, n), []byte("half"), 0o600)
	}
	if code, _, stderr := run(t, "keygen", "--out", dir); code != ExitOK {
		t.Fatalf("keygen: exit %d: %s", code, stderr)
	}
	for _, n := range leftovers {
		if _, err := os.Stat(filepath.Join(dir, n)); !os.IsNotExist(err) {
			t.Errorf("crash leftover %s still there (%v)", n, err)
		}
	}
	for _, n := range others {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("keygen removed the operator's %s: %v", n, err)
		}
	}
}

// TestPublicKeyAsKey: the public key given as --key (push, rollback) is
// named as such, with the private key beside it; it used to fail the
// secret file's mode check ("chmod 600 edge.pub"). Nothing is sent.
func TestPublicKeyAsKey(t *testing.T) {
	key, pub := testKey(t)
	f := newFakeControl(t, pub, []string{wire.StateRunning})
	pubFile := filepath.Join(filepath.Dir(key), PublicKeyFile)
	mod := testModule(t, "orders.wasm")
	for _, args := range [][]string{
		{"push", mod, "--key", pubFile, "--version", "1.0.0", "--port", "8080", "--node", "pi-1", "--control", f.srv.URL},
		{"rollback", "orders", "--key", pubFile, "--node", "pi-1", "--control", f.srv.URL},
	} {
		code, _, stderr := run(t, args...)
		if code != ExitFailed || !strings.Contains(stderr, "is a public key") || !strings.Contains(stderr, key) ||
			strings.Contains(stderr, "chmod") {
			t.Errorf("%s --key edge.pub: exit %d, %q; want 1 naming it a public key and %s", args[0], code, stderr, key)
		}
	}
	if len(f.blobs) != 0 || f.manifest != nil {
		t.Error("the controller received something")
	}
	// The same kind: a key given as --token-file (edge.pub failed the
	// mode check, edge.key was "want one token").
	for _, file := range []string{pubFile, key} {
		code, _, stderr := run(t, "devices", "--token-file", file, "--control", f.srv.URL)
		if code != ExitFailed || !strings.Contains(stderr, "holds a signing key") || strings.Contains(stderr, "chmod") {
			t.Errorf("--token-file %s: exit %d, %q; want 1 saying it holds a signing key", filepath.Base(file), code, stderr)
		}
	}
}
