// Package atomicfile writes files so that a crash at any moment leaves either
// the old content or the new content under the name, never a torn file. It
// is the one crash-safe write of the project: the agent's store, the
// controller's store and edgectl's key files all use it (a rule in
// tests/deps keeps it standard-library only).
//
// The sequence is the one tailscale's atomicfile and SQLite's journal rely on:
// create a temp file in the same folder (rename is atomic only within one
// file system), write, fsync the file, rename it over the target, then fsync
// the folder so the rename itself survives a power cut. Many Go libraries
// skip one of the two fsyncs (paho's file store, go-tuf's metadata store);
// without them ext4 and f2fs may show an empty file after a power loss.
//
// # Temp files and crashes
//
// Every temp file is named ".<base>.tmp-<random>" next to its target, and
// created with mode 0600 whatever the final mode, so a half-written private
// key is never readable by others. A crash between create and rename leaves
// such a file behind: readers never look at temp names, and the owner of the
// folder removes them when it starts, with Clean (a private folder: every
// temp file in it) or CleanFor (a shared folder such as the operator's key
// folder: only the temp files of one target).
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

const tempMarker = ".tmp-"

// File is a file being written crash-safely: write to it, then Commit to
// put it in place, or Close to abandon it. Close after Commit does nothing,
// so `defer f.Close()` is always right.
type File struct {
	f      *os.File
	path   string
	perm   os.FileMode
	closed bool
}

// New starts writing path. Nothing appears under path until Commit.
func New(path string, perm os.FileMode) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+tempMarker+"*")
	if err != nil {
		return nil, fmt.Errorf("atomic write %s: %w", path, err)
	}
	return &File{f: f, path: path, perm: perm}, nil
}

// Write appends p to the temp file.
func (f *File) Write(p []byte) (int, error) {
	n, err := f.f.Write(p)
	if err != nil {
		return n, fmt.Errorf("atomic write %s: %w", f.path, err)
	}
	return n, nil
}

// Commit syncs the temp file, gives it its mode, renames it over the target
// and syncs the folder. On error the temp file is removed and the target is
// untouched.
func (f *File) Commit() (err error) {
	if f.closed {
		return fmt.Errorf("atomic write %s: %w", f.path, fs.ErrClosed)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	if err := f.f.Chmod(f.perm); err != nil {
		return fmt.Errorf("atomic write %s: %w", f.path, err)
	}
	if err := f.f.Sync(); err != nil {
		return fmt.Errorf("atomic write %s: fsync: %w", f.path, err)
	}
	if err := f.f.Close(); err != nil {
		return fmt.Errorf("atomic write %s: close: %w", f.path, err)
	}
	if err := os.Rename(f.f.Name(), f.path); err != nil {
		return fmt.Errorf("atomic write %s: %w", f.path, err)
	}
	f.closed = true
	return SyncDir(filepath.Dir(f.path))
}

// Close abandons an uncommitted file and removes its temp file.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	f.f.Close()
	if err := os.Remove(f.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("atomic write %s: remove temp: %w", f.path, err)
	}
	return nil
}

// Write replaces path with data, crash-safely, with permissions perm.
func Write(path string, data []byte, perm os.FileMode) error {
	f, err := New(path, perm)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}

// SyncDir fsyncs a folder so that renames and removals in it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// Remove deletes path (a missing file is not an error) and fsyncs its folder.
func Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// IsTemp reports whether a file name is a temp file left by Write or New.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tempMarker)
}

// isTempOf reports whether name is a temp file of the target named base.
func isTempOf(name, base string) bool {
	return strings.HasPrefix(name, "."+base+tempMarker)
}

// Clean removes every temp file a crash left in dir, a folder the caller
// owns, and returns how many.
func Clean(dir string) (int, error) {
	return clean(dir, IsTemp)
}

// CleanFor removes the temp files a crash left for path only, for folders
// shared with other programs (an operator's key folder).
func CleanFor(path string) (int, error) {
	base := filepath.Base(path)
	return clean(filepath.Dir(path), func(name string) bool { return isTempOf(name, base) })
}

func clean(dir string, match func(string) bool) (int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("clean %s: %w", dir, err)
	}
	n := 0
	for _, e := range ents {
		if e.Type().IsRegular() && match(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return n, fmt.Errorf("clean %s: %w", dir, err)
			}
			n++
		}
	}
	if n > 0 {
		return n, SyncDir(dir)
	}
	return 0, nil
}
