package runners

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
)

// Beam flags (registered by Beam's packages in the standard flag set) that
// bltpipe reads or fills in for remote runners.
const (
	flagWorkerBinary     = "worker_binary"
	flagServiceOptions   = "dataflow_service_options"
	flagContainerImage   = "sdk_container_image"
	flagHarnessImage     = "worker_harness_container_image" // Beam's deprecated name of sdk_container_image
	flagDryRun           = "dry_run"
	flagTemplateLocation = "template_location"
)

// acceleratorRE is Dataflow's GPU type name, e.g. nvidia-l4, nvidia-tesla-t4,
// nvidia-a100-80gb.
var acceleratorRE = regexp.MustCompile(`^nvidia-[a-z0-9][a-z0-9-]*$`)

// AcceleratorServiceOption turns --worker-accelerator TYPE[:COUNT] into
// Dataflow's service option asking for COUNT GPUs of TYPE on every worker,
// with the NVIDIA driver installed on the VM:
// worker_accelerator=type:TYPE;count:COUNT;install-nvidia-driver.
func AcceleratorServiceOption(spec string) (string, error) {
	typ, count, hasCount := strings.Cut(spec, ":")
	n := 1
	if hasCount {
		var err error
		if n, err = strconv.Atoi(count); err != nil || n < 1 {
			return "", fmt.Errorf("--worker-accelerator %q: the count after ':' must be a whole number ≥ 1", spec)
		}
	}
	if !acceleratorRE.MatchString(typ) {
		return "", fmt.Errorf("--worker-accelerator %q: want TYPE[:COUNT] with a Dataflow GPU type such as nvidia-l4, nvidia-tesla-t4 or nvidia-a100-80gb", spec)
	}
	return fmt.Sprintf("worker_accelerator=type:%s;count:%d;install-nvidia-driver", typ, n), nil
}

// prepareRemote checks and completes Beam's flags for the runners whose
// workers are not this process: dataflow, and universal/flink in any
// environment but LOOPBACK.
func prepareRemote(c Config) error {
	if c.WorkerAccelerator != "" {
		if c.Runner != "dataflow" {
			return fmt.Errorf("--worker-accelerator is for --runner dataflow (a Flink cluster's GPUs are the cluster's own: run the GPU build on its TaskManagers)")
		}
		opt, err := AcceleratorServiceOption(c.WorkerAccelerator)
		if err != nil {
			return err
		}
		if beamFlag(flagContainerImage) == "" && beamFlag(flagHarnessImage) == "" {
			return fmt.Errorf("--worker-accelerator needs a worker image with the CUDA PJRT plugin and GOMLX_BACKEND set (deploy/dataflow/Dockerfile): pass -- --%s=IMAGE; Beam's default Go image would leave the GPUs idle", flagContainerImage)
		}
		if prev := beamFlag(flagServiceOptions); strings.Contains(prev, "worker_accelerator=") {
			return fmt.Errorf("--worker-accelerator and -- --%s=%q both ask for GPUs: pass one", flagServiceOptions, prev)
		} else if prev != "" {
			opt = prev + "," + opt
		}
		if err := flag.CommandLine.Set(flagServiceOptions, opt); err != nil {
			return err
		}
	}
	loopback := jobopts.IsLoopback()
	if *jobopts.Async && (c.Runner == "prism" || c.Runner == "direct" || (c.Runner != "dataflow" && loopback)) {
		return fmt.Errorf("--async: with --runner %s and --environment_type=%q the SDK workers run in this process, which exits once the job is submitted",
			c.Runner, *jobopts.EnvironmentType)
	}
	if c.Runner == "dataflow" || ((c.Runner == "universal" || c.Runner == "flink") && !loopback) {
		return defaultWorkerBinary(c)
	}
	return nil
}

// defaultWorkerBinary makes this executable the worker binary Beam stages
// for remote workers when none is given: the workers are linux/amd64, so
// that works when this bltpipe is a linux/amd64 build. Beam's own fallback
// would cross-compile the main package, which needs bltpipe's source and
// a Go toolchain next to the binary.
func defaultWorkerBinary(c Config) error {
	if beamFlag(flagWorkerBinary) != "" {
		return nil
	}
	exe, err := os.Executable()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" || err != nil {
		return fmt.Errorf("--runner %s stages a linux/amd64 worker binary and this bltpipe is %s/%s: build one (make worker-binaries) and pass -- --%s=bin/linux-amd64/bltpipe",
			c.Runner, runtime.GOOS, runtime.GOARCH, flagWorkerBinary)
	}
	logf(c, "bltpipe: staging this binary (%s) as the %s workers' program (-- --%s=PATH picks another)\n", exe, c.Runner, flagWorkerBinary)
	return flag.CommandLine.Set(flagWorkerBinary, exe)
}

// Detached reports whether Run returns before the pipeline has run: Beam's
// --async (--execute_async), or Dataflow's --dry_run and
// --template_location, which submit nothing.
func Detached() bool {
	return *jobopts.Async || beamFlag(flagDryRun) == "true" || beamFlag(flagTemplateLocation) != ""
}

// beamFlag is the value of a flag in the standard flag set, "" when it is
// not registered.
func beamFlag(name string) string {
	if f := flag.CommandLine.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}
