// Package runners turns bltpipe's --runner/--endpoint choice into a Beam
// execution, keeping our CLI flags and Beam's own flags apart.
//
// Beam Go reads runner options (--endpoint, --environment_type, --project,
// --region, --staging_location, …) from the process's standard flag set,
// which package inits fill. bltpipe parses its own flags with a separate
// FlagSet; anything after "--" on the command line is handed to the standard
// flag set untouched (BeamArgs), so every Beam option works without bltpipe
// re-declaring it.
//
// Runners:
//   - prism (default): Beam's portable runner, in this process, with the
//     SDK harness in loopback mode. Progress is a bar redrawn in place on a
//     terminal, a line every ProgressEvery otherwise.
//   - direct: an alias of prism (the Go direct runner is deprecated); says so.
//   - universal, flink: submit to a portable job service at --endpoint
//     (a Flink job server, a standalone prism, …). Workers default to Beam's
//     environment rules (DOCKER with apache/beam_go_sdk); pass
//     -- --environment_type=LOOPBACK to run them in this process (what the
//     tests do against an in-process prism), or EXTERNAL with
//     --environment_config=HOST:PORT of a worker pool (`bltpipe
//     worker-pool`, WorkerPool).
//   - dataflow: Beam's Dataflow runner; pass its flags after "--"
//     (--project, --region, --staging_location, --worker_binary, …).
//     Config.WorkerAccelerator asks for GPU workers.
//
// Remote workers run a staged worker binary; unless -- --worker_binary is
// given, bltpipe stages itself when it is a linux/amd64 build (docs/SCALE.md).
package runners

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow" // registers "dataflow"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal" // registers "universal"
	"github.com/bltpipe/bltpipe/transforms/progress"
	"golang.org/x/term"
)

// Names lists the accepted --runner values.
var Names = []string{"prism", "direct", "universal", "flink", "dataflow"}

// Config selects and configures the runner.
type Config struct {
	Runner   string   // one of Names; "" means prism
	Endpoint string   // job service HOST:PORT for universal/flink
	BeamArgs []string // flags for Beam's standard flag set (after "--")
	// WorkerAccelerator is --worker-accelerator TYPE[:COUNT] (dataflow
	// only): GPUs on every worker, as Dataflow's worker_accelerator
	// service option (AcceleratorServiceOption).
	WorkerAccelerator string
	// Log receives notices and, on in-process runners, a progress line
	// every ProgressEvery (0: every 10 s; negative: never).
	Log           io.Writer
	ProgressEvery time.Duration
}

var initOnce sync.Once

// Prepare validates the choice and applies Beam's flags. Call it before
// building the pipeline (Beam must be initialised first).
func Prepare(c Config) (Config, error) {
	if c.Runner == "" {
		c.Runner = "prism"
	}
	known := false
	for _, n := range Names {
		known = known || n == c.Runner
	}
	if !known {
		return c, fmt.Errorf("unknown runner %q (want one of %s)", c.Runner, strings.Join(Names, ", "))
	}
	if len(c.BeamArgs) > 0 {
		if err := flag.CommandLine.Parse(c.BeamArgs); err != nil {
			return c, fmt.Errorf("beam flags %v: %w", c.BeamArgs, err)
		}
		if flag.CommandLine.NArg() > 0 {
			return c, fmt.Errorf("beam flags: unexpected arguments %v", flag.CommandLine.Args())
		}
	}
	switch c.Runner {
	case "universal", "flink":
		if c.Endpoint == "" && *jobopts.Endpoint == "" {
			return c, fmt.Errorf("--runner %s needs --endpoint HOST:PORT of a portable job service", c.Runner)
		}
	case "prism", "direct":
		if c.Endpoint != "" {
			return c, fmt.Errorf("--endpoint is for --runner universal or flink; prism runs in this process")
		}
	}
	if err := prepareRemote(c); err != nil {
		return c, err
	}
	initOnce.Do(beam.Init)
	return c, nil
}

// Run executes p with the prepared config.
func Run(ctx context.Context, p *beam.Pipeline, c Config) (beam.PipelineResult, error) {
	switch c.Runner {
	case "direct":
		logf(c, "bltpipe: --runner direct runs on prism (Beam's Go direct runner is deprecated)\n")
		fallthrough
	case "prism":
		stop := startProgress(c)
		defer stop()
		// A fresh in-process job service for this run (prism.Execute reuses
		// one when jobopts.Endpoint is set).
		saved := *jobopts.Endpoint
		*jobopts.Endpoint = ""
		defer func() { *jobopts.Endpoint = saved }()
		return prism.Execute(ctx, p)
	case "universal", "flink":
		if c.Endpoint != "" {
			saved := *jobopts.Endpoint
			*jobopts.Endpoint = c.Endpoint
			defer func() { *jobopts.Endpoint = saved }()
		}
		return beam.Run(ctx, "universal", p)
	case "dataflow":
		return beam.Run(ctx, "dataflow", p)
	}
	return nil, fmt.Errorf("unknown runner %q", c.Runner)
}

func logf(c Config, format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format, args...)
	}
}

// startProgress reports progress until the returned stop is called: on a
// terminal, a bar (percentage and ETA when the input size is planned,
// throughput, counters) redrawn in place twice a second; elsewhere (a
// file, a pipe, CI logs) one line every ProgressEvery.
func startProgress(c Config) func() {
	every := c.ProgressEvery
	if every == 0 {
		every = 10 * time.Second
	}
	if every < 0 || c.Log == nil {
		return func() {}
	}
	tty := isTerminal(c.Log)
	if tty {
		every = 500 * time.Millisecond
	}
	start, base := time.Now(), progress.Take()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if tty {
					logf(c, "\r\033[K")
				}
				return
			case <-t.C:
				el := time.Since(start)
				if tty {
					logf(c, "\r\033[K%s %s", el.Round(time.Second), progress.Status(base, progress.Take(), el, 24))
				} else {
					logf(c, "bltpipe: [%s] %s\n", el.Round(time.Second), progress.Status(base, progress.Take(), el, 0))
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// isTerminal reports whether w is a terminal (progress redraws in place).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Counters returns the pipeline's counters in namespace "bltpipe", summed
// over steps, by name.
func Counters(pr beam.PipelineResult) map[string]int64 {
	out := map[string]int64{}
	if pr == nil {
		return out
	}
	for _, c := range pr.Metrics().AllMetrics().Counters() {
		if c.Namespace() == "bltpipe" {
			out[c.Name()] += c.Result()
		}
	}
	return out
}

// Summary formats counters as an aligned two-column table, in a fixed order
// for the known counters and alphabetically for the rest.
func Summary(counters map[string]int64) string {
	order := []string{"splits", "documents_read", "rejected", "documents", "bytes", "tokens", "patches", "segments", "blt_arrow_skipped", "shard_files"}
	seen := map[string]bool{}
	var b strings.Builder
	row := func(k string) {
		v, ok := counters[k]
		if !ok || seen[k] {
			return
		}
		seen[k] = true
		fmt.Fprintf(&b, "  %-20s %15s\n", k, thousands(v))
	}
	for _, k := range order {
		row(k)
	}
	var rest []string
	for k := range counters {
		rest = append(rest, k)
	}
	sort.Strings(rest)
	for _, k := range rest {
		row(k)
	}
	return b.String()
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
