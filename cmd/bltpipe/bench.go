package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/bltpipe/bltpipe/modelio"
	"github.com/bltpipe/bltpipe/modelio/patcher"
)

func init() {
	register(command{name: "bench model", summary: "measure the model's forward throughput (tokens/s, TFLOP/s)", run: runBenchModel})
}

const benchModelUsage = `Usage: bltpipe bench model [--size real|default|DIMxLAYERS] [--model DIR] [--batch-tokens N] [--seq-len S] [--seconds T]

Runs the entropy model's forward pass (entropies and prominence; with
--pool N also patch embeddings of N-token patches, pooled on the device as
--embeddings patch does) over random documents of --seq-len tokens, for about
--seconds after a warm-up, and prints tokens/s, achieved TFLOP/s and the share
of --peak-tflops. Random weights unless --model is given.

Sizes: real = facebook/blt-entropy (dim 768, 14 layers, 12 heads, FFN 2048,
window 512, vocab 260); default = the shipped models/default config;
DIMxLAYERS = e.g. 256x4 (heads = dim/64, window 512).

Examples:
  bltpipe bench model --size 256x4 --seconds 10
  GOMLX_BACKEND=xla:/path/xla_cuda_plugin.so bltpipe bench model --size real --batch-tokens 65536 --seq-len 8192
`

// benchResult is one line of --json output.
type benchResult struct {
	Backend      string  `json:"backend"`
	DType        string  `json:"dtype"`
	Size         string  `json:"size"`
	Params       int     `json:"params"`
	SeqLen       int     `json:"seq_len"`
	Ragged       bool    `json:"ragged,omitempty"` // documents of random lengths up to SeqLen (--ragged)
	BatchTokens  int     `json:"batch_tokens"`
	ChunkLen     int     `json:"chunk_len"`
	Tokens       int     `json:"tokens"`
	Seconds      float64 `json:"seconds"`
	WarmSeconds  float64 `json:"warmup_seconds"` // the first calls: compiling the graphs, weights to the devices
	TokensPerSec float64 `json:"tokens_per_s"`
	DenseGFLOP   float64 `json:"dense_gflop_per_token"`
	TFLOPs       float64 `json:"tflop_per_s"`
	PctOfPeak    float64 `json:"pct_of_peak"`
	Window       int     `json:"window"`
	Graphs       int     `json:"graphs"`
	Devices      int     `json:"devices"`        // replicas scoring concurrently; PctOfPeak is of all of them
	Pool         int     `json:"pool,omitempty"` // patch length pooled on the device (--pool), 0: none
	// Utilization is real tokens / token slots computed (rows × chunk of
	// every forward call): below 1, the device also computed padding.
	Utilization float64 `json:"utilization"`
}

