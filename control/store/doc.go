// Package store keeps the controller's state: module blobs on disk and
// everything else in one SQLite database (modernc.org/sqlite, WAL,
// synchronous=FULL) in the data folder.
//
//	DIR/control.db        deployments, desired state, inventory, credentials
//	DIR/blobs/{sha256}    raw module bytes, as uploaded
//	DIR/blobs/{sha256}.gz the gzip form that travels in chunks
//
// Blob files are written crash-safely (temp file, fsync, rename, fsync the
// folder) before their row is inserted, so a row always names complete
// files; a crash can at worst leave an orphan file, which the next upload of
// the same blob overwrites.
//
// Desired state is stored per device as the complete wire.DesiredState the
// controller last published, with its generation. A deployment replaces one
// module in each targeted device's desired state and bumps the generation in
// the same transaction that records the deployment, so what is published
// is always what is stored.
package store
