package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	for _, content := range []string{"first", "second, longer content", "3"} {
		if err := Write(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Errorf("content = %q, want %q", got, content)
		}
		fi, _ := os.Stat(p)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("dir has %d entries, want 1 (no temp left)", len(ents))
	}
}

func TestCrashLeftoverIgnoredAndCleaned(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	if err := Write(p, []byte("good"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A crash between create and rename leaves a half-written temp file.
	leftover := filepath.Join(dir, ".state.json"+tempMarker+"12345")
	if err := os.WriteFile(leftover, []byte("to"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "good" {
		t.Errorf("content = %q, want the last complete write", got)
	}
	if !IsTemp(filepath.Base(leftover)) || IsTemp("state.json") {
		t.Error("IsTemp misclassifies")
	}
	n, err := Clean(dir)
	if err != nil || n != 1 {
		t.Fatalf("Clean = %d, %v; want 1, nil", n, err)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("leftover still there: %v", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "good" {
		t.Errorf("Clean touched the real file: %q", got)
	}
}

func TestWriteMissingDir(t *testing.T) {
	if err := Write(filepath.Join(t.TempDir(), "nope", "f"), []byte("x"), 0o600); err == nil {
		t.Error("want an error for a missing folder")
	}
}
