package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/bltpipe/bltpipe/modelio"
	"github.com/bltpipe/bltpipe/modelio/fetch"
	"github.com/bltpipe/bltpipe/modelio/patcher"
	"github.com/bltpipe/bltpipe/pipelines"
	"github.com/bltpipe/bltpipe/runners"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/patch"
	"github.com/bltpipe/bltpipe/transforms/pretokenize"
	"github.com/bltpipe/bltpipe/transforms/progress"
	"github.com/bltpipe/bltpipe/transforms/read"
	"github.com/bltpipe/bltpipe/transforms/record"
	"github.com/bltpipe/bltpipe/transforms/waterfill/alloc"
	"github.com/bltpipe/bltpipe/transforms/write"
)

func init() {
	register(command{
		name:    "run",
		summary: "run the corpus pipeline: read → pretokenize → patch → embed → waterfill-prep → write",
		run:     runRun,
	})
	// A containerised runner (Dataflow, Flink with Docker) starts this
	// binary as its SDK worker: `bltpipe --worker --id=… --control_endpoint=…`.
	// Hand such a process to Beam's harness, which serves and exits.
	if len(os.Args) > 1 && (os.Args[1] == "--worker" || strings.HasPrefix(os.Args[1], "--worker=")) {
		flag.Parse()
		beam.Init()
	}
}

const runUsage = `Usage: bltpipe run --input GLOB[,GLOB…] --output DIR [flags] [-- BEAM FLAGS]

Reads a corpus, scores every byte with the entropy model once, cuts BLT
patches, pools patch embeddings and writes (under DIR, local or gs://):
  documents/part-*.parquet     one row per document (entropies, prominence, patch_lengths)
  patches/part-*.parquet       one row per patch (byte range, summaries, embedding)
  hypergraph/part-*.hypergraph.db  SQLite sidecar per shard
  blt/NAME.shard_K.arrow       Meta's preprocessed-entropies layout (--blt-arrow NAME)
  waterfill/_STATS.json        corpus prominence statistics
  _MANIFEST.json               written last: shards, row counts, sha256, model, parameters
See docs/SCHEMA.md. Reruns into the same DIR rewrite the same files.

Resuming: a run that was killed or failed, rerun with the same arguments,
skips the input splits it had finished (a record per finished split in
DIR/_splits/; the input file and the configuration must be unchanged),
does the rest and ends with the files of an uninterrupted run. This is the
default (--resume); --overwrite (= --resume=false) redoes every split.

Inputs: files, directories (all files below) or globs, local or gs://, or
hf://datasets/ORG/NAME[@REV]/GLOB (Hugging Face Hub; files are cached in
~/.cache/huggingface/hub like huggingface_hub does; HF_TOKEN for private or
gated datasets).
*.jsonl/*.ndjson/*.json (optionally .gz/.zst) are JSON lines; *.parquet is
read by row group (FineWeb-Edu schema works as is); anything else is one
document per file.

--model defaults to models/default, looked up in the current directory, then
next to the executable and its parent directory (bin/bltpipe → repo root).
--model none runs no model: documents are cut by --patching static, byte or
space, and the entropy and prominence columns are null (the CPU-only mode).
It may be gs://BUCKET/DIR or hf://ORG/NAME[@REV]: every worker downloads it
once into a cache and checks each file's size and hash.

Runners: prism (default, in this process), direct (= prism), universal and
flink (portable job service at --endpoint), dataflow. Beam's own flags go
after "--", e.g. -- --environment_type=LOOPBACK or -- --project=P --region=R.
Remote workers run this binary (when it is a linux/amd64 build) or
-- --worker_binary=PATH; -- --environment_type=EXTERNAL
--environment_config=HOST:PORT uses a pool started by bltpipe worker-pool.
-- --async submits and exits. See docs/SCALE.md.

Examples:
  bltpipe run --input 'data/*.jsonl.zst' --output out/
  bltpipe run --input data/fineweb --output gs://bucket/run1 --keep-columns url,score
  bltpipe run --input docs/ --output out --patching static --patch-size 4 --embeddings none
  bltpipe run --input docs/ --output out --model none --patching space
  bltpipe run --input x.jsonl --output out --runner universal --endpoint localhost:8099 -- --environment_type=LOOPBACK
  bltpipe run --input gs://b/in --output gs://b/out --runner flink --endpoint localhost:8099 -- --environment_type=EXTERNAL --environment_config=localhost:50000
  bltpipe run --input gs://b/in --output gs://b/out --runner dataflow --worker-accelerator nvidia-l4:1 -- \
      --project=P --region=us-central1 --staging_location=gs://b/staging --temp_location=gs://b/tmp \
      --worker_machine_type=g2-standard-8 --sdk_container_image=IMAGE --worker_binary=bin/bltpipe-xla
`

