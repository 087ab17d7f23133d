package supervisor

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/edgeplane/edge/internal/dbbind"
	"github.com/edgeplane/edge/internal/kvstore"
)

// KVSafetyCopyName is the file, in a module's data folder, that holds the
// copy of its key-value store taken at the last switch between two
// versions, as SafetyCopyName is for its database: for an operator to
// recover from by hand; nothing restores it.
const KVSafetyCopyName = "kv-safety-copy.db"

// kvSwitch is what the supervisor noted about a module's key-value store
// at a switch: a rollback keeps the store as both versions left it (a
// rollback undoes code, never data) and reports how it changed.
type kvSwitch struct {
	path        string
	keys, bytes int64
	usageErr    error
	copy        string
	copyErr     error
}

// kvAtSwitch notes the usage of the store at path and writes its safety
// copy, right before the new version takes its first request.
func (s *Supervisor) kvAtSwitch(ctx context.Context, module, path string) *kvSwitch {
	k := &kvSwitch{path: path}
	k.keys, k.bytes, k.usageErr = kvUsage(ctx, path)
	dst := path + "." + KVSafetyCopyName
	if s.cfg.DataDir != "" {
		dst = filepath.Join(s.cfg.DataDir, "modules", module, KVSafetyCopyName)
	}
	if k.copyErr = safetyCopy(ctx, dbbind.Binding{Dialect: dbbind.SQLite, Path: path}, dst); k.copyErr == nil {
		k.copy = dst
	}
	return k
}

// kvUsage reads the keys and bytes of the store at path (it creates an
// empty store if there is none yet).
func kvUsage(ctx context.Context, path string) (keys, bytes int64, err error) {
	st, err := kvstore.Open(ctx, path, kvstore.Limits{})
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	return st.Usage(ctx)
}

// report says what happened to the store at the rollback.
func (k *kvSwitch) report(ctx context.Context) string {
	var b strings.Builder
	b.WriteString("key-value store kept as it is, not restored")
	keys, bytes, err := kvUsage(context.WithoutCancel(ctx), k.path)
	switch {
	case k.usageErr != nil:
		fmt.Fprintf(&b, " (usage at the switch unknown: %v)", k.usageErr)
	case err != nil:
		fmt.Fprintf(&b, " (usage now unknown: %v)", err)
	default:
		fmt.Fprintf(&b, ": %d keys and %d bytes at the switch, %d and %d now", k.keys, k.bytes, keys, bytes)
	}
	switch {
	case k.copy != "":
		fmt.Fprintf(&b, "; its safety copy at the switch: %s", k.copy)
	case k.copyErr != nil:
		fmt.Fprintf(&b, "; no safety copy of it: %v", k.copyErr)
	}
	return b.String()
}
