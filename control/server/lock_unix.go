//go:build unix

package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrDataInUse: another edge-control runs with the same data folder.
var ErrDataInUse = errors.New("another edge-control is using this data folder")

// lockData takes an exclusive lock on DATA/edge-control.lock for as long
// as the returned file stays open (the kernel drops it when the process
// dies, kill -9 included). A second controller on one data folder would
// run a second embedded broker and write the same blobs and database
// beside the first.
func lockData(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "edge-control.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data folder %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data folder %s: %w", dir, ErrDataInUse)
		}
		return nil, fmt.Errorf("data folder %s: lock: %w", dir, err)
	}
	return f, nil
}
