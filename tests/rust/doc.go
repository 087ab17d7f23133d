// Package rust holds the order service written in Rust (modules/orders-rs,
// on the Rust guest SDK modules/sdk-rs) to the Go one, and the Rust SDK to
// the host ABI.
//
// The order service's contract is tests/conformance: its table runs on the
// Rust module too, on both wazero engines and on SQLite and MariaDB, and
// every answer must equal the Go module's, every header included. What is
// here adds to it:
//
//   - TestDifferentialSQLite, TestDifferentialMySQL and
//     TestDifferentialInterpreter send a list of extra requests
//     (cases_test.go: requests before the table exists, more malformed
//     bodies and ids, values whose text must come back byte for byte,
//     every method on every path, raw request lines, long arrays) to
//     orders.wasm and orders-rs.wasm under the real edge-agent serve and
//     to orders-native, and require the Rust module's answers to equal the
//     Go module's byte for byte (status, headers but Date, body);
//     TestExtrasAreNotInTheTable keeps that list from repeating the table;
//   - TestDatabaseDown sends the table's requests and the extra ones to
//     the three builds bound to a database that refuses connections;
//     TestListOverResultLimit runs both modules into the host's SQL result
//     limit (507); TestConcurrentClients compares them under concurrent
//     load;
//   - FuzzModules compares the two modules' Response frames for arbitrary
//     requests, in process, seeded with the table and the extra requests;
//   - TestSDKThroughHost runs the Rust SDK's config, fetch and database API
//     inside the host;
//   - TestReproducibleBuild and TestGeneratedTables check that the
//     committed Rust test guest and the tables the SDK copies from Go's
//     standard library are current;
//   - BenchmarkProbe is the measurement behind the SDK's own JSON code
//     (serde-probe/).
//
// The Rust module is built by make build when Debian's Rust toolchain is
// installed (see the Makefile). Without it these tests skip, unless CI is
// set: .ci/run installs the toolchain, so there a missing build is a
// failure.
//
// To hold another implementation or another request list to the Go module,
// pass its servers and requests to compareServers.
package rust
