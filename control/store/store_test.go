package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestOpenCleansCrashLeftovers: a controller killed while writing a blob
// leaves a temp file in blobs/; the next start removes it.
func TestOpenCleansCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	openStore(t, dir).Close()
	blobs := filepath.Join(dir, "blobs")
	leftover := filepath.Join(blobs, "."+digestOf([]byte("m"))+".gz.tmp-99")
	if err := os.WriteFile(leftover, []byte("half a blob"), 0o600); err != nil {
		t.Fatal(err)
	}
	openStore(t, dir)
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("temp file of a crashed write still in blobs/ after Open (%v)", err)
	}
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
