package runners

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/apache/beam/sdks/v2/go/container/tools"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/harness"
	fnpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/fnexecution_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/util/grpcx"
	"google.golang.org/grpc"
)

// WorkerPool is Beam's external worker pool service
// (BeamFnExternalWorkerPool) served by bltpipe itself. A portable runner
// (Flink's job server, prism, …) given a job with
// --environment_type=EXTERNAL --environment_config=ADDR calls StartWorker
// here for every SDK worker it wants, and the pool runs Beam's Go SDK
// harness for it in this process: the transforms are this binary's own,
// so the binary staged with the job is not needed.
//
// Harnesses are goroutines of one process and share it: the model loaded by
// one is loaded for all (one GPU context per machine, not per worker). The
// pool does not import a job's pipeline options (Beam makes them
// process-global and read-only); bltpipe's transforms carry their
// configuration in the pipeline itself.
type WorkerPool struct {
	fnpb.UnimplementedBeamFnExternalWorkerPoolServer

	lis  net.Listener
	srv  *grpc.Server
	log  io.Writer
	root context.Context
	stop context.CancelFunc

	mu      sync.Mutex
	workers map[string]*poolWorker // running harnesses by worker id
	closed  bool
	running sync.WaitGroup
	served  chan error
}

type poolWorker struct{ cancel context.CancelFunc }

// ServeWorkerPool listens on addr (HOST:PORT; port 0 picks one) and serves
// the pool until Stop. log receives a line per worker started and ended.
func ServeWorkerPool(ctx context.Context, addr string, log io.Writer) (*WorkerPool, error) {
	initOnce.Do(beam.Init)
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("worker pool: %w", err)
	}
	if log == nil {
		log = io.Discard
	}
	root, stop := context.WithCancel(ctx)
	p := &WorkerPool{lis: lis, srv: grpc.NewServer(), log: log, root: root, stop: stop,
		workers: map[string]*poolWorker{}, served: make(chan error, 1)}
	fnpb.RegisterBeamFnExternalWorkerPoolServer(p.srv, p)
	go func() { p.served <- p.srv.Serve(lis) }()
	return p, nil
}

// Addr is the address the pool listens on (HOST:PORT), the value for
// --environment_config.
func (p *WorkerPool) Addr() string { return p.lis.Addr().String() }

// Wait blocks until the pool stops: Stop was called, or serving failed.
func (p *WorkerPool) Wait() error {
	err := <-p.served
	p.served <- err
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Stop refuses new workers, cancels the running harnesses, waits for them
// and stops serving.
func (p *WorkerPool) Stop() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.stop()
	p.running.Wait()
	p.srv.Stop()
}

// StartWorker runs an SDK harness connected to the runner's endpoints.
func (p *WorkerPool) StartWorker(_ context.Context, req *fnpb.StartWorkerRequest) (*fnpb.StartWorkerResponse, error) {
	id := req.GetWorkerId()
	refuse := func(format string, args ...any) (*fnpb.StartWorkerResponse, error) {
		msg := fmt.Sprintf(format, args...)
		fmt.Fprintf(p.log, "bltpipe worker-pool: refused worker %q: %s\n", id, msg)
		return &fnpb.StartWorkerResponse{Error: msg}, nil
	}
	switch {
	case id == "":
		return refuse("no worker id")
	case req.GetControlEndpoint().GetUrl() == "" || req.GetLoggingEndpoint().GetUrl() == "":
		return refuse("the request lacks a control or logging endpoint")
	case req.GetControlEndpoint().GetAuthentication() != nil || req.GetLoggingEndpoint().GetAuthentication() != nil:
		return refuse("authenticated endpoints are not supported")
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return refuse("the pool is shutting down")
	}
	if _, dup := p.workers[id]; dup {
		p.mu.Unlock()
		return refuse("a worker with this id is running")
	}
	// The harness reads the worker id from its context's gRPC metadata;
	// the runner tells its workers apart by it.
	ctx, cancel := context.WithCancel(grpcx.WriteWorkerID(p.root, id))
	w := &poolWorker{cancel: cancel}
	p.workers[id] = w
	p.running.Add(1)
	p.mu.Unlock()
	fmt.Fprintf(p.log, "bltpipe worker-pool: worker %s started (control %s)\n", id, req.GetControlEndpoint().GetUrl())
	go func() {
		defer p.running.Done()
		opts := p.harnessOptions(ctx, req.GetProvisionEndpoint().GetUrl())
		err := harness.MainWithOptions(ctx, req.GetLoggingEndpoint().GetUrl(), req.GetControlEndpoint().GetUrl(), opts)
		p.mu.Lock()
		if p.workers[id] == w {
			delete(p.workers, id)
		}
		p.mu.Unlock()
		cancel()
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(p.log, "bltpipe worker-pool: worker %s failed: %v\n", id, err)
			return
		}
		fmt.Fprintf(p.log, "bltpipe worker-pool: worker %s finished\n", id)
	}()
	return &fnpb.StartWorkerResponse{}, nil
}

// harnessOptions asks the runner's provision service, when it has one, for
// the status endpoint and the runner's capabilities.
func (p *WorkerPool) harnessOptions(ctx context.Context, provision string) harness.Options {
	if provision == "" {
		return harness.Options{}
	}
	info, err := tools.ProvisionInfo(ctx, provision)
	if err != nil {
		fmt.Fprintf(p.log, "bltpipe worker-pool: no provision info from %s (%v); starting with defaults\n", provision, err)
		return harness.Options{}
	}
	return harness.Options{StatusEndpoint: info.GetStatusEndpoint().GetUrl(), RunnerCapabilities: info.GetRunnerCapabilities()}
}

// StopWorker cancels a running harness.
func (p *WorkerPool) StopWorker(_ context.Context, req *fnpb.StopWorkerRequest) (*fnpb.StopWorkerResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w, ok := p.workers[req.GetWorkerId()]; ok {
		w.cancel()
		delete(p.workers, req.GetWorkerId())
	}
	// A worker that already ended is stopped: not an error for the runner.
	return &fnpb.StopWorkerResponse{}, nil
}
