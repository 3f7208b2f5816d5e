package modelio

import (
	"fmt"
	"os"
	"slices"
	"strings"

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
	b, err := backends.NewWithConfig(config)
	if err != nil {
		return nil, fmt.Errorf("open backend %q: %w", config, err)
	}
	return b, nil
}

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