// runFlags are the parsed flags of bltpipe run.
type runFlags struct {
	opts       pipelines.Options
	runner     runners.Config
	progress   time.Duration
	cpuProfile string
	// blockProfile is where goroutines waited (channels, locks, I/O): what
	// keeps a stage from being fed.
	blockProfile string
}

func parseRunFlags(args []string, stdout io.Writer) (runFlags, error) {
	var rf runFlags
	ourArgs, beamArgs := args, []string(nil)
	for i, a := range args {
		if a == "--" {
			ourArgs, beamArgs = args[:i], args[i+1:]
			break
		}
	}
	fs := newFlagSet("run", runUsage, stdout)
	var inputs []string
	fs.Func("input", "input `GLOB[,GLOB…]` (repeatable): files, directories or globs, local, gs:// or hf://datasets/…", func(v string) error {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				inputs = append(inputs, p)
			}
		}
		return nil
	})
	output := fs.String("output", "", "output `DIR`, local or gs:// (required)")
	model := fs.String("model", "", "model `DIR` (default: models/default, see above), or none: no model pass (static, byte or space patching; no entropies, prominence, embeddings or water-filling)")
	runner := fs.String("runner", "prism", "`runner`: "+strings.Join(runners.Names, ", "))
	endpoint := fs.String("endpoint", "", "job service `HOST:PORT` (universal, flink)")
	accelerator := fs.String("worker-accelerator", "", "GPUs on every Dataflow worker, `TYPE[:COUNT]` (e.g. nvidia-l4:1); needs -- --sdk_container_image")
	mode := fs.String("patching", string(patcher.ModeEntropy), "patching `mode`: entropy, static, byte or space")
	threshold := fs.Float64("threshold", patcher.DefaultThreshold, "entropy threshold in `nats` (default: the model's calibrated threshold if any, else Meta's)")
	monotonic := fs.Bool("monotonic", false, "compare entropy differences with --threshold (entropy mode)")
	thresholdAdd := fs.Float64("threshold-add", 0, "also require the entropy to rise by more than `A` nats (entropy mode)")
	patchSize := fs.Int("patch-size", 0, "patch length in tokens (static mode; default 4)")
	maxLen := fs.Int("max-patch-length", 0, "split patches longer than `N` tokens (0: no limit)")
	embeddings := fs.String("embeddings", "patch", "`kind` of embeddings: patch (mean pre-norm state per patch) or none")
	bltArrow := fs.String("blt-arrow", "", "also write blt/`NAME`.shard_K.arrow for Meta's BLT trainer")
	batch := fs.Int("batch-tokens", 0, "tokens per forward call (default 4096 on CPU, 65536 on GPUs); on GPUs documents are batched up to 8 calls' worth per stream, so that streams stay full")
	devices := fs.Int("devices", 0, "GPUs per worker that get a model replica (0: all visible)")
	idField := fs.String("id-field", "", "id `field` (default: sample_id, title, qid, paper_id, path, url, id — first present)")
	textField := fs.String("text-field", "", "text `field` (default: text, then content)")
	keep := fs.String("keep-columns", "", "comma-separated metadata `columns` to carry into documents/")
	segmenter := fs.String("segmenter", "", "pretokenize `segmenter` (default: modality detector if built in, else basic)")
	backend := fs.String("backend", "", "GoMLX `backend` (default: $GOMLX_BACKEND or simplego)")
	dtype := fs.String("dtype", "", "compute `dtype`: f32, bf16 or f16 (GPU only) (default: backend's)")
	splitMB := fs.Int64("jsonl-split-mb", 64, "size of a JSONL input split in `MiB` (uncompressed files)")
	rgPerSplit := fs.Int64("row-groups-per-split", 1, "Parquet row groups per input split")
	resume := fs.Bool("resume", true, "skip input splits an earlier run into --output finished with the same configuration and input")
	overwrite := fs.Bool("overwrite", false, "redo every input split, reusing nothing an earlier run finished (same as --resume=false)")
	fs.DurationVar(&rf.progress, "progress", 10*time.Second, "progress line `interval` on prism (0 disables)")
	fs.StringVar(&rf.cpuProfile, "cpuprofile", "", "write a Go CPU profile of this process to `FILE` (go tool pprof reads it; on prism it covers the workers)")
	fs.StringVar(&rf.blockProfile, "blockprofile", "", "write a Go blocking profile to `FILE`: where goroutines waited on channels and locks (go tool pprof reads it)")
	lim := addLimitFlags(fs)
	mod := addModalityFlags(fs)
	wf := addWaterfillFlags(fs)
	if err := fs.Parse(ourArgs); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return rf, flagHelp
		}
		return rf, usageErrorf("%v", err)
	}
	if fs.NArg() > 0 {
		return rf, usageErrorf("unexpected arguments %v (Beam flags go after --)", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["resume"] && *resume && *overwrite {
		return rf, usageErrorf("--resume and --overwrite contradict each other")
	}

	o := pipelines.Options{
		Inputs: inputs, Output: *output, BLTArrow: *bltArrow, BatchTokens: *batch,
		IDField: *idField, TextField: *textField, Segmenter: *segmenter, Backend: *backend, DType: *dtype,
		JSONLSplitBytes: *splitMB << 20, RowGroupsPerSplit: *rgPerSplit, Version: version(),
		Overwrite: *overwrite || !*resume,
	}
	if *keep != "" {
		for _, k := range strings.Split(*keep, ",") {
			o.Keep = append(o.Keep, strings.TrimSpace(k))
		}
	}
	dir, err := resolveModel(*model)
	if err != nil {
		return rf, usageErrorf("%v", err)
	}
	o.ModelDir = dir
	noModel := dir == patch.NoModel
	if noModel && !set["embeddings"] {
		*embeddings = "none" // the default, patch, needs the model
	}
	switch *embeddings {
	case "patch":
		o.Embeddings = true
	case "none":
	default:
		return rf, usageErrorf("--embeddings %q: want patch or none", *embeddings)
	}
	if *batch < 0 || *devices < 0 {
		return rf, usageErrorf("--batch-tokens and --devices must be ≥ 0")
	}
	o.Devices = *devices
	if *splitMB < 1 || *rgPerSplit < 1 {
		return rf, usageErrorf("--jsonl-split-mb and --row-groups-per-split must be ≥ 1")
	}

	p := patcher.Options{Mode: patcher.Mode(*mode), Threshold: *threshold, Monotonic: *monotonic, PatchSize: *patchSize, MaxPatchLength: *maxLen}
	if set["threshold-add"] {
		p.ThresholdAdd = thresholdAdd
	}
	if p.Mode == patcher.ModeStatic && !set["patch-size"] {
		p.PatchSize = 4
	}
	if p.Mode == patcher.ModeEntropy && !set["threshold"] && !noModel {
		if cfg, err := modelio.LoadConfig(localModel(dir)); err == nil && cfg.Patching != nil && cfg.Patching.Threshold > 0 {
			p.Threshold = cfg.Patching.Threshold
		}
	}
	o.Patcher = p
	if o.Limits, o.MaxRejects, err = lim.resolve(); err != nil {
		return rf, usageErrorf("%v", err)
	}
	if o.Limits.SegmenterOptions, err = mod.apply(o.Segmenter, o.Limits.SegmenterOptions); err != nil {
		return rf, usageErrorf("%v", err)
	}
	o.SegmentStartsPatch = *mod.segmentStartsPatch
	if o.Waterfill, err = wf.config(); err != nil {
		return rf, err
	}
	if noModel && !set["waterfill"] {
		o.Waterfill.Method = alloc.MethodNone // the default, rank, needs prominence
	}
	if err := o.Validate(); err != nil {
		return rf, usageErrorf("%v", err)
	}
	if _, _, err := pretokenize.Lookup(o.Segmenter); err != nil {
		return rf, usageErrorf("%v", err)
	}
	rf.opts = o
	rf.runner = runners.Config{Runner: *runner, Endpoint: *endpoint, BeamArgs: beamArgs, WorkerAccelerator: *accelerator}
	return rf, nil
}

// resolveModel returns the model directory: the flag if given (it must
// exist), else models/default in the working directory, next to the
// executable, or in the executable's parent directory.
func resolveModel(flagValue string) (string, error) {
	if fetch.IsRemote(flagValue) {
		// Fetched (and verified) here so a bad URI fails now; workers
		// fetch it again from the URI, which the manifest records.
		_, err := fetchModel(flagValue)
		return flagValue, err
	}
	if flagValue == patch.NoModel {
		return flagValue, nil
	}
	if flagValue != "" {
		if st, err := os.Stat(flagValue); err != nil || !st.IsDir() {
			return "", fmt.Errorf("--model %s: not a directory", flagValue)
		}
		return flagValue, nil
	}
	const def = "models/default"
	candidates := []string{def}
	if exe, err := os.Executable(); err == nil {
		d := filepath.Dir(exe)
		candidates = append(candidates, filepath.Join(d, def), filepath.Join(d, "..", def))
	}
	for _, c := range candidates {
		if _, err := os.Stat(filepath.Join(c, modelio.WeightsFile)); err == nil {
			if abs, err := filepath.Abs(c); err == nil {
				return abs, nil
			}
			return c, nil
		}
	}
	return "", fmt.Errorf("no model given and %s not found (looked in %s); pass --model DIR", def, strings.Join(candidates, ", "))
}

func runRun(args []string, stdout io.Writer) error {
	rf, err := parseRunFlags(args, stdout)
	if err != nil {
		return err
	}
	return executeRun(context.Background(), rf, stdout, os.Stderr)
}

func executeRun(ctx context.Context, rf runFlags, stdout, stderr io.Writer) error {
	stop, err := startProfiles(rf.cpuProfile, rf.blockProfile, stderr)
	if err != nil {
		return err
	}
	defer stop()
	rc := rf.runner
	rc.Log = stderr
	rc.ProgressEvery = rf.progress
	if rf.progress == 0 {
		rc.ProgressEvery = -1
	}
	rc, err = runners.Prepare(rc)
	if err != nil {
		return usageErrorf("%v", err)
	}
	warnRemotePaths(stderr, rc.Runner, rf.opts)
	planProgress(ctx, rf.opts)
	resumedBase := progress.Resumed.Load()
	start := time.Now()
	p, s := beam.NewPipelineWithRoot()
	if _, err := pipelines.Build(s, rf.opts); err != nil {
		return usageErrorf("%v", err)
	}
	pr, err := runners.Run(ctx, p, rc)
	if err != nil {
		if why := manifestFailure(ctx, rf.opts.Output); why != "" {
			return fmt.Errorf("run failed: %s", why)
		}
		return fmt.Errorf("pipeline failed: %w", err)
	}
	if runners.Detached() {
		printDetached(stdout, rc.Runner, pr, rf.opts.Output)
		return nil
	}
	fmt.Fprintf(stdout, "bltpipe run: done in %s on %s\n", time.Since(start).Round(time.Millisecond), rc.Runner)
	counters := runners.Counters(pr)
	if len(counters) == 0 && (rc.Runner == "prism" || rc.Runner == "direct") {
		fmt.Fprintf(stdout, "  (no metrics from the runner; in-process counts: %s)\n", progress.Line())
	}
	io.WriteString(stdout, runners.Summary(counters))
	resumed, ok := counters["splits_resumed"]
	if !ok {
		resumed = progress.Resumed.Load() - resumedBase
	}
	if resumed > 0 {
		of := ""
		if n := progress.PlannedSplits.Load(); n > 0 {
			of = fmt.Sprintf(" of %d", n)
		}
		fmt.Fprintf(stderr, "bltpipe: resume: %d%s splits already finished by an earlier run, skipped (--overwrite redoes them)\n", resumed, of)
	}
	if err := printAccounting(ctx, stdout, rf.opts.Output); err != nil {
		return err
	}
	if err := writeTiming(ctx, rf.opts.Output, rc.Runner, start, counters); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "output:   %s\nmanifest: %s\n", rf.opts.Output, strings.TrimSuffix(rf.opts.Output, "/")+"/_MANIFEST.json")
	return nil
}

