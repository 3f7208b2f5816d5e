package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bltpipe/bltpipe/modelio"
	"github.com/bltpipe/bltpipe/modelio/train"
)

func init() {
	register(command{name: "train", summary: "train an entropy model (next-byte LM) on a corpus", run: runTrain})
}

const trainUsage = `Usage: bltpipe train --corpus GLOB --out DIR [model and optimiser flags]

Trains a BLT entropy model from scratch: next-byte prediction with the
architecture bltpipe scores with, on documents packed as inference packs them
([BOS, bytes…, EOS], attention within a document and the sliding window).
AdamW with linear warmup and cosine decay, gradient clipping at global norm
--clip. Writes DIR/config.json and DIR/model.safetensors (what score and the
pipeline load), DIR/training.json (options and final numbers) and a
checkpoint (weights and optimiser state) every --checkpoint-every steps;
--resume continues from it bit for bit. --export writes the model held by
the checkpoint (e.g. of a run cut short) to DIR without training, and
evaluates it on the --eval sets.

Corpus files: *.jsonl[.gz|.zst] hold one {"text": …} document per line; any
other file is one document (.gz/.zst decompressed).

Examples:
  bltpipe train --corpus 'data/*.jsonl.zst' --out models/mine --steps 3000
  bltpipe train --corpus corpus.jsonl.zst --eval prose=prose.jsonl.zst --out m \
      --backend xla:/path/xla_cuda_plugin.so --batch 64 --steps 20000
`

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// trainSummary is DIR/training.json.
type trainSummary struct {
	Args          []string           `json:"args"`
	Corpus        []string           `json:"corpus"`
	Documents     int                `json:"documents"`
	Params        int                `json:"params"`
	Steps         int                `json:"steps"`
	Batch         int                `json:"batch"`
	SeqLen        int                `json:"seq_len"`
	Seed          uint64             `json:"seed"`
	Hyper         train.Hyper        `json:"hyper"`
	Backend       string             `json:"backend"`
	DType         string             `json:"dtype"`
	WallSeconds   float64            `json:"train_wall_seconds"`
	TokensPerSec  float64            `json:"tokens_per_second"`
	FinalLoss     float64            `json:"final_loss_nats"`
	Eval          []train.EvalResult `json:"eval"`
	SavedAs       string             `json:"saved_dtype"`
	FinishedAtUTC string             `json:"finished_at_utc"`
}

// exportSummary is DIR/export.json.
type exportSummary struct {
	Args          []string           `json:"args"`
	Checkpoint    string             `json:"checkpoint"`
	Step          int                `json:"step"` // steps the checkpoint had completed
	Params        int                `json:"params"`
	SavedAs       string             `json:"saved_dtype"`
	EvalSeqLen    int                `json:"eval_seq_len"`
	EvalBatch     int                `json:"eval_batch"`
	EvalBatches   int                `json:"eval_batches,omitempty"` // cap per set; 0: whole sets
	Backend       string             `json:"backend"`
	DType         string             `json:"dtype"`
	Eval          []train.EvalResult `json:"eval"` // of the saved weights
	FinishedAtUTC string             `json:"finished_at_utc"`
}

