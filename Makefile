# edge: Wasm microservices on small Linux boards. `make help` lists targets.

GO        ?= go
BIN       := bin
# The release version of this checkout (deploy/release): 1.2.3 at tag v1.2.3,
# 1.2.3~rc1 at v1.2.3-rc1, 0.0.0~gitYYYYMMDD.HHMMSS.HASH without a release tag,
# ".dirty" added for a modified tree. Every binary reports it (--version) and
# make dist names and versions the packages with it. Override on the command
# line (make dist VERSION=1.2.3); a VERSION in the environment is ignored.
ifneq ($(origin VERSION),command line)
VERSION   := $(shell $(GO) run ./deploy/version)
endif
ifeq ($(VERSION),)
$(error no version: see the error of go run ./deploy/version above, or set VERSION=)
endif
LDFLAGS   := -s -w -X github.com/edgeplane/edge/internal/buildinfo.Version=$(VERSION)
GOBUILD   := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'
WASMBUILD := GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -buildmode=c-shared -ldflags '-s -w'
FUZZTIME  ?= 10s

# Rust modules (modules/Cargo.toml) build with Debian's toolchain, offline:
# packages rustc, cargo and libstd-rust-dev-wasm32 (Rust 1.63, whose name for
# the target is wasm32-wasi). Called by full path: a rustup toolchain earlier
# in PATH may lack the wasm target. Without the toolchain the Rust builds are
# skipped with a message; .ci/run installs it.
CARGO       ?= /usr/bin/cargo
RUSTC       ?= /usr/bin/rustc
RUST_TARGET ?= wasm32-wasi
RUST_OUT    := $(abspath $(BIN))/rust
RUST_OK     := $(shell test -x $(CARGO) && test -x $(RUSTC) && \
                 test -d "$$($(RUSTC) --print sysroot 2>/dev/null)/lib/rustlib/$(RUST_TARGET)/lib" && echo yes)
# A private CARGO_HOME keeps rustup's ~/.cargo out; the path remapping makes
# the module the same bytes from any checkout.
CARGOENV    := RUSTC=$(RUSTC) RUSTDOC=$(dir $(RUSTC))rustdoc CARGO_HOME=$(RUST_OUT)/home \
               RUSTFLAGS='--remap-path-prefix=$(CURDIR)=.'
CARGOFLAGS  := --offline --locked --target-dir $(RUST_OUT)
RUST_MISSING = @echo "skipping $@: Debian's Rust toolchain for $(RUST_TARGET) is missing (apt-get install rustc cargo libstd-rust-dev-wasm32)"

# Test environment: the machine's MariaDB and Mosquitto. Tests that need them
# skip with a message when these are empty; .ci/run always sets them.
EDGE_TEST_MYSQL ?=
EDGE_TEST_MQTT  ?=
export EDGE_TEST_MYSQL EDGE_TEST_MQTT

.PHONY: help build test test-rust rust-testdata race qemu fuzz fuzzlong soak bench pushbench msgbench tlsbench ingestbench fleetbench demo dist screenshots vendor clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: $(BIN)/edge-agent $(BIN)/edge-control $(BIN)/edgectl $(BIN)/orders.wasm $(BIN)/orders-native $(BIN)/orders-rs.wasm $(BIN)/telemetry.wasm ## build the three programs, orders.wasm, orders-native, orders-rs.wasm (Rust, when the toolchain is installed) and telemetry.wasm

$(BIN)/edge-agent: FORCE
	$(GOBUILD) -o $@ ./cmd/edge-agent
$(BIN)/edge-control: FORCE
	$(GOBUILD) -o $@ ./cmd/edge-control
$(BIN)/edgectl: FORCE
	$(GOBUILD) -o $@ ./cmd/edgectl
$(BIN)/orders-native: FORCE
	$(GOBUILD) -o $@ ./modules/orders/native
$(BIN)/orders.wasm: FORCE
	$(WASMBUILD) -o $@ ./modules/orders/wasm
$(BIN)/telemetry.wasm: FORCE
	$(WASMBUILD) -o $@ ./modules/telemetry/wasm
