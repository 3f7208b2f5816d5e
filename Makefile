# bltpipe — see README.md. Targets a fresh machine needs: demo, test.
GO      ?= go
BIN     := bin/bltpipe
PKGS    := ./...

.PHONY: all build test vet bench bench-gpu gpu-binaries demo clean

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

clean:
	rm -rf bin out
