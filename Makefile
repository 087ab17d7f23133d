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

# Test environment: the machine's MariaDB and Mosquitto. Tests that need them
# skip with a message when these are empty; .ci/run always sets them.
EDGE_TEST_MYSQL ?=
EDGE_TEST_MQTT  ?=
export EDGE_TEST_MYSQL EDGE_TEST_MQTT

.PHONY: help build test race qemu fuzz bench pushbench ingestbench demo dist clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: $(BIN)/edge-agent $(BIN)/edge-control $(BIN)/edgectl $(BIN)/orders.wasm $(BIN)/orders-native ## build the three programs, orders.wasm and orders-native

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
FORCE:

# One package at a time: several packages start real processes, brokers and
# load, and on a 2-core machine running them side by side only adds noise to
# their deadlines.
test: build ## run every test (MariaDB/Mosquitto tests need EDGE_TEST_MYSQL/EDGE_TEST_MQTT)
	EDGE_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -p 1 -timeout 20m ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./modules/...

race: build ## run the concurrent packages' tests with the race detector
	EDGE_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -race -timeout 15m ./agent/... ./control/... ./modules/... ./wire/...

# Not part of test: emulation is slow. Skips without qemu-user-static, fails
# without it when CI is set.
qemu: build ## run the agent and the wasmhost/store/abi tests for arm64, armv7, riscv64 under qemu-user
	EDGE_BIN=$(CURDIR)/$(BIN) $(GO) test -tags qemu -count=1 -v -timeout 15m ./tests/qemu

fuzz: ## run every fuzz target for FUZZTIME each (default 10s)
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench: build ## measure Wasm vs native, start times and memory; writes docs/BENCHMARKS.md
	$(GO) run ./tests/bench -bin $(CURDIR)/$(BIN) -out docs/BENCHMARKS.md

pushbench: build ## measure push → serving time on one device
	$(GO) run ./tests/pushbench -bin $(BIN)

ingestbench: build ## find how many devices (tests/devsim, 10 s interval) edge-control ingests before falling behind; writes docs/BENCHMARKS.md
	$(GO) run ./tests/ingestbench -bin $(BIN) -out docs/BENCHMARKS.md

demo: build ## run the order service under edge-agent and walk through the seed's curl workflow
	./deploy/demo.sh

# DIST_ARCH narrows the architectures (tests/deploy builds amd64 and armv7).
DIST      ?= dist
DIST_ARCH ?= amd64 arm64 armv7 riscv64
dist: ## tarballs, Debian packages and SHA256SUMS of edge-agent, edge-control and edgectl for amd64, arm64, armv7, riscv64 (in dist/)
	$(GO) run ./deploy/dist -version '$(VERSION)' -out '$(DIST)' -arch '$(DIST_ARCH)'

clean: ## remove build outputs
	rm -rf $(BIN) dist
