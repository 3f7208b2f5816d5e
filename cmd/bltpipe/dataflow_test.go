package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/util/protox"
	pipepb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/pipeline_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal/runnerlib"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/util/gcsx"
	"github.com/bltpipe/bltpipe/pipelines"
	"github.com/bltpipe/bltpipe/runners"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	df "google.golang.org/api/dataflow/v1b3"
	"google.golang.org/protobuf/proto"
)

// dataflowStandIn answers what Beam's Dataflow runner asks of Google, on
// 127.0.0.1: an OAuth token endpoint, and the Dataflow jobs API (create,
// get, metrics). It keeps every job request. With a job server set it also
// does Dataflow's part: it reads the staged pipeline from (fake) GCS and
// runs it — on prism, with the SDK harness in a bltpipe worker pool
// instead of Dataflow's container — before answering the creation, so the
// first status poll says JOB_STATE_DONE.
type dataflowStandIn struct {
	t         *testing.T
	gcs       *fakestorage.Server
	jobServer string              // prism job service; "" to only record jobs
	pool      *runners.WorkerPool // where the staged pipeline's workers run
	srv       *httptest.Server

	mu        sync.Mutex
	jobs      []*df.Job          // creation requests, in order
	pipelines []*pipepb.Pipeline // staged pipelines read back
	metrics   []*df.MetricUpdate // of the last executed job
	state     string             // of the last job
	calls     []string           // "METHOD path" of every jobs API call
	tokens    int                // token requests
	badAuth   []string           // jobs API calls without the stand-in's token
}

const standInToken = "stand-in-access-token"

func newDataflowStandIn(t *testing.T, gcs *fakestorage.Server) *dataflowStandIn {
	s := &dataflowStandIn{t: t, gcs: gcs}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	writeCredentials(t, s.srv.URL+"/token")
	return s
}

var jobPath = regexp.MustCompile(`^/v1b3/projects/([^/]+)/locations/([^/]+)/jobs(?:/([^/]+))?(/metrics)?$`)

func (s *dataflowStandIn) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		r.ParseForm()
		if r.Form.Get("grant_type") != "refresh_token" || r.Form.Get("refresh_token") != "stand-in-refresh" {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.tokens++
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, standInToken)
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, r.Method+" "+r.URL.Path)
	if r.Header.Get("Authorization") != "Bearer "+standInToken {
		s.badAuth = append(s.badAuth, r.Method+" "+r.URL.Path)
	}
	s.mu.Unlock()
	m := jobPath.FindStringSubmatch(r.URL.Path)
	switch {
	case m != nil && r.Method == http.MethodPost && m[3] == "":
		body, _ := io.ReadAll(r.Body)
		job := &df.Job{}
		if err := json.Unmarshal(body, job); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		job.Id = fmt.Sprintf("2026-12-01_00_00_00-%d", len(s.jobs)+1)
		s.mu.Lock()
		s.jobs = append(s.jobs, job)
		s.mu.Unlock()
		state := "JOB_STATE_PENDING"
		if s.jobServer != "" {
			state = "JOB_STATE_DONE"
			if err := s.execute(r.Context(), job); err != nil {
				s.t.Errorf("stand-in: running the staged job: %v", err)
				state = "JOB_STATE_FAILED"
			}
		}
		s.mu.Lock()
		s.state = state
		s.mu.Unlock()
		writeAPIJSON(w, &df.Job{Id: job.Id, Name: job.Name, ProjectId: m[1], Location: m[2], CurrentState: state})
	case m != nil && r.Method == http.MethodGet && m[3] != "" && m[4] == "":
		s.mu.Lock()
		state := s.state
		s.mu.Unlock()
		writeAPIJSON(w, &df.Job{Id: m[3], ProjectId: m[1], Location: m[2], CurrentState: state})
	case m != nil && r.Method == http.MethodGet && m[4] != "":
		s.mu.Lock()
		metrics := s.metrics
		s.mu.Unlock()
		writeAPIJSON(w, &df.JobMetrics{Metrics: metrics})
	default:
		s.t.Errorf("stand-in: unexpected Dataflow API call %s %s", r.Method, r.URL)
		http.NotFound(w, r)
	}
}

func writeAPIJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// object returns the content of a gs:// object in the fake GCS server.
func (s *dataflowStandIn) object(url string) ([]byte, error) {
	bucket, name, err := gcsx.ParseObject(url)
	if err != nil {
		return nil, err
	}
	obj, err := s.gcs.GetObject(bucket, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return obj.Content, nil
}

// stagedPipeline reads the pipeline proto the job names (pipelineUrl).
func (s *dataflowStandIn) stagedPipeline(job *df.Job) (*pipepb.Pipeline, error) {
	var opts struct {
		Options struct {
			PipelineURL string `json:"pipelineUrl"`
		} `json:"options"`
	}
	if err := json.Unmarshal(job.Environment.SdkPipelineOptions, &opts); err != nil {
		return nil, err
	}
	b, err := s.object(opts.Options.PipelineURL)
	if err != nil {
		return nil, err
	}
	p := &pipepb.Pipeline{}
	if err := proto.Unmarshal(b, p); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.pipelines = append(s.pipelines, p)
	s.mu.Unlock()
	return p, nil
}

// execute runs the staged pipeline as Dataflow's workers would, but with
// the Docker environment (Beam's Go container fetching the staged worker
// binary) replaced by the worker pool: the test binary is the staged
// binary, which execute checks first.
func (s *dataflowStandIn) execute(ctx context.Context, job *df.Job) error {
	p, err := s.stagedPipeline(job)
	if err != nil {
		return err
	}
	pkgs := job.Environment.WorkerPools[0].Packages
	bin, err := s.object(pkgs[0].Location)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(bin)
	self, _ := os.Executable()
	if got := hex.EncodeToString(sum[:]); got != pkgs[0].Sha256 || got != fileSHA256(s.t, self) {
		return fmt.Errorf("staged worker %s has sha256 %s; the job says %s, this binary is %s", pkgs[0].Location, got, pkgs[0].Sha256, fileSHA256(s.t, self))
	}
	cp := proto.Clone(p).(*pipepb.Pipeline)
	for id, env := range cp.GetComponents().GetEnvironments() {
		if env.GetUrn() != "beam:env:docker:v1" {
			return fmt.Errorf("environment %s is %s, want Dataflow's docker environment", id, env.GetUrn())
		}
		env.Urn = "beam:env:external:v1"
		env.Payload = protox.MustEncode(&pipepb.ExternalPayload{Endpoint: &pipepb.ApiServiceDescriptor{Url: s.pool.Addr()}})
	}
	// The pool runs this process's code: the portable runner needs no
	// binary, but Beam's submission stages one; give it a placeholder.
	placeholder := filepath.Join(s.t.TempDir(), "worker-placeholder")
	if err := os.WriteFile(placeholder, []byte("the SDK harness runs in the stand-in's worker pool\n"), 0o644); err != nil {
		return err
	}
	res, err := runnerlib.Execute(ctx, cp, s.jobServer, &runnerlib.JobOptions{Name: job.Name, Worker: placeholder}, false)
	if err != nil {
		return err
	}
	// Dataflow reports counters by step (the transform's id in the staged
	// pipeline) and namespace; the SDK maps them back to transform names.
	var updates []*df.MetricUpdate
	for _, c := range res.Metrics().AllMetrics().Counters() {
		updates = append(updates, &df.MetricUpdate{
			Name:   &df.MetricStructuredName{Name: c.Name(), Context: map[string]string{"step": c.Transform(), "namespace": c.Namespace()}},
			Scalar: c.Result(),
		})
	}
	s.mu.Lock()
	s.metrics = updates
	s.mu.Unlock()
	return nil
}

// startFakeGCS serves GCS on 127.0.0.1 for Beam's staging and bltpipe's
// gs:// paths (STORAGE_EMULATOR_HOST; the storage client then sends no
// credentials).
func startFakeGCS(t *testing.T, buckets ...string) *fakestorage.Server {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", PublicHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(srv.URL(), "http://"))
	for _, b := range buckets {
		srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: b})
	}
	return srv
}

