package secretfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRule(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files other owners")
	}
	const user = 1000 // the running user of the table; root is 0, 65534 someone else
	tests := []struct {
		owner, self int
		mode        fs.FileMode
		ok          bool
		fix         string // in the error
	}{
		{owner: user, self: user, mode: 0o600, ok: true},
		{owner: user, self: user, mode: 0o400, ok: true},
		{owner: user, self: user, mode: 0o700, ok: true},
		{owner: user, self: user, mode: 0o640, fix: "chmod 600"},
		{owner: user, self: user, mode: 0o644, fix: "chmod 600"},
		{owner: user, self: user, mode: 0o604, fix: "chmod 600"},
		{owner: user, self: user, mode: 0o620, fix: "chmod 600"},
		{owner: user, self: user, mode: 0o666, fix: "chmod 600"},
		// root's file, read by a service through its group (install.sh).
		{owner: 0, self: user, mode: 0o640, ok: true},
		{owner: 0, self: user, mode: 0o440, ok: true},
		{owner: 0, self: user, mode: 0o644, fix: "chmod 640"},
		{owner: 0, self: user, mode: 0o660, fix: "chmod 640"},
		{owner: 0, self: user, mode: 0o650, fix: "chmod 640"},
		{owner: 0, self: 0, mode: 0o600, ok: true},
		{owner: 0, self: 0, mode: 0o640, ok: true},
		{owner: 0, self: 0, mode: 0o644, fix: "chmod 600"},
		// Someone else's file: they could replace the secret.
		{owner: 65534, self: user, mode: 0o600, fix: "chown 1000"},
		{owner: 65534, self: 0, mode: 0o600, fix: "chown 0"},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		path := filepath.Join(dir, "secret")
		os.Remove(path)
		if err := os.WriteFile(path, []byte("s3cret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tt.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, tt.owner, -1); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		err = checkAs(path, fi, tt.self)
		if tt.ok {
			if err != nil {
				t.Errorf("%d: owner %d self %d mode %04o: %v, want accepted", i, tt.owner, tt.self, tt.mode, err)
			}
			continue
		}
		var me *ModeError
		if !errors.Is(err, ErrExposed) || !errors.As(err, &me) {
			t.Errorf("%d: owner %d self %d mode %04o: got %v, want ErrExposed", i, tt.owner, tt.self, tt.mode, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, tt.fix+" ") {
			t.Errorf("%d: %q: want the file and %q", i, msg, tt.fix)
		}
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	if err := os.WriteFile(path, []byte("tok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644) // whatever the umask
	_, err := Read(path)
	if !errors.Is(err, ErrExposed) {
		t.Fatalf("Read of a 0644 file: got %v, want ErrExposed", err)
	}
	want := path + ": mode 0644 lets other users read or change this secret: chmod 600 " + path
	if got := err.Error(); os.Geteuid() == 0 && got != want { // root's message; others are told chmod 640 too
		t.Errorf("got %q\nwant %q", got, want)
	}
	if err := Check(path); !errors.Is(err, ErrExposed) {
		t.Errorf("Check of a 0644 file: got %v, want ErrExposed", err)
	}
	os.Chmod(path, 0o600)
	b, err := Read(path)
	if err != nil || string(b) != "tok\n" {
		t.Errorf("Read of a 0600 file: got %q, %v", b, err)
	}
	if err := Check(path); err != nil {
		t.Errorf("Check of a 0600 file: %v", err)
	}
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Read of a folder: got %v, want not a regular file", err)
	}
	if _, err := Read(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read of a missing file: got %v, want fs.ErrNotExist", err)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(path, link)
	if _, err := Read(link); err != nil {
		t.Errorf("Read through a symbolic link to a 0600 file: %v", err)
	}
}
