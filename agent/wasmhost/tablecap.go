package wasmhost

import "github.com/edgeplane/edge/agent/wasmhost/internal/tablecap"

// MaxTableEntries bounds the entries of an instance's tables (funcref and
// externref) that table.grow can add: 2^20 entries, 8 MiB of references in
// wazero, shared by the module's tables.
//
// Guest memory has a limit (Limits.MemoryPages); tables had none. A table
// without a declared maximum (Go's wasip1 linker emits one) grows to 2^32
// entries in wazero, 32 GiB of host memory that no page limit counts: a
// guest looping on table.grow stalled its worker's heartbeat within a
// second and took the host's memory with it. Load gives every table a
// maximum instead (package tablecap), so table.grow past it returns -1 as the
// specification allows, and refuses a module whose tables start larger.
const MaxTableEntries = 1 << 20

// ErrTableLimit is a module whose tables start with more entries than
// MaxTableEntries.
var ErrTableLimit = tablecap.ErrLimit