// uploadDir copies the files of dir to gs://bucket/prefix/.
func uploadDir(t *testing.T, srv *fakestorage.Server, dir, bucket, prefix string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: prefix + "/" + filepath.Base(f)}, Content: b})
	}
	if len(files) == 0 {
		t.Fatalf("nothing to upload in %s", dir)
	}
}

// hasTransform reports whether the pipeline has a transform named name or
// one inside it (name/…).
func hasTransform(p *pipepb.Pipeline, name string) bool {
	for _, tr := range p.GetComponents().GetTransforms() {
		if u := tr.GetUniqueName(); u == name || strings.HasPrefix(u, name+"/") {
			return true
		}
	}
	return false
}

// bltpipe run --runner dataflow, without Google: Beam's Dataflow runner
// stages the worker binary (this one) and the pipeline in fake GCS and
// submits the job to a stand-in of the Dataflow API, which runs the staged
// pipeline and reports it done with its counters. The CLI then prints the
// summary and the accounting it read from the gs:// output.
func TestRunDataflowStandIn(t *testing.T) {
	keepBeamFlags(t)
	in, model := runCorpus(t)
	gcs := startFakeGCS(t, "corpus", "staging", "out")
	uploadDir(t, gcs, in, "corpus", "in")
	standIn := newDataflowStandIn(t, gcs)

	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := prism.CreateJobServer(ctx, prism.Options{Port: port}); err != nil {
		t.Fatal(err)
	}
	standIn.jobServer = fmt.Sprintf("127.0.0.1:%d", port)
	pool, err := runners.ServeWorkerPool(ctx, "127.0.0.1:0", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Stop()
	standIn.pool = pool

	code, stdout, stderr := runCLI(t, "--log-level", "warn", "run", "--input", "gs://corpus/in/*", "--output", "gs://out/run1",
		"--model", model, "--threshold", "5.52", "--batch-tokens", "200", "--progress", "0", "--runner", "dataflow", "--",
		"--project=bltpipe-test", "--region=us-central1", "--staging_location=gs://staging/stage",
		"--temp_location=gs://staging/tmp", "--dataflow_endpoint="+standIn.srv.URL+"/", "--job_name=bltpipe-standin")
	if code != 0 {
		t.Fatalf("dataflow run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var warned strings.Builder
	warnRemotePaths(&warned, "dataflow", pipelines.Options{Inputs: []string{"gs://corpus/in/*", "hf://datasets/o/n/*.parquet"}, Output: "gs://out/run1", ModelDir: model})
	if w := warned.String(); strings.Count(w, "warning") != 1 || !strings.Contains(w, model+" is a local path") {
		t.Errorf("warnings for a local --model and remote data:\n%s", w)
	}

	if len(standIn.jobs) != 1 || len(standIn.pipelines) != 1 {
		t.Fatalf("stand-in got %d jobs, %d pipelines; calls %v", len(standIn.jobs), len(standIn.pipelines), standIn.calls)
	}
	if standIn.tokens == 0 || len(standIn.badAuth) > 0 {
		t.Errorf("token requests %d; calls without the token: %v", standIn.tokens, standIn.badAuth)
	}
	job, p := standIn.jobs[0], standIn.pipelines[0]
	if job.Name != "bltpipe-standin" || job.Type != "JOB_TYPE_BATCH" || job.Environment.TempStoragePrefix != "gs://staging/tmp" {
		t.Errorf("job name %q, type %q, temp %q", job.Name, job.Type, job.Environment.TempStoragePrefix)
	}
	if !strings.Contains(strings.Join(job.Environment.Experiments, ","), "use_runner_v2") {
		t.Errorf("experiments %v lack use_runner_v2", job.Environment.Experiments)
	}
	// The staged worker: this binary, under the staging location.
	pkg := job.Environment.WorkerPools[0].Packages[0]
	self, _ := os.Executable()
	if pkg.Name != "worker" || !strings.HasPrefix(pkg.Location, "gs://staging/stage/") || pkg.Sha256 != fileSHA256(t, self) {
		t.Errorf("worker package %+v; want gs://staging/stage/…/worker with this binary's sha256", pkg)
	}
	for _, name := range []string{"Read", "Pretokenize", "Patch", "WriteShards", "Finalize"} {
		if !hasTransform(p, name) {
			t.Errorf("staged pipeline has no %s transform", name)
		}
	}
	// The job ran and the CLI read what it wrote to gs://out/run1.
	if _, err := gcs.GetObject("out", "run1/"+schemas.ManifestFile); err != nil {
		t.Errorf("no gs://out/run1/%s: %v", schemas.ManifestFile, err)
	}
	for _, want := range []string{"on dataflow", "documents", "patches", "accounting", "gs://out/run1/_MANIFEST.json"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	t.Log(stdout)
}

// GPU workers: --worker-accelerator becomes Dataflow's worker_accelerator
// service option next to the user's own, the custom image is the job's SDK
// image, and a worker binary given with --worker_binary is the one staged.
// --async returns once the job is created.
func TestRunDataflowGPUWorkersAsync(t *testing.T) {
	keepBeamFlags(t)
	in, model := runCorpus(t)
	gcs := startFakeGCS(t, "corpus", "staging", "out")
	uploadDir(t, gcs, in, "corpus", "in")
	standIn := newDataflowStandIn(t, gcs)
	worker := os.Args[0] // a linux/amd64 bltpipe: this test binary
	const image = "us-central1-docker.pkg.dev/bltpipe-test/workers/bltpipe-gpu:test"

	code, stdout, stderr := runCLI(t, "--log-level", "warn", "run", "--input", "gs://corpus/in/*", "--output", "gs://out/gpu",
		"--model", model, "--progress", "0", "--runner", "dataflow", "--worker-accelerator", "nvidia-l4:2", "--",
		"--project=bltpipe-test", "--region=us-central1", "--staging_location=gs://staging/stage",
		"--dataflow_endpoint="+standIn.srv.URL+"/", "--sdk_container_image="+image, "--worker_machine_type=g2-standard-24",
		"--dataflow_service_options=enable_prime", "--worker_binary="+worker, "--disk_size_gb=50", "--async")
	if code != 0 {
		t.Fatalf("dataflow --async: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if len(standIn.jobs) != 1 || len(standIn.pipelines) != 0 {
		t.Fatalf("stand-in got %d jobs; calls %v", len(standIn.jobs), standIn.calls)
	}
	job := standIn.jobs[0]
	if !strings.Contains(stdout, "submitted dataflow job "+job.Id) || strings.Contains(stdout, "accounting") {
		t.Errorf("--async output:\n%s", stdout)
	}
	for _, c := range standIn.calls {
		if strings.HasPrefix(c, "GET ") {
			t.Errorf("--async polled the job: %s", c)
		}
	}
	wantOpts := []string{"enable_prime", "worker_accelerator=type:nvidia-l4;count:2;install-nvidia-driver"}
	if got := job.Environment.ServiceOptions; strings.Join(got, "|") != strings.Join(wantOpts, "|") {
		t.Errorf("service options %q, want %q", got, wantOpts)
	}
	wp := job.Environment.WorkerPools[0]
	if wp.MachineType != "g2-standard-24" || wp.DiskSizeGb != 50 || wp.WorkerHarnessContainerImage != image {
		t.Errorf("worker pool: machine %q, disk %d, image %q", wp.MachineType, wp.DiskSizeGb, wp.WorkerHarnessContainerImage)
	}
	if len(wp.SdkHarnessContainerImages) != 1 || wp.SdkHarnessContainerImages[0].ContainerImage != image {
		t.Errorf("SDK images %+v, want %s", wp.SdkHarnessContainerImages, image)
	}
	bin, err := standIn.object(wp.Packages[0].Location)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(bin); hex.EncodeToString(sum[:]) != fileSHA256(t, worker) || wp.Packages[0].Sha256 != fileSHA256(t, worker) {
		t.Errorf("staged worker is not --worker_binary %s", worker)
	}
	p, err := standIn.stagedPipeline(job)
	if err != nil {
		t.Fatal(err)
	}
	for id, env := range p.GetComponents().GetEnvironments() {
		var dp pipepb.DockerPayload
		if err := proto.Unmarshal(env.GetPayload(), &dp); err != nil || dp.GetContainerImage() != image {
			t.Errorf("environment %s: image %q (%v), want %s", id, dp.GetContainerImage(), err, image)
		}
	}
}
