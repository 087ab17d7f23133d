package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	if err := writeReport(path, "run 1\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if got, want := string(b), beginMarker+"run 1\n"+endMarker; got != want {
		t.Fatalf("first write = %q, want %q", got, want)
	}
	// Hand-written text around the markers survives the next run.
	edited := "intro\n" + string(b) + "\n## Analysis\nkept\n"
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(path, "run 2\n"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	if got, want := string(b), "intro\n"+beginMarker+"run 2\n"+endMarker+"\n## Analysis\nkept\n"; got != want {
		t.Errorf("second write = %q, want %q", got, want)
	}
}
