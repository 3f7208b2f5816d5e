# bltpipe — see README.md. Targets a fresh machine needs: demo, test.
GO      ?= go
BIN     := bin/bltpipe
PKGS    := ./...

.PHONY: all build test vet bench demo clean

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

clean:
	rm -rf bin out