func runTrain(args []string, stdout io.Writer) error {
	fs := newFlagSet("train", trainUsage, stdout)
	var corpus, evals stringList
	fs.Var(&corpus, "corpus", "training corpus `glob` (repeatable)")
	fs.Var(&evals, "eval", "extra held-out set `NAME=GLOB` (repeatable), never trained on")
	out := fs.String("out", "", "output model `directory`")
	dim := fs.Int("dim", 160, "model width")
	layers := fs.Int("layers", 3, "transformer layers")
	heads := fs.Int("heads", 4, "attention heads")
	kvHeads := fs.Int("kv-heads", 0, "key/value heads (0: same as --heads)")
	window := fs.Int("window", 128, "sliding attention window in tokens (keys a query sees, itself included)")
	multipleOf := fs.Int("multiple-of", 64, "FFN width rounding")
	seqLen := fs.Int("seq-len", 512, "tokens per training row")
	batch := fs.Int("batch", 32, "rows per step")
	steps := fs.Int("steps", 2000, "training steps")
	h := train.DefaultHyper()
	fs.Float64Var(&h.LR, "lr", h.LR, "peak learning rate")
	fs.IntVar(&h.Warmup, "warmup", h.Warmup, "linear warmup `steps`")
	fs.Float64Var(&h.MinLRFrac, "min-lr-frac", h.MinLRFrac, "final learning rate as a fraction of --lr (cosine decay)")
	fs.Float64Var(&h.WeightDecay, "weight-decay", h.WeightDecay, "AdamW decoupled weight decay (not on norms or embeddings)")
	fs.Float64Var(&h.ClipNorm, "clip", h.ClipNorm, "clip gradients to this global norm (0: off)")
	seed := fs.Uint64("seed", 1, "seed of the initial weights, data order and held-out split")
	holdout := fs.Float64("holdout-frac", 0.01, "fraction of corpus documents held out as the \"valid\" set")
	resume := fs.Bool("resume", false, "continue from the checkpoint if it exists (same flags required)")
	checkpoint := fs.String("checkpoint", "", "checkpoint `file` (default DIR/checkpoint.safetensors)")
	backend := fs.String("backend", "", "GoMLX backend: simplego, or xla:/abs/path/plugin.so (default $GOMLX_BACKEND, else simplego)")
	dtype := fs.String("dtype", "", "matmul dtype: f32 or bf16 (default f32 on CPU, bf16 on GPU)")
	evalEvery := fs.Int("eval-every", 0, "evaluate every `N` steps (0: at the end only)")
	evalBatches := fs.Int("eval-batches", 0, "at most `N` batches per held-out set (0: all)")
	ckptEvery := fs.Int("checkpoint-every", 500, "checkpoint every `N` steps (and at the end)")
	logEvery := fs.Int("log-every", 50, "print the loss every `N` steps")
	stopAfter := fs.Int("stop-after", 0, "stop after `N` steps as if interrupted (checkpoint written; resume later)")
	saveDType := fs.String("save-dtype", "BF16", "dtype of model.safetensors: F32 or BF16")
	export := fs.Bool("export", false, "write the checkpoint's model to --out and evaluate it on --eval sets; no training")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *export {
		if *out == "" || *checkpoint == "" {
			return usageErrorf("--export needs --checkpoint and --out")
		}
		return exportCheckpoint(stdout, args, *checkpoint, *out, *saveDType, evals, train.Options{
			SeqLen: *seqLen, Batch: *batch, Backend: *backend, DType: *dtype, EvalBatches: *evalBatches})
	}
	if len(corpus) == 0 || *out == "" {
		return usageErrorf("--corpus and --out are required (see bltpipe train --help)")
	}
	if *saveDType != "F32" && *saveDType != "BF16" {
		return usageErrorf("--save-dtype must be F32 or BF16, got %q", *saveDType)
	}
	cfg := modelio.Config{Dim: *dim, NLayers: *layers, NHeads: *heads, NKVHeads: *kvHeads, MultipleOf: *multipleOf,
		SlidingWindow: *window, MaxSeqLen: *seqLen}
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return usageErrorf("model: %v", err)
	}
	docs, err := train.ReadCorpus(corpus)
	if err != nil {
		return usageErrorf("%v", err)
	}
	trainDocs, valid := train.SplitHoldout(docs, *holdout, *seed)
	var sets []train.EvalSet
	if len(valid) > 0 {
		sets = append(sets, train.EvalSet{Name: "valid", Docs: valid})
	}
	extra, err := readEvalSets(evals)
	if err != nil {
		return err
	}
	sets = append(sets, extra...)
	ckpt := *checkpoint
	if ckpt == "" {
		ckpt = filepath.Join(*out, "checkpoint.safetensors")
	}
	if err := os.MkdirAll(filepath.Dir(ckpt), 0o755); err != nil {
		return err
	}
	o := train.Options{Config: cfg, Hyper: h, SeqLen: *seqLen, Batch: *batch, Steps: *steps, Seed: *seed,
		Backend: *backend, DType: *dtype, LogEvery: *logEvery, EvalEvery: *evalEvery, EvalBatches: *evalBatches,
		CheckpointEvery: *ckptEvery, Checkpoint: ckpt, Resume: *resume, StopAfter: *stopAfter, Log: stdout}
	if err := o.Config.Validate(); err != nil {
		return usageErrorf("%v", err)
	}
	res, err := train.Run(o, trainDocs, sets)
	if err != nil {
		return err
	}
	if res.Stopped {
		fmt.Fprintf(stdout, "stopped after step %d; continue with the same flags and --resume\n", res.FirstStep+len(res.Losses))
		return nil
	}
	if err := modelio.SaveModel(*out, res.Weights, *saveDType); err != nil {
		return err
	}
	sum := trainSummary{Args: args, Corpus: corpus, Documents: len(trainDocs), Params: cfg.NumParams(),
		Steps: *steps, Batch: *batch, SeqLen: *seqLen, Seed: *seed, Hyper: h, Backend: *backend, DType: *dtype,
		WallSeconds: res.Wall.Seconds(), Eval: res.Eval, SavedAs: *saveDType,
		FinishedAtUTC: time.Now().UTC().Format(time.RFC3339)}
	if res.Wall > 0 {
		sum.TokensPerSec = float64(res.Tokens) / res.Wall.Seconds()
	}
	if n := len(res.Losses); n > 0 {
		sum.FinalLoss = res.Losses[n-1]
	}
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "training.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "saved %s (%s, %d parameters); trained %d steps in %s\n", *out, *saveDType, cfg.NumParams(), len(res.Losses), res.Wall.Round(time.Second))
	return nil
}

