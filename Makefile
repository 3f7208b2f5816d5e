# bltpipe — see README.md. Targets a fresh machine needs: demo, test.
GO      ?= go
BIN     := bin/bltpipe
PKGS    := ./...

.PHONY: all build test vet bench bench-gpu gpu-binaries demo clean test-tools

all: build

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/bltpipe

vet:
	$(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

# The test suite: pure Go (cgo off), no network but loopback.
test: vet
	CGO_ENABLED=0 $(GO) test -count=1 $(PKGS)

bench: build
	CGO_ENABLED=0 $(GO) test -run '^$$' -bench . -benchtime 3x ./modelio/...

# The XLA (GPU) build needs cgo; binaries for the GPU machine go to .dev/.
gpu-binaries:
	mkdir -p .dev
	CGO_ENABLED=1 GOOS=linux GOARCH=amd64 $(GO) build -tags xla -ldflags='-s -w' -o .dev/bltpipe-xla ./cmd/bltpipe
	CGO_ENABLED=1 GOOS=linux GOARCH=amd64 $(GO) test -c -tags xla -ldflags='-s -w' -o .dev/modelio-xla.test ./modelio
	gzip -9f .dev/bltpipe-xla .dev/modelio-xla.test   # the device takes 64 MiB per call

# Run on a CUDA machine after gpu-binaries: prints accuracy and throughput
# (ours and PyTorch's) as JSON lines for bench/RESULTS.md.
bench-gpu:
	bash bench/gpu.sh

# Independent readers the pipeline tests use (they skip without them
# locally, and fail without them when CI=true): Debian's sqlite3 CLI and
# DuckDB + Apache Arrow JS from npm (versions pinned in test/duckdb).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
test-tools:
	@command -v sqlite3 >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq sqlite3; }
	cd test/duckdb && npm ci --no-audit --no-fund

# The demo: bltpipe run over testdata/demo (text files, JSONL, FineWeb-like
# Parquet) with models/default, printing the summary and output location.
DEMO_OUT ?= out/demo
demo: build
	@test -f models/default/model.safetensors || { echo "make demo: models/default/model.safetensors not found; the default model is not in this checkout yet (or pass your own: $(BIN) run --input testdata/demo --output $(DEMO_OUT) --model DIR)"; exit 1; }
	$(BIN) run --input testdata/demo --output $(DEMO_OUT) --blt-arrow demo --keep-columns url,score --progress 5s

clean:
	rm -rf bin out
