package runners

import (
	"context"
	"flag"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	fnpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/fnexecution_v1"
	pipepb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/pipeline_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/util/grpcx"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// keepFlags restores Beam's standard flag set when the test ends.
func keepFlags(t *testing.T) {
	t.Helper()
	saved := map[string]string{}
	flag.CommandLine.VisitAll(func(f *flag.Flag) { saved[f.Name] = f.Value.String() })
	t.Cleanup(func() {
		flag.CommandLine.VisitAll(func(f *flag.Flag) {
			if v := saved[f.Name]; f.Value.String() != v {
				f.Value.Set(v)
			}
		})
	})
}

func TestAcceleratorServiceOption(t *testing.T) {
	for spec, want := range map[string]string{
		"nvidia-l4":          "worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver",
		"nvidia-l4:2":        "worker_accelerator=type:nvidia-l4;count:2;install-nvidia-driver",
		"nvidia-a100-80gb:8": "worker_accelerator=type:nvidia-a100-80gb;count:8;install-nvidia-driver",
		"nvidia-tesla-t4:1":  "worker_accelerator=type:nvidia-tesla-t4;count:1;install-nvidia-driver",
		"l4:1":               "",
		"nvidia-l4:0":        "",
		"nvidia-l4:x":        "",
		"nvidia-l4;count:2":  "",
		"NVIDIA-L4":          "",
		"":                   "",
	} {
		got, err := AcceleratorServiceOption(spec)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("AcceleratorServiceOption(%q) = %q, %v; want %q", spec, got, err, want)
		}
	}
}

// Prepare fills in the Dataflow service option and the worker binary, and
// refuses combinations that cannot work.
func TestPrepareRemote(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dataflow := []string{"--project=p", "--region=r", "--staging_location=gs://b/s"}
	for _, tc := range []struct {
		name    string
		c       Config
		wantErr string
		flags   map[string]string // Beam flag values after Prepare
	}{
		{name: "gpu", c: Config{Runner: "dataflow", WorkerAccelerator: "nvidia-l4:1",
			BeamArgs: append(dataflow, "--sdk_container_image=img", "--dataflow_service_options=enable_prime")},
			flags: map[string]string{flagServiceOptions: "enable_prime,worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver", flagWorkerBinary: self}},
		{name: "gpu twice", c: Config{Runner: "dataflow", WorkerAccelerator: "nvidia-l4:1",
			BeamArgs: append(dataflow, "--sdk_container_image=img", "--dataflow_service_options=worker_accelerator=type:nvidia-l4;count:1")},
			wantErr: "both ask for GPUs"},
		{name: "gpu without image", c: Config{Runner: "dataflow", WorkerAccelerator: "nvidia-l4", BeamArgs: dataflow}, wantErr: "sdk_container_image"},
		{name: "gpu with the deprecated image flag", c: Config{Runner: "dataflow", WorkerAccelerator: "nvidia-l4",
			BeamArgs: append(dataflow, "--worker_harness_container_image=img")},
			flags: map[string]string{flagServiceOptions: "worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver"}},
		{name: "gpu on flink", c: Config{Runner: "flink", Endpoint: "h:1", WorkerAccelerator: "nvidia-l4"}, wantErr: "is for --runner dataflow"},
		{name: "explicit binary kept", c: Config{Runner: "dataflow", BeamArgs: append(dataflow, "--worker_binary=/opt/w")},
			flags: map[string]string{flagWorkerBinary: "/opt/w"}},
		{name: "external stages self", c: Config{Runner: "flink", Endpoint: "h:1", BeamArgs: []string{"--environment_type=EXTERNAL", "--environment_config=h:2"}},
			flags: map[string]string{flagWorkerBinary: self}},
		{name: "loopback stages nothing", c: Config{Runner: "universal", Endpoint: "h:1", BeamArgs: []string{"--environment_type=LOOPBACK"}},
			flags: map[string]string{flagWorkerBinary: ""}},
		{name: "prism stages nothing", c: Config{Runner: "prism"}, flags: map[string]string{flagWorkerBinary: ""}},
		{name: "async loopback", c: Config{Runner: "flink", Endpoint: "h:1", BeamArgs: []string{"--environment_type=LOOPBACK", "--async"}}, wantErr: "--async"},
		{name: "async prism", c: Config{Runner: "prism", BeamArgs: []string{"--async"}}, wantErr: "--async"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keepFlags(t)
			var log strings.Builder
			tc.c.Log = &log
			_, err := Prepare(tc.c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Prepare: %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range tc.flags {
				if got := beamFlag(name); got != want {
					t.Errorf("--%s = %q, want %q", name, got, want)
				}
			}
			if wb, ok := tc.flags[flagWorkerBinary]; ok && (wb == self) != strings.Contains(log.String(), "staging this binary") {
				t.Errorf("notice %q with worker binary %q", log.String(), wb)
			}
		})
	}
}