func runBenchModel(args []string, stdout io.Writer) error {
	fs := newFlagSet("bench model", benchModelUsage, stdout)
	size := fs.String("size", "real", "model `size`: real, default, or DIMxLAYERS")
	modelDir := fs.String("model", "", "benchmark this model `directory` instead of random weights")
	batchTokens := fs.Int("batch-tokens", 16384, "tokens per forward call (streams × chunk)")
	chunkLen := fs.Int("chunk-len", 2048, "longest chunk per stream per call")
	seqLen := fs.Int("seq-len", 8192, "tokens per document")
	seconds := fs.Float64("seconds", 20, "measure for about `T` seconds after warm-up")
	backend := fs.String("backend", "", "GoMLX backend (default $GOMLX_BACKEND, else simplego)")
	dtype := fs.String("dtype", "", "compute dtype: f32, bf16 or f16 (GPU only) (default f32 on CPU, f16 on GPU)")
	peak := fs.Float64("peak-tflops", 790, "dense bf16 peak of the device in TFLOP/s, for the percentage")
	asJSON := fs.Bool("json", false, "print one JSON object")
	window := fs.Int("window", 0, "override the sliding window (keys per query; 0: the model's)")
	pool := fs.Int("pool", 0, "also pool patch embeddings of `N`-token patches on the device and copy them out, as --embeddings patch does (0: off)")
	ragged := fs.Bool("ragged", false, "documents of random lengths between seq-len/8 and seq-len (like a web corpus) instead of all seq-len")
	queryBlock := fs.Int("query-block", 0, "attention query block (0: the smallest power of two ≥ window−1)")
	devices := fs.Int("devices", 1, "model replicas, one per device (GPU), scoring concurrently; 0: all devices")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *pool < 0 {
		return usageErrorf("--pool %d: want a patch length ≥ 1, or 0 for no pooling", *pool)
	}
	var w *modelio.Weights
	if *modelDir != "" {
		local, err := fetchModel(*modelDir)
		if err != nil {
			return err
		}
		if w, err = modelio.LoadModel(local); err != nil {
			return usageErrorf("%v", err)
		}
		*size = *modelDir
	} else {
		cfg, err := benchConfig(*size)
		if err != nil {
			return err
		}
		w = modelio.RandomWeights(cfg, 1)
	}
	if *window > 0 {
		w.Config.SlidingWindow = *window
	}
	s, err := modelio.NewScorer(w, modelio.ScorerOptions{Backend: *backend, DType: *dtype, BatchTokens: *batchTokens, ChunkLen: *chunkLen, Devices: *devices, QueryBlock: *queryBlock})
	if err != nil {
		return usageErrorf("%v", err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	// One Score call gets the tokens the Scorer asks for (several chunks per
	// stream of the largest bucket) and at least one document per stream:
	// a call with fewer documents than streams would measure padding.
	docs := make([][]int32, max(1, s.ScoreTokens() / *seqLen, *batchTokens / *chunkLen))
	for i := range docs {
		n := *seqLen
		if *ragged {
			n = max(2, *seqLen/8+r.IntN(*seqLen-*seqLen/8+1))
		}
		d := make([]int32, n)
		for j := range d {
			d[j] = int32(4 + r.IntN(256))
		}
		d[0], d[len(d)-1] = 1, 2
		docs[i] = d
	}
	var cut modelio.Cut
	if *pool > 0 {
		c := patcher.Options{Mode: patcher.ModeStatic, PatchSize: *pool}
		cut = func(i int, ent []float32) ([]int32, error) { return patcher.Patch(docs[i], ent, c) }
	}
	perCall := 0
	for _, d := range docs {
		perCall += len(d)
	}
	// One goroutine per replica (two with --pool: as in the pipeline, a
	// call pools its patches while the next one runs the model); the
	// warm-up compiles the graphs and puts the weights on every device.
	n := s.Devices()
	workers := n
	if *pool > 0 {
		workers = 2 * n
	}
	loop := func(d time.Duration) (int, error) {
		var wg sync.WaitGroup
		counts, errs := make([]int, workers), make([]error, workers)
		start := time.Now()
		for i := range workers {
			wg.Go(func() {
				for errs[i] == nil && (time.Since(start) < d || counts[i] == 0) {
					_, errs[i] = s.Score(docs, cut)
					counts[i] += perCall
				}
			})
		}
		wg.Wait()
		total := 0
		for _, c := range counts {
			total += c
		}
		return total, errors.Join(errs...)
	}
	warm := time.Now()
	if _, err := loop(0); err != nil {
		return err
	}
	warmSeconds := time.Since(warm).Seconds()
	start := time.Now()
	tokens, err := loop(time.Duration(*seconds * float64(time.Second)))
	if err != nil {
		return err
	}
	el := time.Since(start).Seconds()
	cfg := w.Config
	dense := 2 * float64(cfg.NumParams()-cfg.VocabSize*cfg.Dim) / 1e9 // the embedding lookup is no matmul
	res := benchResult{
		Backend: s.Backend(), DType: s.DType(), Size: *size, Params: cfg.NumParams(), SeqLen: *seqLen,
		BatchTokens: *batchTokens, ChunkLen: *chunkLen, Tokens: tokens, Seconds: el,
		WarmSeconds: warmSeconds, TokensPerSec: float64(tokens) / el, DenseGFLOP: dense, Window: cfg.SlidingWindow, Graphs: s.CompiledGraphs(),
		Devices: n, Pool: *pool, Ragged: *ragged,
	}
	if tok, slots := s.Utilization(); slots > 0 {
		res.Utilization = float64(tok) / float64(slots)
	}
	res.TFLOPs = res.TokensPerSec * dense / 1e3
	res.PctOfPeak = 100 * res.TFLOPs / (*peak * float64(n))
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "%s %s ×%d devices  size %s (%d params)  seq %d  batch %d tokens  chunk %d  pool %d\n",
		res.Backend, res.DType, res.Devices, res.Size, res.Params, res.SeqLen, res.BatchTokens, res.ChunkLen, res.Pool)
	fmt.Fprintf(stdout, "%.0f tokens/s  %.2f TFLOP/s dense (%.4f GFLOP/token)  %.1f%% of %.0f TFLOP/s  (%d tokens in %.1fs, %d graphs, %.0f%% of slots real; warm-up %.1fs)\n",
		res.TokensPerSec, res.TFLOPs, dense, res.PctOfPeak, *peak, tokens, el, res.Graphs, 100*res.Utilization, res.WarmSeconds)
	return nil
}

// benchConfig returns the model config for a --size value.
func benchConfig(size string) (modelio.Config, error) {
	base := modelio.Config{VocabSize: 260, MultipleOf: 256, FFNDimMultiplier: 1, NormEps: 1e-5, RopeTheta: 10000, SlidingWindow: 512, MaxSeqLen: 8192}
	switch size {
	case "real":
		base.Dim, base.NLayers, base.NHeads = 768, 14, 12
		return base, nil
	case "default":
		dir, err := resolveModelDir("")
		if err != nil {
			return base, err
		}
		return modelio.LoadConfig(dir)
	}
	var dim, layers int
	if n, err := fmt.Sscanf(size, "%dx%d", &dim, &layers); n != 2 || err != nil || dim < 64 || layers < 1 {
		return base, usageErrorf("--size %q: want real, default or DIMxLAYERS (dim ≥ 64), e.g. 256x4", size)
	}
	base.Dim, base.NLayers, base.NHeads, base.MultipleOf = dim, layers, max(1, dim/64), 64
	return base, base.Validate()
}
