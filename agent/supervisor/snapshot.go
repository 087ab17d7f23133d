package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/edgeplane/edge/internal/dbbind"
)

// snapshot copies the module's SQLite database (DSN dsn) to a file next
// to it with VACUUM INTO, a consistent copy taken while the old version
// keeps writing. It returns the snapshot's path ("" when the binding is
// not SQLite or the database does not exist yet).
func snapshot(ctx context.Context, dsn, version string) (string, error) {
	b, err := dbbind.Parse(dsn)
	if err != nil || b.Dialect != dbbind.SQLite {
		return "", err
	}
	if _, err := os.Stat(b.Path); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	snap := b.Path + ".before-" + version
	if err := os.Remove(snap); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	db, err := b.Open(ctx)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", snap); err != nil {
		os.Remove(snap)
		return "", fmt.Errorf("snapshot %s: %w", b.Path, err)
	}
	return snap, nil
}

// restore puts snapshot snap back as the database of dsn. Nothing may have
// the database open.
func restore(dsn, snap string) error {
	b, err := dbbind.Parse(dsn)
	if err != nil {
		return err
	}
	tmp := b.Path + ".restore"
	if err := copyFile(snap, tmp); err != nil {
		return fmt.Errorf("restore %s: %w", b.Path, err)
	}
	// The old WAL must not be applied to the restored file.
	for _, f := range []string{b.Path + "-wal", b.Path + "-shm"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			os.Remove(tmp)
			return fmt.Errorf("restore %s: %w", b.Path, err)
		}
	}
	if err := os.Rename(tmp, b.Path); err != nil {
		return fmt.Errorf("restore %s: %w", b.Path, err)
	}
	os.Remove(snap)
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	return out.Close()
}
