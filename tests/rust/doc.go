// Package rust holds the order service written in Rust (modules/orders-rs,
// on the Rust guest SDK modules/sdk-rs) to the Go one: a differential test
// that sends both modules, under the real edge-agent, the same requests and
// requires the same answers byte for byte; the check that the tables the
// Rust SDK copies from Go's standard library are current; and the check
// that the Rust build is reproducible.
//
// The Rust module is built by make build when Debian's Rust toolchain is
// installed (see the Makefile). Without it these tests skip, unless CI is
// set: .ci/run installs the toolchain, so there a missing build is a
// failure.
package rust
