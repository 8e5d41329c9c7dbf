# Annexa build. `make demo` and `make test` are the two commands a newcomer
# needs; everything else is for developers and packagers.

GO       ?= go
# One version scheme for binaries and packages: see packaging/version.sh.
VERSION  ?= $(shell ./packaging/version.sh 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
# Packages need a version dpkg and rpm can order; empty lets package.sh
# derive it from the version the binaries report.
PKG_VERSION ?=
BIN      := bin
TOOLS    := $(CURDIR)/tools/bin
PLUGINS  := datasets models access encryption
# Pinned code generators; proto/gen_test.go uses the same versions.
PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2

export CGO_ENABLED := 1

.PHONY: all build test test-short demo proto bench fuzz lint clean check-tools

all: build

# check-tools says what is missing and how to get it, instead of failing
# halfway through a build with a compiler's error.
check-tools:
	@command -v $(GO) >/dev/null || { echo "Go is missing: install Go 1.26 from https://go.dev/dl/ (or your distribution)"; exit 1; }
	@command -v gcc >/dev/null || { echo "gcc is missing: mattn/go-sqlite3 needs cgo; run: sudo apt-get install -y gcc"; exit 1; }
	@command -v protoc >/dev/null || echo "note: protoc is missing; the test that checks generated code needs it: sudo apt-get install -y protobuf-compiler"

build: check-tools
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/annexa-agent ./agent/cmd/annexa-agent
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/annexa-collector ./collector/cmd/annexa-collector
	@for p in $(PLUGINS); do \
		echo "$(GO) build -o $(BIN)/annexa-plugin-$$p ./plugins/$$p/cmd/annexa-plugin-$$p"; \
		$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/annexa-plugin-$$p ./plugins/$$p/cmd/annexa-plugin-$$p || exit 1; \
	done
	cd $(BIN) && sha256sum $(addprefix annexa-plugin-,$(PLUGINS)) > plugins.sha256
	@echo "built into $(BIN)/: annexa-agent annexa-collector $(addprefix annexa-plugin-,$(PLUGINS)) plugins.sha256"

# The whole suite, end-to-end proofs included. The race detector runs on
# the packages with concurrency of their own; end-to-end tests drive real
# processes and run without it to stay inside CI's time.
test: build
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 15m ./...
	$(GO) test -count=1 -race -timeout 10m ./agent/internal/... ./collector/internal/... ./plugins/...

test-short: build
	$(GO) test -short -count=1 ./...

demo: build
	./scripts/demo.sh

proto:
	@command -v protoc >/dev/null || { echo "protoc is missing: sudo apt-get install -y protobuf-compiler"; exit 1; }
	GOBIN=$(TOOLS) $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(TOOLS) $(GO) install $(PROTOC_GEN_GO_GRPC)
	cd proto && PATH=$(TOOLS):$$PATH protoc -I . \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
		plugin/v1/plugin.proto ingest/v1/ingest.proto

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 2x ./agent/internal/... ./plugins/...
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./collector/internal/controls/ ./collector/internal/store/sqlite/
	$(GO) test -run '^$$' -bench Exports -benchtime 1x -benchmem ./collector/internal/report/
	$(GO) test -run '^$$' -bench Join -benchtime 3x -benchmem ./collector/internal/lineage/
	$(GO) test -run '^$$' -bench Pages -benchtime 20x ./collector/internal/web/
	$(GO) test -run '^$$' -bench Read -benchtime 3x -benchmem ./collector/internal/soasheet/
	./scripts/bench.sh

# Each fuzz target runs for FUZZTIME; the seed corpora also run in make test.
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$t"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# The .deb and .rpm of annexa-agent (with the built-in plugins and their
# manifest) and annexa-collector, into dist/; nfpm comes from the Go proxy.
.PHONY: package
package: build
	GO=$(GO) VERSION=$(PKG_VERSION) ./packaging/package.sh dist

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'))" || { gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'); echo "gofmt needed"; exit 1; }

clean:
	rm -rf $(BIN) demo