$(BIN)/orders-rs.wasm: FORCE
ifeq ($(RUST_OK),yes)
	cd modules && $(CARGOENV) $(CARGO) build $(CARGOFLAGS) --release --target $(RUST_TARGET) -p orders-rs
	cp $(RUST_OUT)/$(RUST_TARGET)/release/orders.wasm $@
else
	$(RUST_MISSING)
endif
# The Rust test guests: NAME-rs.wasm is the SDK's example
# modules/sdk-rs/examples/NAME.rs (hostcalls, msgguest).
$(BIN)/%-rs.wasm: FORCE
ifeq ($(RUST_OK),yes)
	cd modules && $(CARGOENV) $(CARGO) build $(CARGOFLAGS) --release --target $(RUST_TARGET) -p edge-sdk --example $*
	cp $(RUST_OUT)/$(RUST_TARGET)/release/examples/$*.wasm $@
else
	$(RUST_MISSING)
endif
FORCE:

# The Rust ABI test guests are committed, like the .wat guests beside it, so
# agent/wasmhost's tests need no Rust toolchain; tests/rust checks that it
# is current (and that the build is reproducible).
rust-testdata: $(BIN)/hostcalls-rs.wasm $(BIN)/msgguest-rs.wasm ## rebuild agent/wasmhost/testdata/hostcalls-rs.wasm and msgguest-rs.wasm from modules/sdk-rs/examples
	cp $(BIN)/hostcalls-rs.wasm agent/wasmhost/testdata/hostcalls-rs.wasm
	cp $(BIN)/msgguest-rs.wasm agent/wasmhost/testdata/msgguest-rs.wasm

# One package at a time: several packages start real processes, brokers and
# load, and on a 2-core machine running them side by side only adds noise to
# their deadlines.
test: build ## run every test (MariaDB/Mosquitto tests need EDGE_TEST_MYSQL/EDGE_TEST_MQTT)
	EDGE_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -p 1 -timeout 20m ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./modules/...
	@$(MAKE) --no-print-directory test-rust

test-rust: ## run the Rust crates' own tests (SDK codec, JSON, orders decoding) on the build machine
ifeq ($(RUST_OK),yes)
	cd modules && $(CARGOENV) $(CARGO) test $(CARGOFLAGS) --quiet
else
	$(RUST_MISSING)
endif

race: build ## run the concurrent packages' tests with the race detector
	EDGE_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -race -timeout 15m ./agent/... ./control/... ./modules/... ./wire/...

# Not part of test: emulation is slow. Skips without qemu-user-static, fails
# without it when CI is set.
qemu: build ## run the agent and the wasmhost/store/abi tests for arm64, armv7, riscv64 under qemu-user
	EDGE_BIN=$(CURDIR)/$(BIN) $(GO) test -tags qemu -count=1 -v -timeout 15m ./tests/qemu

# EDGE_BIN: targets that run the built modules (tests/rust's FuzzModules)
# take them from bin/ rather than building them again in every worker.
fuzz: build ## run every fuzz target for FUZZTIME each (default 10s)
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; \
	    EDGE_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# The parsers that read bytes from the network or across a trust boundary,
# for the recorded long run (docs/HARDENING.md): manifest and envelope,
# chunk frames and their reassembly, desired state, API and MQTT bodies
# (wire.Decode), topics, the controller's HTTP API handlers with arbitrary
# bodies, a registry's OCI manifests, the ABI frames (the guest's, kv,
# calls and messaging too), the worker's frames to the agent (hostlink),
# order JSON, what the controller ingests (metrics and logs), module
# tables, MQTT packets. FUZZLONG is per target: an exec count (1000000x)
# or a time. -parallel 1: one fuzz worker, on a shared machine.
FUZZLONG     ?= 1000000x
FUZZLONG_SET := \
  ./wire:FuzzDecodeChunk ./wire:FuzzReassemble ./wire:FuzzVerifyEnvelope ./wire:FuzzVerifyPayload \
  ./wire:FuzzDecode ./wire:FuzzParseDeviceTopic ./agent/session:FuzzParseDesired \
  ./control/api:FuzzAPIBodies ./internal/ociwasm:FuzzParseManifest \
  ./modules/abi:FuzzDecodeRequest ./modules/abi:FuzzDecodeResponse ./modules/abi:FuzzDecodeSQLRequest \
  ./modules/abi:FuzzDecodeSQLResult ./modules/abi:FuzzDecodeFetch ./modules/abi:FuzzDecodeKV \
  ./modules/abi:FuzzDecodeCallRequest ./modules/abi:FuzzDecodeMessaging ./agent/hostlink:FuzzReadFrame \
  ./modules/orders:FuzzDecodeOrder \
  ./control/fleet:FuzzIngest ./agent/wasmhost/internal/tablecap:FuzzCapTables ./internal/mqttdial:FuzzConn
