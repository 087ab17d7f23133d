package atomicfile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	for _, tc := range []struct {
		content string
		perm    os.FileMode
	}{{"first", 0o600}, {"second, longer content", 0o644}, {"3", 0o600}} {
		if err := Write(p, []byte(tc.content), tc.perm); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.content {
			t.Errorf("content = %q, want %q", got, tc.content)
		}
		fi, _ := os.Stat(p)
		if fi.Mode().Perm() != tc.perm {
			t.Errorf("mode = %v, want %v", fi.Mode().Perm(), tc.perm)
		}
	}
	if got := names(t, dir); !slices.Equal(got, []string{"state.json"}) {
		t.Errorf("folder holds %q, want only state.json (no temp left)", got)
	}
}

func TestNewCommitAndAbandon(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "blob")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := New(p, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("new "))
	f.Write([]byte("content"))
	if got, _ := os.ReadFile(p); string(got) != "old" {
		t.Errorf("before Commit: %q, want the old content", got)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("Close after Commit = %v, want nil", err)
	}
	if err := f.Commit(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("second Commit = %v, want fs.ErrClosed", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "new content" {
		t.Errorf("after Commit: %q, want %q", got, "new content")
	}

	g, err := New(p, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	g.Write([]byte("abandoned"))
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "new content" {
		t.Errorf("after an abandoned write: %q, want %q", got, "new content")
	}
	if got := names(t, dir); !slices.Equal(got, []string{"blob"}) {
		t.Errorf("folder holds %q, want only blob", got)
	}
}

// TestTempIsPrivate checks that the temp file of a public file is not
// readable by others while it is written (a half-written key must not be).
func TestTempIsPrivate(t *testing.T) {
	dir := t.TempDir()
	f, err := New(filepath.Join(dir, "edge.key"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := os.Stat(f.f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("temp file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o600)
	for _, tc := range []struct{ name, path string }{
		{"missing folder", filepath.Join(dir, "nope", "f")},
		{"a file where the folder should be", filepath.Join(file, "f")},
	} {
		if err := Write(tc.path, []byte("x"), 0o600); err == nil {
			t.Errorf("%s: Write = nil, want an error", tc.name)
		}
	}
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o700)
	os.Mkdir(filepath.Join(sub, "target"), 0o700) // rename over a folder fails
	if err := Write(filepath.Join(sub, "target"), []byte("x"), 0o600); err == nil {
		t.Error("Write over a folder = nil, want an error")
	}
	if got := names(t, sub); !slices.Equal(got, []string{"target"}) {
		t.Errorf("after a failed Write the folder holds %q, want no temp file", got)
	}
}

// TestCrashLeftoverCleaned kills a process in the middle of a write (after
// the temp file has content, before Commit) and checks that the target is
// untouched and that Clean and CleanFor remove exactly the leftovers.
func TestCrashLeftoverCleaned(t *testing.T) {
	if os.Getenv("ATOMICFILE_CRASH") != "" {
		crashMidWrite(os.Getenv("ATOMICFILE_CRASH"))
		return
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	other := filepath.Join(dir, "other.json")
	for _, f := range []string{p, other} {
		if err := Write(f, []byte("good"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, target := range []string{p, p, other} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashLeftoverCleaned$")
		cmd.Env = append(os.Environ(), "ATOMICFILE_CRASH="+target)
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("crashing writer: %v, want killed by SIGKILL", err)
		}
	}
	if got, _ := os.ReadFile(p); string(got) != "good" {
		t.Errorf("content after crashes = %q, want the last complete write", got)
	}
	if n := len(names(t, dir)); n != 5 {
		t.Fatalf("folder holds %d entries after 3 crashes, want 5: %q", n, names(t, dir))
	}
	for _, n := range names(t, dir) {
		if IsTemp(n) == (n == "state.json" || n == "other.json") {
			t.Errorf("IsTemp(%q) = %v", n, IsTemp(n))
		}
	}
	n, err := CleanFor(p)
	if err != nil || n != 2 {
		t.Fatalf("CleanFor(state.json) = %d, %v; want 2, nil", n, err)
	}
	if got := len(names(t, dir)); got != 3 {
		t.Errorf("CleanFor left %d entries, want 3 (other.json's leftover is not its business)", got)
	}
	n, err = Clean(dir)
	if err != nil || n != 1 {
		t.Fatalf("Clean = %d, %v; want 1, nil", n, err)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"other.json", "state.json"}) {
		t.Errorf("after Clean the folder holds %q", got)
	}
	for _, f := range []string{p, other} {
		if got, _ := os.ReadFile(f); string(got) != "good" {
			t.Errorf("Clean touched %s: %q", f, got)
		}
	}
}

// crashMidWrite starts a write of path, puts content in the temp file and
// kills its own process.
func crashMidWrite(path string) {
	f, err := New(path, 0o600)
	if err != nil {
		os.Exit(3)
	}
	f.Write(bytes.Repeat([]byte("torn"), 1000))
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

func TestCleanKeepsOtherFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.tmp-1", ".hidden", "tmp-", ".x.tmp-1"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o600)
	}
	os.Mkdir(filepath.Join(dir, ".d.tmp-1"), 0o700) // folders are never removed
	n, err := Clean(dir)
	if err != nil || n != 1 {
		t.Fatalf("Clean = %d, %v; want 1 (.x.tmp-1), nil", n, err)
	}
	want := []string{".d.tmp-1", ".hidden", "a.tmp-1", "tmp-"}
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Errorf("after Clean: %q, want %q", got, want)
	}
	if _, err := Clean(filepath.Join(dir, "missing")); err == nil {
		t.Error("Clean of a missing folder = nil, want an error")
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}