// writeTiming records the run's wall time and throughput in _TIMING.json,
// from the runner's counters, or the in-process ones when the runner
// reported none.
// startProfiles starts the CPU profile (cpu) and the blocking profile
// (block) asked for ("" for none). stop writes them; an interrupted run
// (SIGINT, SIGTERM) writes them too, then exits.
func startProfiles(cpu, block string, stderr io.Writer) (stop func(), err error) {
	var files []*os.File
	create := func(flag, path string) (*os.File, error) {
		f, err := os.Create(path)
		if err != nil {
			return nil, usageErrorf("--%s: %v", flag, err)
		}
		files = append(files, f)
		return f, nil
	}
	var cpuFile, blockFile *os.File
	if cpu != "" {
		if cpuFile, err = create("cpuprofile", cpu); err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(cpuFile); err != nil {
			cpuFile.Close()
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
	}
	if block != "" {
		if blockFile, err = create("blockprofile", block); err != nil {
			pprof.StopCPUProfile()
			for _, f := range files {
				f.Close()
			}
			return nil, err
		}
		// One sample per 10 µs spent blocked: cheap, and every wait that
		// matters to throughput is far longer.
		runtime.SetBlockProfileRate(10_000)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			if cpuFile != nil {
				pprof.StopCPUProfile()
			}
			if blockFile != nil {
				if err := pprof.Lookup("block").WriteTo(blockFile, 0); err != nil {
					fmt.Fprintf(stderr, "bltpipe: --blockprofile: %v\n", err)
				}
				runtime.SetBlockProfileRate(0)
			}
			for _, f := range files {
				f.Close()
			}
		})
	}
	if len(files) > 0 {
		// An interrupted run still leaves readable profiles.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		go func() {
			if s, ok := <-sig; ok {
				stop()
				fmt.Fprintf(stderr, "bltpipe: %v: profiles written\n", s)
				os.Exit(exitFailure)
			}
		}()
		inner := stop
		stop = func() { signal.Stop(sig); inner() }
	}
	return stop, nil
}