func TestDetached(t *testing.T) {
	for _, args := range [][]string{{"--async"}, {"--execute_async"}, {"--dry_run"}, {"--template_location=gs://b/t"}} {
		keepFlags(t)
		if Detached() {
			t.Fatalf("Detached before %v", args)
		}
		if err := flag.CommandLine.Parse(args); err != nil {
			t.Fatal(err)
		}
		if !Detached() {
			t.Errorf("not Detached with %v", args)
		}
		for _, f := range []string{"async", "dry_run", "template_location"} {
			flag.CommandLine.Lookup(f).Value.Set(flag.CommandLine.Lookup(f).DefValue)
		}
	}
}

// The pool refuses requests a harness cannot serve, forgets stopped
// workers without error, and stops cleanly; a worker it starts registers
// with the runner's control service under its id.
func TestWorkerPoolService(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var log syncBuilder
	pool, err := ServeWorkerPool(ctx, "127.0.0.1:0", &log)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(pool.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := fnpb.NewBeamFnExternalWorkerPoolClient(cc)
	ep := func(url string) *pipepb.ApiServiceDescriptor { return &pipepb.ApiServiceDescriptor{Url: url} }
	for name, req := range map[string]*fnpb.StartWorkerRequest{
		"no id":          {ControlEndpoint: ep("127.0.0.1:1"), LoggingEndpoint: ep("127.0.0.1:1")},
		"no control":     {WorkerId: "w", LoggingEndpoint: ep("127.0.0.1:1")},
		"no logging":     {WorkerId: "w", ControlEndpoint: ep("127.0.0.1:1")},
		"authentication": {WorkerId: "w", ControlEndpoint: &pipepb.ApiServiceDescriptor{Url: "127.0.0.1:1", Authentication: &pipepb.AuthenticationSpec{Urn: "x"}}, LoggingEndpoint: ep("127.0.0.1:1")},
	} {
		resp, err := client.StartWorker(ctx, req)
		if err != nil || resp.GetError() == "" {
			t.Errorf("%s: StartWorker = %v, %v; want a refusal", name, resp, err)
		}
	}
	if resp, err := client.StopWorker(ctx, &fnpb.StopWorkerRequest{WorkerId: "never-started"}); err != nil || resp.GetError() != "" {
		t.Errorf("StopWorker of an unknown worker: %v, %v", resp, err)
	}

	// A control service that records the worker id the harness dials with.
	ctl := startControlRecorder(t)
	if resp, err := client.StartWorker(ctx, &fnpb.StartWorkerRequest{WorkerId: "w1", ControlEndpoint: ep(ctl.addr), LoggingEndpoint: ep(ctl.addr)}); err != nil || resp.GetError() != "" {
		t.Fatalf("StartWorker: %v, %v", resp, err)
	}
	if resp, _ := client.StartWorker(ctx, &fnpb.StartWorkerRequest{WorkerId: "w1", ControlEndpoint: ep(ctl.addr), LoggingEndpoint: ep(ctl.addr)}); resp.GetError() == "" {
		t.Errorf("a second worker w1 was accepted")
	}
	select {
	case id := <-ctl.ids:
		if id != "w1" {
			t.Errorf("harness dialled control as %q, want w1", id)
		}
	case <-ctx.Done():
		t.Fatalf("the harness never opened the control stream; pool log:\n%s", log.String())
	}
	if resp, err := client.StopWorker(ctx, &fnpb.StopWorkerRequest{WorkerId: "w1"}); err != nil || resp.GetError() != "" {
		t.Errorf("StopWorker w1: %v, %v", resp, err)
	}
	pool.Stop()
	if err := pool.Wait(); err != nil {
		t.Errorf("Wait after Stop: %v", err)
	}
	if resp, err := client.StartWorker(ctx, &fnpb.StartWorkerRequest{WorkerId: "w2", ControlEndpoint: ep(ctl.addr), LoggingEndpoint: ep(ctl.addr)}); err == nil && resp.GetError() == "" {
		t.Errorf("a stopped pool started a worker")
	}
	if !strings.Contains(log.String(), "worker w1 started") {
		t.Errorf("pool log:\n%s", log.String())
	}
}

// syncBuilder is a strings.Builder safe for the pool's goroutines.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// controlRecorder is the runner's side of the Fn API, reduced to what a
// starting harness does: open the logging and control streams.
type controlRecorder struct {
	fnpb.UnimplementedBeamFnControlServer
	fnpb.UnimplementedBeamFnLoggingServer
	addr string
	ids  chan string
}

func (c *controlRecorder) Control(stream fnpb.BeamFnControl_ControlServer) error {
	id, err := grpcx.ReadWorkerID(stream.Context())
	if err != nil {
		id = "<" + err.Error() + ">"
	}
	c.ids <- id
	<-stream.Context().Done()
	return nil
}

func (c *controlRecorder) Logging(stream fnpb.BeamFnLogging_LoggingServer) error {
	for {
		if _, err := stream.Recv(); err != nil {
			return nil
		}
	}
}

func startControlRecorder(t *testing.T) *controlRecorder {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &controlRecorder{addr: lis.Addr().String(), ids: make(chan string, 4)}
	srv := grpc.NewServer()
	fnpb.RegisterBeamFnControlServer(srv, c)
	fnpb.RegisterBeamFnLoggingServer(srv, c)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return c
}