fuzzlong: ## fuzz each network parser for FUZZLONG (default 10^6 executions each); prints each target's count
	@for t in $(FUZZLONG_SET); do \
	  pkg=$${t%%:*}; f=$${t##*:}; echo "fuzzlong $$pkg $$f $(FUZZLONG)"; \
	  start=$$(date +%s); out=$$($(GO) test -timeout 0 -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZLONG) -parallel 1 $$pkg 2>&1); st=$$?; \
	  echo "$$out" | grep 'fuzz: elapsed' | tail -1; echo "$$out" | tail -2; echo "took $$(($$(date +%s)-start))s"; \
	  [ $$st -eq 0 ] || { echo "$$out" | tail -40; exit 1; }; \
	done

# Not part of test: minutes of traffic. EDGE_SOAK sets the duration.
EDGE_SOAK ?= 3m
soak: build ## orders under sustained writes with deploys, rollbacks and controller/broker restarts for EDGE_SOAK (3m): no order lost, agent RSS bounded, no fd or goroutine growth
	EDGE_BIN=$(CURDIR)/$(BIN) EDGE_SOAK=$(EDGE_SOAK) $(GO) test -tags soak -count=1 -v -run '^TestSoak$$' -timeout 2h ./tests/e2e

bench: build ## measure Wasm vs native, start times and memory; writes docs/BENCHMARKS.md
	$(GO) run ./tests/bench -bin $(CURDIR)/$(BIN) -out docs/BENCHMARKS.md

pushbench: build ## measure push → serving time on one device
	$(GO) run ./tests/pushbench -bin $(BIN)

tlsbench: ## what TLS costs the embedded broker: connects/s, CPU per connect, heap per idle connection (plain, MQTTS with passwords, with client certificates)
	$(GO) run ./tests/tlsbench

msgbench: ## module messaging on one device: messages/s into a guest and the broker → guest → publish → broker round trip (BROKER=tcp://HOST:PORT for another broker)
	$(GO) run ./tests/msgbench $(if $(BROKER),-broker $(BROKER))

ingestbench: build ## find how many devices (tests/devsim, 10 s interval) edge-control ingests before falling behind; writes docs/BENCHMARKS.md
	$(GO) run ./tests/ingestbench -bin $(BIN) -out docs/BENCHMARKS.md

fleetbench: build ## 10,000 simulated devices (tests/devsim) against edge-control: steady-state CPU/memory, push to 1,000 with chunk fetch; embedded broker and Mosquitto; writes docs/BENCHMARKS.md
	$(GO) run ./tests/fleetbench -bin $(BIN) -module $(BIN)/orders.wasm -out docs/BENCHMARKS.md

demo: build ## run the order service under edge-agent and walk through the seed's curl workflow
	./deploy/demo.sh

# DIST_ARCH narrows the architectures (tests/deploy builds amd64 and armv7).
DIST      ?= dist
DIST_ARCH ?= amd64 arm64 armv7 riscv64
dist: ## tarballs, Debian packages and SHA256SUMS of edge-agent, edge-control and edgectl for amd64, arm64, armv7, riscv64 (in dist/)
	$(GO) run ./deploy/dist -version '$(VERSION)' -out '$(DIST)' -arch '$(DIST_ARCH)'

# The dashboard's browser test writes docs/dashboard*.png when
# EDGE_SCREENSHOTS is set; make test never rewrites docs.
screenshots: ## run the dashboard's browser test (needs chromium) and save its screenshots in docs/
	EDGE_SCREENSHOTS=1 $(GO) test -count=1 -run '^TestDashboard(Rollouts)?$$' ./control/dashboard

vendor: ## refetch the dashboard's charting library (uPlot) with npm into control/dashboard/static/vendor
	./control/dashboard/vendor.sh

clean: ## remove build outputs
	rm -rf $(BIN) dist
