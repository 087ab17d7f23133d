// Package qemu runs the agent and the unit tests of its host-ABI and store
// packages for arm64, armv7 and riscv64 under qemu user-mode emulation
// (qemu-<arch>-static), against a host-native controller and broker on
// loopback. The tests carry the build tag qemu, so make test does not run
// them: make qemu does (and .ci/run). Without qemu they skip, unless CI is
// set, where they fail. All timings are emulated, not a board's.
package qemu
