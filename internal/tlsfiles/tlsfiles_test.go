package tlsfiles

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:7080": true, "127.8.9.10:1": true, "[::1]:1884": true, "localhost:7080": true, "LOCALHOST:1": true,
		"0.0.0.0:7080": false, ":7080": false, "[::]:1883": false, "192.168.1.2:80": false, "controller.lan:443": false,
		"127.0.0.1":            false, // no port: not a listen address
		"[::ffff:127.0.0.1]:1": true,
	} {
		if got := Loopback(addr); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestLoadPoolRefuses: bad CA files tried by hand: missing, empty, a key
// instead of a certificate, a corrupt certificate block.
func TestLoadPoolRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, file, want string
		is               error
	}{
		{"missing", filepath.Join(dir, "none.pem"), "none.pem", os.ErrNotExist},
		{"empty", write("empty.pem", ""), "empty.pem", ErrNoCertificate},
		{"a key", write("key.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "key.pem", ErrNoCertificate},
		{"corrupt certificate", write("bad.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), "bad.pem: certificate 1", nil},
	} {
		_, err := LoadPool(tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Errorf("%s: %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
	if _, err := LoadKeyPair("c.pem", ""); err == nil {
		t.Error("a certificate without its key was accepted")
	}
}
