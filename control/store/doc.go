// Package store keeps the controller's state: module blobs on disk and
// everything else in one database: SQLite (modernc.org/sqlite, WAL,
// synchronous=FULL) in the data folder by default, or MySQL/MariaDB
// (Options.DB), which several controllers (replicas) share.
//
//	DIR/control.db        deployments, desired state, inventory, credentials
//	                      (or the MySQL database)
//	DIR/blobs/{sha256}    raw module bytes, as uploaded (or Options.BlobDir,
//	                      shared by replicas)
//	DIR/blobs/{sha256}.gz the gzip form that travels in chunks
//	DIR/blobs/.edge-blob-store  the folder's identity (MySQL only): replicas
//	                      sharing a database must share the folder
//
// On MySQL each controller registers how it is configured (its broker,
// its blob folder's identity) in the controllers table and renews that
// with a heartbeat (controllers.go), so that control/server refuses a
// replica that cannot work with the live ones.
//
// One schema for both engines, versioned (migrate.go): schema_version
// holds the last migration applied, and controllers starting at once take
// turns applying the rest. What differs between the engines (upserts,
// insertion order, locking reads, DDL types) is in dialect.go and
// schema_mysql.go; every query is otherwise the same text. Where SQLite's
// single writer made read-then-write transactions safe, MySQL's reads say
// FOR UPDATE, and a transaction that deadlocks with another controller's
// runs again (inTx).
//
// Uploads are streamed: the raw bytes go to a temp file and the SHA-256
// while their gzip form goes to a second temp file and the chunk hashes,
// so an upload of any size costs a few buffers. Both files are put in place
// crash-safely (internal/atomicfile) before their row is inserted, and
// only when the digest matches; a crash leaves temp files, removed at Open,
// or files without a row, removed by CollectBlobs. Every byte written counts
// against Options.BlobQuota as it is written, uploads in progress included.
//
// CollectBlobs removes blobs that no deployment references once they are
// older than a grace period (uploads that were never deployed); an upload
// of a blob already stored refreshes its time.
//
// Desired state is stored per device as the complete wire.DesiredState the
// controller last published, with its generation. A deployment replaces one
// module in each targeted device's desired state and bumps the generation in
// the same transaction that records the deployment, so what is published
// is always what is stored.
package store
