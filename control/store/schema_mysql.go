package store

import (
	"fmt"
	"strings"
)

// mysqlTable are the options of every MySQL table: InnoDB for
// transactions and row locks, utf8mb4 with the binary collation so that
// ids compare and sort byte by byte, as in SQLite (the default collation
// would make "Pi-1" and "pi-1" one device).
const mysqlTable = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

// mysqlBase is the MySQL form of the base schema (migration 1): the
// tables, columns and indexes the SQLite schema has after every change
// made before schema versions, with these differences:
//
//   - keys are VARCHAR (an index on TEXT needs a prefix length in MySQL):
//     ids and names are bounded by wire (device ids and module names 63
//     bytes, deployment and rollout ids the controller's own);
//   - documents are MEDIUMTEXT or LONGTEXT (TEXT holds 64 KiB; a desired
//     state may reach wire.MaxDesiredSize, a rollout document grows with
//     its targets);
//   - deployments and rollouts have an AUTO_INCREMENT seq that orders
//     them by insertion where SQLite has its rowid;
//   - TEXT columns have no DEFAULT (MySQL allows none): inserts give them.
func mysqlBase() []string {
	var hist strings.Builder
	for _, c := range countColumns {
		typ := "BIGINT"
		if c == "seconds" || c == "lat_sum" || c == "rss_sum" || c == "cpu" {
			typ = "DOUBLE"
		}
		fmt.Fprintf(&hist, ",\n\t%s %s NOT NULL DEFAULT 0", c, typ)
	}
	return []string{
		`CREATE TABLE IF NOT EXISTS blobs (
	sha256  VARCHAR(64) NOT NULL PRIMARY KEY,
	size    BIGINT NOT NULL,
	stored  BIGINT NOT NULL,
	chunks  MEDIUMTEXT NOT NULL,
	created BIGINT NOT NULL
)` + mysqlTable,
		`CREATE TABLE IF NOT EXISTS deployments (
	id       VARCHAR(128) NOT NULL PRIMARY KEY,
	seq      BIGINT NOT NULL AUTO_INCREMENT UNIQUE,
	module   VARCHAR(128) NOT NULL,
	version  VARCHAR(128) NOT NULL,
	sha256   VARCHAR(64) NOT NULL,
	envelope MEDIUMTEXT NOT NULL,
	created  BIGINT NOT NULL,
	deadline BIGINT NOT NULL DEFAULT 0,
	rollout  VARCHAR(128) NOT NULL DEFAULT '',
	epoch    BIGINT NOT NULL DEFAULT 0,
	KEY deployments_created (created),
	KEY deployments_module (module, created),
	KEY deployments_sha256 (sha256),
	FOREIGN KEY (sha256) REFERENCES blobs(sha256)
)` + mysqlTable,
		`CREATE TABLE IF NOT EXISTS deployment_devices (
	deployment VARCHAR(128) NOT NULL,
	device     VARCHAR(64) NOT NULL,
	state      VARCHAR(32) NOT NULL,
	reason     TEXT NOT NULL,
	updated    BIGINT NOT NULL,
	previous   MEDIUMTEXT NULL,
	PRIMARY KEY (deployment, device),
	FOREIGN KEY (deployment) REFERENCES deployments(id)
)` + mysqlTable,
		`CREATE TABLE IF NOT EXISTS desired (
	device     VARCHAR(64) NOT NULL PRIMARY KEY,
	generation BIGINT NOT NULL,
	state      MEDIUMTEXT NOT NULL
)` + mysqlTable,
		`CREATE TABLE IF NOT EXISTS devices (
	id        VARCHAR(64) NOT NULL PRIMARY KEY,
	online    TINYINT NOT NULL DEFAULT 0,
	last_seen BIGINT NOT NULL DEFAULT 0,
	status    MEDIUMTEXT NULL,
	metrics   MEDIUMTEXT NULL
)` + mysqlTable,
		`CREATE TABLE IF NOT EXISTS credentials (
	id      VARCHAR(64) NOT NULL PRIMARY KEY,
	hash    VARBINARY(1024) NOT NULL,
	created BIGINT NOT NULL
)` + mysqlTable,
		`CREATE TABLE IF NOT EXISTS history (
	device  VARCHAR(64) NOT NULL,
	module  VARCHAR(64) NOT NULL,
	step    BIGINT NOT NULL,
	ts      BIGINT NOT NULL` + hist.String() + `,
	KEY history_series (device, module, step, ts),
	KEY history_age (step, ts)
)` + mysqlTable,
		`CREATE TABLE IF NOT EXISTS history_rollup (
	step BIGINT NOT NULL PRIMARY KEY,
	done BIGINT NOT NULL
)` + mysqlTable,
		`CREATE TABLE IF NOT EXISTS device_events (
	device   VARCHAR(64) NOT NULL,
	received BIGINT NOT NULL,
	state    VARCHAR(32) NOT NULL,
	event    MEDIUMTEXT NOT NULL,
	PRIMARY KEY (device, received),
	KEY device_events_age (received)
)` + mysqlTable,
		`CREATE TABLE IF NOT EXISTS rollouts (
	id      VARCHAR(128) NOT NULL PRIMARY KEY,
	seq     BIGINT NOT NULL AUTO_INCREMENT UNIQUE,
	module  VARCHAR(128) NOT NULL,
	state   VARCHAR(32) NOT NULL,
	created BIGINT NOT NULL,
	doc     LONGTEXT NOT NULL,
	KEY rollouts_created (created),
	KEY rollouts_module (module, state)
)` + mysqlTable,
	}
}
