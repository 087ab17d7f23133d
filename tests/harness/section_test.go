package harness

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	const begin, end = "<!-- make bench: begin -->\n", "<!-- make bench: end -->\n"
	if err := WriteSection(path, "bench", "run 1\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if got, want := string(b), begin+"run 1\n"+end; got != want {
		t.Fatalf("first write = %q, want %q", got, want)
	}
	// Hand-written text around the markers survives the next run.
	edited := "intro\n" + string(b) + "\n## Analysis\nkept\n"
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteSection(path, "bench", "run 2\n"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	if got, want := string(b), "intro\n"+begin+"run 2\n"+end+"\n## Analysis\nkept\n"; got != want {
		t.Errorf("second write = %q, want %q", got, want)
	}
	// Another section goes after everything, and then keeps its place.
	if err := WriteSection(path, "other", "x\n"); err != nil {
		t.Fatal(err)
	}
	if err := WriteSection(path, "other", "y\n"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	if got, want := string(b), "intro\n"+begin+"run 2\n"+end+"\n## Analysis\nkept\n\n<!-- make other: begin -->\ny\n<!-- make other: end -->\n"; got != want {
		t.Errorf("other section = %q, want %q", got, want)
	}
}
