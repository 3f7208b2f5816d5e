package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/bltpipe/bltpipe/runners"
)

func init() {
	register(command{
		name:    "worker-pool",
		summary: "serve Beam's external worker pool: SDK workers for --environment_type=EXTERNAL jobs (Flink, any portable runner)",
		run:     runWorkerPool,
	})
}

const workerPoolUsage = `Usage: bltpipe worker-pool [--host HOST] [--port N]

Serves Beam's external worker pool service (BeamFnExternalWorkerPool) on
HOST:PORT. A portable runner — a Flink TaskManager behind Beam's Flink job
server, prism, … — running a job submitted with

  bltpipe run … --runner flink --endpoint JOBSERVER -- \
      --environment_type=EXTERNAL --environment_config=HOST:PORT

asks the pool for its SDK workers, and the pool runs them in this process:
no Docker on the workers' machines, and one process (one model, one GPU
context) per machine however many workers the runner starts. The pool must
be the same bltpipe version as the submitting one, and reach the job's
inputs, outputs and --model (local paths are this machine's).

Run one next to every TaskManager (its sidecar, sharing its network: HOST
127.0.0.1); listen on other addresses only on a trusted network, the
service has no authentication. The first line on stdout is
"bltpipe worker-pool: listening on HOST:PORT". Stops on SIGINT or SIGTERM.

Examples:
  bltpipe worker-pool --port 50000
  bltpipe worker-pool --host 0.0.0.0 --port 50000   # reachable from other machines
  GOMLX_BACKEND=xla:/opt/pjrt/xla_cuda_plugin.so bltpipe-xla worker-pool --port 50000
`

func runWorkerPool(args []string, stdout io.Writer) error {
	fs := newFlagSet("worker-pool", workerPoolUsage, stdout)
	host := fs.String("host", "127.0.0.1", "`address` to listen on (0.0.0.0: all interfaces)")
	port := fs.Int("port", 50000, "TCP `port` (0 picks a free one)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *port < 0 || *port > 65535 {
		return usageErrorf("--port %d: want 0…65535", *port)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pool, err := runners.ServeWorkerPool(ctx, net.JoinHostPort(*host, strconv.Itoa(*port)), os.Stderr)
	if err != nil {
		return usageErrorf("%v", err)
	}
	fmt.Fprintf(stdout, "bltpipe worker-pool: listening on %s\n", pool.Addr())
	fmt.Fprintf(stdout, "  submit with: bltpipe run … -- --environment_type=EXTERNAL --environment_config=%s\n", pool.Addr())
	if f, ok := stdout.(*os.File); ok {
		f.Sync()
	}
	go func() {
		<-ctx.Done()
		pool.Stop()
	}()
	if err := pool.Wait(); err != nil {
		return fmt.Errorf("worker pool: %w", err)
	}
	fmt.Fprintln(stdout, "bltpipe worker-pool: stopped")
	return nil
}
