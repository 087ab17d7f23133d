// Package store is the agent's crash-safe state on disk, in its private
// data folder (mode 0700):
//
//	<dir>/state.json            modules, versions, replay floor (epoch, version),
//	                            quarantine (per manifest), time floor (one JSON document)
//	<dir>/desired.json          the last desired state received (raw bytes + generation)
//	<dir>/blobs/<sha256>.wasm   verified module bytes, named by their digest
//	<dir>/partial/<sha256>/<i>  chunks of an unfinished transfer, checked by chunk hash
//	<dir>/outbox/<seq>.json     reports waiting for the broker, drained in order
//
// # Why files and not SQLite
//
// The state is small (a few modules, a few versions each) and always read
// and written whole, so one JSON document replaced with atomicfile.Write is
// the simplest thing that is atomic: every transition (stage, commit,
// quarantine, rollback) is one rename. Blobs must be files anyway (the
// deployer hands a path to the compiler), and a blob is written before the
// state that names it, so a crash between the two leaves an unreferenced
// blob that Prune removes, never a reference to a missing one. The outbox is
// a folder of atomic files named by a sequence number: ordered, durable, and
// inspectable with ls. SQLite would add a second durability model (WAL,
// synchronous levels) for no gain at this size.
//
// # Trusted time
//
// Boards often have no real-time clock and boot in 1970. Now returns the
// later of the system clock and a floor kept on disk: the latest time the
// agent has verified (the Created time of every accepted manifest, and a
// periodic SaveClock of the wall clock when it is not behind the floor). So
// a clock reset to 1970 cannot make an expired manifest valid again. A clock
// set in the future cannot be detected without a trusted time source: it
// makes valid manifests look expired (fail-safe), and if SaveClock records
// it the floor stays in the future until real time catches up; deleting the
// "floor" field of state.json is the operator's remedy.
//
// Store methods are safe for concurrent use.
package store
