package tlsfiles

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/internal/secretfile"
)

// TestKeyFileMode: a private key other users may read is refused with the
// file and the fix named (--tls-key of edge-control, --key of edge-agent).
func TestKeyFileMode(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "c"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	if _, err := LoadKeyPair(certFile, keyFile); err != nil {
		t.Fatalf("key of mode 0600: %v", err)
	}
	os.Chmod(keyFile, 0o644)
	for name, load := range map[string]func() error{
		"LoadKeyPair": func() error { _, err := LoadKeyPair(certFile, keyFile); return err },
		"Server":      func() error { _, err := Server(certFile, keyFile, ""); return err },
		"Client":      func() error { _, err := Client("", certFile, keyFile); return err },
	} {
		err := load()
		if !errors.Is(err, secretfile.ErrExposed) || !strings.Contains(err.Error(), "chmod 600 "+keyFile) {
			t.Errorf("%s with a key of mode 0644: %v, want secretfile.ErrExposed naming chmod 600 %s", name, err, keyFile)
		}
	}
}
