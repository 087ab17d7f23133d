// Package rust holds the order service written in Rust (modules/orders-rs,
// on the Rust guest SDK modules/sdk-rs) to the Go one, and the Rust SDK to
// the host ABI:
//
//   - TestConformanceSQLite, TestConformanceMySQL and
//     TestConformanceDatabaseDown send one list of requests (cases_test.go)
//     to orders.wasm and orders-rs.wasm under the real edge-agent serve and
//     to orders-native, and require the Rust module's answers to equal the
//     Go module's byte for byte (status, headers but Date, body);
//     TestConcurrentClients does the same under concurrent load;
//   - FuzzModules compares the two modules' Response frames for arbitrary
//     requests, in process;
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