// readEvalSets reads --eval NAME=GLOB sets.
func readEvalSets(evals []string) ([]train.EvalSet, error) {
	var sets []train.EvalSet
	for _, e := range evals {
		name, glob, ok := strings.Cut(e, "=")
		if !ok || name == "" || glob == "" {
			return nil, usageErrorf("--eval wants NAME=GLOB, got %q", e)
		}
		d, err := train.ReadCorpus([]string{glob})
		if err != nil {
			return nil, usageErrorf("--eval %s: %v", name, err)
		}
		sets = append(sets, train.EvalSet{Name: name, Docs: d})
	}
	return sets, nil
}

// exportCheckpoint saves the weights of a checkpoint as a model and
// evaluates the saved (rounded) weights on the --eval sets.
func exportCheckpoint(stdout io.Writer, args []string, ckpt, out, saveDType string, evals []string, o train.Options) error {
	if saveDType != "F32" && saveDType != "BF16" {
		return usageErrorf("--save-dtype must be F32 or BF16, got %q", saveDType)
	}
	sets, err := readEvalSets(evals)
	if err != nil {
		return err
	}
	w, step, err := train.CheckpointWeights(ckpt)
	if err != nil {
		return usageErrorf("%v", err)
	}
	if err := modelio.SaveModel(out, w, saveDType); err != nil {
		return err
	}
	saved, err := modelio.LoadModel(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "exported step %d of %s to %s (%s, %d parameters)\n", step, ckpt, out, saveDType, saved.Config.NumParams())
	res, err := train.Evaluate(saved, sets, o)
	if err != nil {
		return err
	}
	for _, r := range res {
		fmt.Fprintf(stdout, "eval %s: %.4f bits/byte over %d bytes (unigram %.4f, %.1f%% below)\n",
			r.Name, r.BitsPerByte, r.Bytes, r.UnigramBits, 100*(1-r.BitsPerByte/r.UnigramBits))
	}
	sum := exportSummary{Args: args, Checkpoint: ckpt, Step: step, Params: saved.Config.NumParams(), SavedAs: saveDType,
		EvalSeqLen: o.SeqLen, EvalBatch: o.Batch, EvalBatches: o.EvalBatches, Backend: o.Backend, DType: o.DType,
		Eval: res, FinishedAtUTC: time.Now().UTC().Format(time.RFC3339)}
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "export.json"), append(b, '\n'), 0o644)
}
