// Package secretfile reads files that hold secrets (passwords, operator
// tokens, private keys, configuration files holding either) and refuses
// one that other users could read or change, as ssh refuses an
// unprotected private key. Every program reads its secrets through it:
// edge-agent (--password-file, --key, a --config holding a password),
// edge-control (--tls-key, DATA/admin.token, --registry-config with
// credentials) and edgectl (--token-file, --key, its config file with a
// token, --registry-config with credentials).
//
// # The rule
//
// A secret file is a regular file (a symbolic link to one is followed)
// that nobody but its owner and, for a file root owns, its group can
// read, and nobody but its owner can change:
//
//	owner              allowed mode   refused
//	root               0740 or less   group write or execute, any other bit
//	the running user   0700 or less   any group or other bit
//	anyone else        -              always (they could replace the secret)
//
// The group read of a root-owned file is PostgreSQL's rule for its TLS key:
// an administrator gives a service's group (root:edge-agent 0640, as
// deploy/install.sh writes /etc/edge-agent) the right to read a file the
// service cannot change. Everything else names the file, its mode and the
// fix (chmod 600 FILE) in its error, which wraps ErrExposed.
//
// Standard library only (rule in tests/deps): the three programs link it.
package secretfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrExposed is wrapped by every refusal of a file's owner or mode.
var ErrExposed = errors.New("secret file readable or writable by other users")

// ModeError says why a secret file was refused: its mode or its owner.
type ModeError struct {
	Path  string
	Mode  fs.FileMode // permission bits
	Owner int         // uid of the file's owner
	Self  int         // uid the program runs as
}

func (e *ModeError) Error() string {
	switch {
	case e.Owner != e.Self && e.Owner != 0:
		return fmt.Sprintf("%s: owned by uid %d, not by this user (uid %d) or root: another user could replace this secret: chown %d %s; chmod 600 %s",
			e.Path, e.Owner, e.Self, e.Self, e.Path, e.Path)
	case e.Owner == 0 && e.Self != 0:
		return fmt.Sprintf("%s: mode %04o lets other users read or change this secret: chmod 640 %s (root's file, readable by the service's group) or chmod 600 %s",
			e.Path, e.Mode, e.Path, e.Path)
	default:
		return fmt.Sprintf("%s: mode %04o lets other users read or change this secret: chmod 600 %s", e.Path, e.Mode, e.Path)
	}
}

func (e *ModeError) Unwrap() error { return ErrExposed }

// groupOther is the group and other bits a file of owner may have.
func groupOther(owner int) fs.FileMode {
	if owner == 0 {
		return 0o040
	}
	return 0
}

// check applies the rule to fi, the file at path, read by the running user.
func check(path string, fi fs.FileInfo) error { return checkAs(path, fi, os.Geteuid()) }

func checkAs(path string, fi fs.FileInfo, self int) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file (%v)", path, fi.Mode().Type())
	}
	owner, ok := ownerOf(fi)
	if !ok {
		return nil // no owners on this system: nothing to check
	}
	perm := fi.Mode().Perm()
	if owner != self && owner != 0 || perm&0o077&^groupOther(owner) != 0 {
		return &ModeError{Path: path, Mode: perm, Owner: owner, Self: self}
	}
	return nil
}

// Check applies the rule to the file at path without reading it.
func Check(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return check(path, fi)
}

// MaxSize bounds what Read reads: secrets and the configuration files that
// hold them are small.
const MaxSize = 1 << 20

// Read checks the file at path and returns its contents. The mode is
// checked on the open file, so the file read is the file checked.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := check(path, fi); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%s: larger than %d bytes: not a secret file", path, MaxSize)
	}
	return b, nil
}
