// Package atomicfile writes files so that a crash at any moment leaves either
// the old content or the new content under the name, never a torn file.
//
// The sequence is the one tailscale's atomicfile and SQLite's journal rely on:
// create a temp file in the same folder (rename is atomic only within one
// file system), write, fsync the file, rename it over the target, then fsync
// the folder so the rename itself survives a power cut. Many Go libraries
// skip one of the two fsyncs (paho's file store, go-tuf's metadata store);
// without them ext4 and f2fs may show an empty file after a power loss.
//
// A crash between create and rename leaves a temp file named
// ".<base>.tmp-<random>": IsTemp recognises it and Clean removes it. Readers
// never look at temp names, so a leftover is harmless until it is cleaned.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const tempMarker = ".tmp-"

// Write replaces path with data, crash-safely, with permissions perm.
func Write(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+tempMarker+"*")
	if err != nil {
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("atomic write %s: fsync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("atomic write %s: close: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	return SyncDir(dir)
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
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// IsTemp reports whether a file name is a temp file left by Write.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tempMarker)
}

// Clean removes the temp files a crash left in dir and returns how many.
func Clean(dir string) (int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("clean %s: %w", dir, err)
	}
	n := 0
	for _, e := range ents {
		if e.Type().IsRegular() && IsTemp(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
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
