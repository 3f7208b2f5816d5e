package modelio

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego" // pure-Go CPU backend, always built in
)

// BackendEnv names the environment variable that selects the GoMLX backend
// when no explicit backend is given, e.g. "xla:/abs/path/xla_cuda_plugin.so".
const BackendEnv = backends.ConfigEnvVar // "GOMLX_BACKEND"

// OpenBackend returns the GoMLX backend for config ("" means $GOMLX_BACKEND,
// else the pure-Go "simplego" CPU backend). "simplego" and "cpu" are aliases
// of GoMLX's "go" backend. "xla:PLUGIN" needs a binary built with -tags xla.
func OpenBackend(config string) (backends.Backend, error) {
	if config == "" {
		config = os.Getenv(BackendEnv)
	}
	name, rest, _ := strings.Cut(config, ":")
	switch name {
	case "", "simplego", "cpu", "go":
		config = "go"
		if rest != "" {
			config += ":" + rest
		}
		name = "go"
	}
	if !slices.Contains(backends.List(), name) {
		if name == "xla" || name == "stablehlo" {
			return nil, fmt.Errorf("backend %q: this bltpipe was built without the XLA backend; rebuild with `go build -tags xla` (cgo) to run on GPUs", config)
		}
		return nil, fmt.Errorf("unknown backend %q (available: simplego%s)", config, xlaHint())
	}
	if name == "go" {
		b, err := backends.NewWithConfig(config)
		if err != nil {
			return nil, fmt.Errorf("open backend %q: %w", config, err)
		}
		return b, nil
	}
	// An accelerator backend is a PJRT client, whose allocator takes most
	// of each device's memory: a process opens it once and shares it (a
	// third client in one process ran out of GPU memory).
	openMu.Lock()
	defer openMu.Unlock()
	if b, ok := opened[config]; ok {
		return b, nil
	}
	b, err := backends.NewWithConfig(config)
	if err != nil {
		return nil, fmt.Errorf("open backend %q: %w", config, err)
	}
	opened[config] = b
	return b, nil
}

var (
	openMu sync.Mutex
	opened = map[string]backends.Backend{} // accelerator backends by config
)

// IsCPUBackendConfig reports whether a backend config (as OpenBackend takes
// it; "" means $GOMLX_BACKEND) names the pure-Go CPU backend.
func IsCPUBackendConfig(config string) bool {
	if config == "" {
		config = os.Getenv(BackendEnv)
	}
	name, _, _ := strings.Cut(config, ":")
	switch name {
	case "", "simplego", "cpu", "go":
		return true
	}
	return false
}

// IsCPUBackend reports whether b is the pure-Go CPU backend.
func IsCPUBackend(b backends.Backend) bool { return b.String() == "go" }
