# bltpipe — see README.md. Targets a fresh machine needs: demo, test.
GO      ?= go
BIN     := bin/bltpipe
PKGS    := ./...

.PHONY: all build test vet bench bench-gpu gpu-binaries worker-binaries demo clean test-tools

all: build

# bltpipe --version prints the commit: the toolchain stamps it with
# -buildvcs=true (GOFLAGS may say false), and -X injects it for builds
# outside a git checkout's reach of the toolchain.
COMMIT  := $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.commit=$(COMMIT)

build:
	CGO_ENABLED=0 $(GO) build -buildvcs=true -ldflags='$(LDFLAGS)' -o $(BIN) ./cmd/bltpipe

vet:
	$(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

# The test suite: pure Go (cgo off), no network but loopback. test-tools
# installs the independent readers and decoders the tests use.
test: test-tools vet
	CGO_ENABLED=0 $(GO) test -count=1 $(PKGS)

# Fuzzing (not in CI): every fuzz target for FUZZTIME each, one after the
# other; crashers land in the package's testdata/fuzz/ — keep them, they
# become regression tests run by `make test`.
FUZZTIME ?= 10m
FUZZ_TARGETS := \
	./transforms/read:FuzzJSONL ./transforms/read:FuzzParquet \
	./transforms/limits:FuzzWindows ./transforms/pretokenize/modality:FuzzExtract \
	./modelio:FuzzParseConfig ./modelio/safetensors:FuzzOpen ./modelio/patcher:FuzzPatch
.PHONY: fuzz
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "== $${t#*:} ($${t%%:*}) for $(FUZZTIME)"; \
		CGO_ENABLED=0 $(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; \
	done

bench: build
	CGO_ENABLED=0 $(GO) test -run '^$$' -bench . -benchtime 3x ./modelio/... ./transforms/write/ ./pipelines/

# The XLA (GPU) build needs cgo; binaries for the GPU machine go to .dev/.
gpu-binaries:
	mkdir -p .dev
	CGO_ENABLED=1 GOOS=linux GOARCH=amd64 $(GO) build -tags xla -ldflags='-s -w $(LDFLAGS)' -o .dev/bltpipe-xla ./cmd/bltpipe
	CGO_ENABLED=1 GOOS=linux GOARCH=amd64 $(GO) test -c -tags xla -ldflags='-s -w' -o .dev/modelio-xla.test ./modelio
	gzip -9f .dev/bltpipe-xla .dev/modelio-xla.test   # the device takes 64 MiB per call

# Worker binaries for remote runners (Flink, Dataflow), built explicitly
# for the workers' platform: pass one with -- --worker_binary=… (bltpipe
# otherwise stages itself when it is a linux/amd64 build; Beam would
# cross-compile the source). The CPU worker is pure Go. The XLA/GPU worker
# needs cgo and a glibc no newer than the worker image's: build it with
# deploy/dataflow/Dockerfile's xla-binary stage (docs/SCALE.md), or with
# gpu-binaries above on a machine like the workers.
WORKER_DIR ?= bin/linux-amd64
worker-binaries:
	mkdir -p $(WORKER_DIR)
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags='-s -w $(LDFLAGS)' -o $(WORKER_DIR)/bltpipe ./cmd/bltpipe

# Run on a CUDA machine after gpu-binaries: prints accuracy and throughput
# (ours and PyTorch's) as JSON lines for bench/RESULTS.md.
bench-gpu:
	bash bench/gpu.sh

# Tools the tests use (they skip without them locally, and fail without
# them when CI=true): Debian's sqlite3 CLI (independent sidecar reader),
# ffmpeg (video and Ogg decoding) and chromium (opens bltpipe report's page
# headless), DuckDB + Apache Arrow JS from npm (versions pinned in
# test/duckdb).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
test-tools:
	@command -v sqlite3 >/dev/null && command -v ffmpeg >/dev/null && command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq sqlite3 ffmpeg chromium; }
	@test -d test/duckdb/node_modules -a test/duckdb/node_modules -nt test/duckdb/package-lock.json || { cd test/duckdb && npm ci --no-audit --no-fund; }

# The demo: bltpipe run over testdata/demo (text files, JSONL, FineWeb-like
# Parquet, and a file of every modality: code, image, audio, video, PDF with
# all its views, executable, archive) with models/default, printing the
# summary and output location.
DEMO_OUT ?= out/demo
demo: build
	@test -f models/default/model.safetensors || { echo "make demo: models/default/model.safetensors not found; the default model is not in this checkout yet (or pass your own: $(BIN) run --input testdata/demo --output $(DEMO_OUT) --model DIR)"; exit 1; }
	$(BIN) run --input testdata/demo --output $(DEMO_OUT) --blt-arrow demo --keep-columns url,score --progress 5s \
		--pdf-mode multiview --video-size 32 --video-every 10

clean:
	rm -rf bin out

# models/default, reproduced: corpus from the Go tree, training on a GPU
# (cgo/XLA build; set GOMLX_BACKEND=xla:/abs/path/xla_cuda_plugin.so), the
# shipped step exported and evaluated on the CPU, then the threshold
# calibrated. See models/default/README.md.
DM_GOROOT ?= $(shell $(GO) env GOROOT)
DM_DIR    := out/default-model
DM_CORPUS := $(DM_DIR)/corpus
DM_FLAGS  := --dim 128 --layers 4 --heads 4 --window 128 --multiple-of 64 --seq-len 512 --batch 128 \
	--lr 3e-3 --warmup 300 --seed 1 --steps 1100 --holdout-frac 0.01 --eval-every 275 --checkpoint-every 275
DM_EVALS  := prose=$(DM_CORPUS)/heldout-prose.jsonl.zst code=$(DM_CORPUS)/heldout-code.jsonl.zst

.PHONY: default-model
default-model:
	@test -n "$$GOMLX_BACKEND" || { echo "default-model trains on a GPU: set GOMLX_BACKEND=xla:/abs/path/xla_cuda_plugin.so"; exit 1; }
	$(GO) run ./models/default/mkcorpus -goroot $(DM_GOROOT) -out $(DM_CORPUS)
	CGO_ENABLED=1 $(GO) build -tags xla -o $(DM_DIR)/bltpipe ./cmd/bltpipe
	$(DM_DIR)/bltpipe train --corpus $(DM_CORPUS)/train.jsonl.zst $(addprefix --eval ,$(DM_EVALS)) $(DM_FLAGS) \
		--stop-after 550 --out $(DM_DIR)/run --checkpoint $(DM_DIR)/checkpoint.safetensors
	$(DM_DIR)/bltpipe train --export --checkpoint $(DM_DIR)/checkpoint.safetensors --out models/default \
		--seq-len 512 --batch 16 --eval-batches 3 --backend simplego $(addprefix --eval ,$(DM_EVALS))
	$(DM_DIR)/bltpipe calibrate --model models/default --backend simplego --input $(DM_CORPUS)/calib-prose.jsonl.zst \
		--max-bytes 120000 --target-patch-size 4.5 $(addprefix --check ,$(DM_EVALS)) --write