func writeTiming(ctx context.Context, output, runner string, start time.Time, counters map[string]int64) error {
	end := time.Now()
	t := write.Timing{
		Runner: runner, Started: start.UTC().Format(time.RFC3339), Finished: end.UTC().Format(time.RFC3339),
		WallSeconds: end.Sub(start).Seconds(),
		Documents:   counters["documents"], Bytes: counters["bytes"], Tokens: counters["tokens"], Patches: counters["patches"],
	}
	if len(counters) == 0 {
		t.Documents, t.Bytes, t.Tokens, t.Patches = progress.Scored.Load(), progress.Bytes.Load(), progress.Tokens.Load(), progress.Patches.Load()
	}
	return write.WriteTiming(ctx, output, t)
}

// planProgress gives the progress bar the size of the work: the input
// splits as the read stage will plan them, and the bytes of their files.
// A planning error is left for the pipeline to report.
func planProgress(ctx context.Context, o pipelines.Options) {
	splits, err := read.Plan(ctx, o.Inputs, read.Options{JSONLSplitBytes: o.JSONLSplitBytes, RowGroupsPerSplit: o.RowGroupsPerSplit})
	if err != nil {
		return
	}
	sizes := map[string]int64{}
	text := true
	for _, sp := range splits {
		if _, ok := sizes[sp.Path]; !ok {
			n, err := fsio.Size(ctx, sp.Path)
			if err != nil {
				return
			}
			sizes[sp.Path] = n
		}
		text = text && sp.Compression == "" && sp.Format != record.FormatParquet
	}
	var total int64
	for _, n := range sizes {
		total += n
	}
	progress.PlannedSplits.Store(int64(len(splits)))
	progress.PlannedBytes.Store(total)
	progress.PlannedText.Store(text)
}
