//go:build !unix

package server

import (
	"errors"
	"os"
)

// ErrDataInUse: another edge-control runs with the same data folder.
var ErrDataInUse = errors.New("another edge-control is using this data folder")

// lockData takes no lock where flock(2) does not exist.
func lockData(dir string) (*os.File, error) { return nil, os.MkdirAll(dir, 0o700) }
