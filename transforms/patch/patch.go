// Package patch runs the entropy model once over every document and cuts it
// into patches. With embeddings, the scorer pools the per-token pre-norm
// hidden states into per-patch vectors on its device (modelio.Cut): hidden
// states are [tokens·dim] float32s (3 KiB per byte at dim 768) and never
// leave it.
//
// It owns the process-wide model cache (one Scorer per model directory and
// backend, loaded on first use: Beam Go never calls Teardown, so a DoFn
// instance must not own the model) and document batching (up to
// BatchTokens tokens per model call, flushed in FinishBundle). Batches run
// in the background, at most two per device plus one per DoFn instance, so
// reading, tokenizing and writing overlap the model; results are emitted in
// input order.
package patch

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/bltpipe/bltpipe/internal/par"
	"github.com/bltpipe/bltpipe/modelio"
	"github.com/bltpipe/bltpipe/modelio/fetch"
	"github.com/bltpipe/bltpipe/modelio/patcher"
	"github.com/bltpipe/bltpipe/modelio/tokenizer"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/progress"
	"github.com/bltpipe/bltpipe/transforms/record"
	"github.com/bltpipe/bltpipe/transforms/reject"
)

func init() {
	register.DoFn3x1[context.Context, record.Document, func(record.Scored), error](&patchFn{})
	register.Emitter1[record.Scored]()
}

// Config configures the model pass. It is serialised with the pipeline, so
// workers load the model themselves from ModelDir (which must exist on them).
type Config struct {
	ModelDir string
	// Backend and DType select the GoMLX backend and compute dtype
	// (modelio.ScorerOptions); empty means the defaults.
	Backend, DType string
	// BatchTokens bounds the tokens of one model call; 0 means
	// DefaultBatchTokens for the backend.
	BatchTokens int
	// Devices is how many devices (GPUs) of a worker get a model replica;
	// 0 means all the backend sees.
	Devices int
	Patcher patcher.Options
	// Embeddings asks for pooled patch embeddings (--embeddings patch).
	Embeddings bool
	// SegmentStartsPatch cuts patches so that the first token of every
	// segment of a document (Origin.Segments) starts a patch
	// (--segment-starts-patch); see ForceStarts.
	SegmentStartsPatch bool
}

// NoModel as the model directory (--model none) runs no model: documents
// are cut by a patching mode that needs no entropies (static, byte,
// space) and carry no entropies, prominence or embeddings.
const NoModel = "none"

// ModelFree reports whether the stage runs without a model (NoModel).
func (c Config) ModelFree() bool { return c.ModelDir == NoModel }

// Validate checks what the stage needs before it loads anything.
func (c Config) Validate() error {
	if err := c.Patcher.Validate(); err != nil {
		return err
	}
	if c.ModelFree() {
		if c.Patcher.Mode == patcher.ModeEntropy {
			return errors.New("--model none: entropy patching needs the model; use --patching static, byte or space")
		}
		if c.Embeddings {
			return errors.New("--model none: patch embeddings need the model; use --embeddings none")
		}
	}
	return nil
}

// EffectiveBatchTokens is BatchTokens with its default applied.
func (c Config) EffectiveBatchTokens() int { return c.batchTokens() }

func (c Config) batchTokens() int {
	if c.BatchTokens > 0 {
		return c.BatchTokens
	}
	return DefaultBatchTokens(c.Backend)
}

// DefaultBatchTokens is 4096 tokens per model call on the CPU backend (it
// parallelises inside a call) and 65536 on accelerators (a call must fill
// the device); backend "" means $GOMLX_BACKEND.
func DefaultBatchTokens(backend string) int {
	if modelio.IsCPUBackendConfig(backend) {
		return 4096
	}
	return 65536
}

// Patch scores and patches documents: PCollection<record.Document> →
// PCollection<record.Scored> with Entropies, Prominence, PatchLengths and,
// with Embeddings, Pooled vectors.
func Patch(s beam.Scope, docs beam.PCollection, c Config) beam.PCollection {
	s = s.Scope("Patch")
	return beam.ParDo(s, &patchFn{Config: c}, docs)
}

type modelKey struct{ dir, backend, dtype string }

type modelEntry struct {
	once    sync.Once
	weights *modelio.Weights
	scorer  *modelio.Scorer
	err     error
}

var (
	modelsMu sync.Mutex
	models   = map[modelKey]*modelEntry{}
)

// Model returns the process-wide scorer for the config's model directory,
// backend and dtype, loading it on first use. Later calls (any DoFn
// instance, any bundle) share it; Scorer is safe for concurrent use.
func Model(c Config) (*modelio.Weights, *modelio.Scorer, error) {
	k := modelKey{c.ModelDir, c.Backend, c.DType}
	modelsMu.Lock()
	e := models[k]
	if e == nil {
		e = &modelEntry{}
		models[k] = e
	}
	modelsMu.Unlock()
	e.once.Do(func() {
		e.weights, e.err = LoadWeights(c.ModelDir)
		if e.err != nil {
			return
		}
		e.scorer, e.err = modelio.NewScorer(e.weights, modelio.ScorerOptions{Backend: c.Backend, DType: c.DType, BatchTokens: c.batchTokens(), Devices: c.Devices})
		if e.err == nil && !modelio.IsCPUBackendConfig(c.Backend) {
			// Compile every shape now, together, rather than one by one
			// mid-run (the CPU compiles in milliseconds, lazily).
			e.err = e.scorer.Warm(c.Embeddings)
		}
		if e.err != nil {
			e.err = fmt.Errorf("model %s: %w", c.ModelDir, e.err)
		}
	})
	return e.weights, e.scorer, e.err
}

var (
	weightsMu sync.Mutex
	weights   = map[string]*modelio.Weights{}
)

// LoadWeights loads a model directory once per process (the launcher reads
// the model identity for the manifest; in-process workers reuse the load).
// dir may also be gs://… or hf://…: modelio/fetch downloads it, once per
// process and verified, into a local cache first.
func LoadWeights(dir string) (*modelio.Weights, error) {
	local, err := fetch.Local(context.Background(), dir)
	if err != nil {
		return nil, err
	}
	weightsMu.Lock()
	defer weightsMu.Unlock()
	if w, ok := weights[local]; ok {
		return w, nil
	}
	w, err := modelio.LoadModel(local)
	if err != nil {
		if local != dir {
			return nil, fmt.Errorf("model %s: %w", dir, err)
		}
		return nil, err
	}
	weights[local] = w
	return w, nil
}

var (
	docsScored   = beam.NewCounter("bltpipe", "documents")
	tokensScored = beam.NewCounter("bltpipe", "tokens")
	bytesScored  = beam.NewCounter("bltpipe", "bytes")
)

// patchFn batches documents of one split up to BatchTokens tokens, runs the
// model once per batch, patches and pools each document and emits it.
//
// Batches never mix splits: a batch's composition then depends only on the
// split's contents, not on how the runner bundled the splits, so outputs
// are identical across runners even if the backend's arithmetic depended on
// batch shape.
//
// A full batch is scored in a goroutine while the DoFn goes on receiving
// documents; results wait in a FIFO and are emitted, in order, from the
// DoFn's own calls (Beam emitters are not safe from other goroutines). A
// split's documents thus stay contiguous for the writer.
type patchFn struct {
	Config Config

	scorer   *modelio.Scorer
	flushAt  int // tokens per batch (see batchFor)
	split    string
	pending  []record.Document
	tokens   int
	inFlight []chan batchResult // oldest first
}

// maxInFlight is how many batches a DoFn instance has out while it
// gathers the next one. A batch is out from the moment it is gathered
// until it is emitted: queued for a device, on it, then patched and pooled
// on the CPU. Two a device plus one keeps every device fed while earlier
// batches pool: with one a device plus one, two H100s stood idle 22% of
// the time behind the pooling of finished batches (the model 78% busy).
func (fn *patchFn) maxInFlight() int { return 2*fn.scorer.Devices() + 1 }

type batchResult struct {
	out    []record.Scored
	err    error
	passOn bool // an earlier stage's reject, counted there
}

func (fn *patchFn) Setup() error {
	if err := fn.Config.Validate(); err != nil {
		return err
	}
	if fn.Config.ModelFree() {
		return nil
	}
	_, sc, err := Model(fn.Config)
	fn.scorer = sc
	if err == nil {
		fn.flushAt = batchFor(sc, fn.Config)
		progress.SetModel(sc)
	}
	return err
}

// batchFor is the tokens of one batch (one Scorer.Score call). On the CPU
// backend it is one forward call's worth (BatchTokens). An accelerator
// compiles few stream counts and pads a call up to the next one, so a batch
// there carries what the Scorer needs to fill every stream of its largest
// bucket for several chunks (Scorer.ScoreTokens): with one call's worth,
// 8 documents of 8k tokens ran as 8 rows of a 32-row call.
func batchFor(sc *modelio.Scorer, c Config) int {
	if modelio.IsCPUBackendConfig(c.Backend) {
		return c.batchTokens()
	}
	return max(c.batchTokens(), sc.ScoreTokens())
}

func (fn *patchFn) ProcessElement(ctx context.Context, d record.Document, emit func(record.Scored)) error {
	if d.Split != fn.split {
		fn.start()
	}
	fn.split = d.Split
	if fn.Config.ModelFree() {
		// Nothing to batch: cut the document here, in order.
		if d.Rejected() {
			emit(record.Scored{Doc: d})
			return nil
		}
		fn.emit(ctx, emit, []record.Scored{Cut(d, fn.Config)})
		return nil
	}
	if d.Rejected() {
		// Rejects pass on in order (after the previous split's batches, so
		// a split's elements stay contiguous for the writer).
		done := make(chan batchResult, 1)
		done <- batchResult{out: []record.Scored{{Doc: d}}, passOn: true}
		fn.inFlight = append(fn.inFlight, done)
		return fn.drain(ctx, emit, false)
	}
	fn.pending = append(fn.pending, d)
	fn.tokens += len(d.Data) + 2
	if fn.tokens >= fn.flushAt {
		fn.start()
	}
	return fn.drain(ctx, emit, false)
}

func (fn *patchFn) FinishBundle(ctx context.Context, emit func(record.Scored)) error {
	fn.start()
	return fn.drain(ctx, emit, true)
}

// start scores the pending batch in the background.
func (fn *patchFn) start() {
	if len(fn.pending) == 0 {
		return
	}
	docs := fn.pending
	fn.pending, fn.tokens = nil, 0
	done := make(chan batchResult, 1)
	go func() {
		out, err := Score(fn.scorer, docs, fn.Config)
		done <- batchResult{out: out, err: err}
	}()
	fn.inFlight = append(fn.inFlight, done)
}

// drain emits the finished batches at the head of the FIFO. It waits for
// the head while more than maxInFlight() batches are out, or for all of them
// when all is set.
func (fn *patchFn) drain(ctx context.Context, emit func(record.Scored), all bool) error {
	for len(fn.inFlight) > 0 {
		var r batchResult
		if all || len(fn.inFlight) > fn.maxInFlight() {
			r = <-fn.inFlight[0]
		} else {
			select {
			case r = <-fn.inFlight[0]:
			default:
				return nil
			}
		}
		fn.inFlight = fn.inFlight[1:]
		if r.err != nil {
			return r.err
		}
		if r.passOn {
			for _, sc := range r.out {
				emit(sc)
			}
			continue
		}
		fn.emit(ctx, emit, r.out)
	}
	return nil
}

func (fn *patchFn) emit(ctx context.Context, emit func(record.Scored), out []record.Scored) {
	for _, sc := range out {
		if sc.Doc.Rejected() {
			reject.Count(ctx, schemas.StagePatch)
			emit(sc)
			continue
		}
		tokens := int64(len(sc.Doc.Data) + 2)
		docsScored.Inc(ctx, 1)
		tokensScored.Inc(ctx, tokens)
		bytesScored.Inc(ctx, int64(len(sc.Doc.Data)))
		progress.Scored.Add(1)
		progress.Tokens.Add(tokens)
		progress.Patches.Add(int64(len(sc.PatchLengths)))
		emit(sc)
	}
}

// Score runs one model call over docs and returns them scored, patched and
// (with c.Embeddings) pooled. It is the whole per-batch work of the stage,
// exported so tests and tools compute exactly what the pipeline computes.
// A document the patcher cannot cut, or whose entropies are not finite,
// comes back as a reject (Doc.Rejected()) instead of failing the batch;
// an error is the model pass failing as a whole.
func Score(scorer *modelio.Scorer, docs []record.Document, c Config) ([]record.Scored, error) {
	toks := make([][]int32, len(docs))
	for i, d := range docs {
		toks[i] = tokenizer.EncodeDoc(d.Data)
	}
	var cut modelio.Cut
	if c.Embeddings {
		// Pooling needs the patches, so the scorer cuts the documents
		// itself, between its model pass and pooling on the device.
		cut = func(i int, ent []float32) ([]int32, error) { return lengthsOf(docs[i], toks[i], ent, c) }
	}
	scores, err := scorer.Score(toks, cut)
	if err != nil {
		return nil, fmt.Errorf("model pass over %d documents: %w", len(docs), err)
	}
	// Patching is per document: spread it over the cores.
	out := make([]record.Scored, len(docs))
	errs := make([]error, len(docs))
	par.For(len(docs), func(i int) {
		out[i], errs[i] = finish(docs[i], toks[i], &scores[i], scorer.Dim(), c)
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// Cut patches one document without a model (c.ModelFree()): the Scored
// it returns has PatchLengths and no per-token arrays. A document the
// patcher cannot cut comes back as a reject.
func Cut(d record.Document, c Config) record.Scored {
	toks := tokenizer.EncodeDoc(d.Data)
	lengths, err := patchSafe(toks, nil, c.Patcher)
	if err != nil {
		return record.Scored{Doc: reject.Of(d, schemas.StagePatch, reject.ClassPatch, err.Error())}
	}
	if c.SegmentStartsPatch {
		lengths = ForceStarts(lengths, SegmentStartTokens(d))
	}
	return record.Scored{Doc: d, PatchLengths: lengths}
}

// finish patches one scored document (with c.Embeddings the scorer has
// already cut it and pooled its patches) or turns it into a reject.
func finish(d record.Document, toks []int32, ds *modelio.DocScore, dim int, c Config) (record.Scored, error) {
	if j := firstNonFinite(ds.Prominence); j >= 0 {
		return record.Scored{Doc: reject.Of(d, schemas.StagePatch, reject.ClassPatch, fmt.Sprintf("non-finite prominence at token %d", j))}, nil
	}
	lengths, err := ds.Lengths, ds.CutErr
	if !c.Embeddings {
		lengths, err = lengthsOf(d, toks, ds.Entropies, c)
	}
	if err != nil {
		return record.Scored{Doc: reject.Of(d, schemas.StagePatch, reject.ClassPatch, err.Error())}, nil
	}
	sc := record.Scored{Doc: d, Entropies: ds.Entropies, Prominence: ds.Prominence, PatchLengths: lengths}
	if c.Embeddings {
		if len(ds.Pooled) != len(lengths)*dim {
			return record.Scored{}, fmt.Errorf("document %q: %d pooled values for %d patches of dim %d", d.ID, len(ds.Pooled), len(lengths), dim)
		}
		sc.Pooled, sc.Dim = ds.Pooled, int32(dim)
	}
	return sc, nil
}

// lengthsOf cuts one scored document into patches; an error is the
// reason to reject it (non-finite model outputs, a patcher failure).
func lengthsOf(d record.Document, toks []int32, ent []float32, c Config) ([]int32, error) {
	if j := firstNonFinite(ent); j >= 0 {
		return nil, fmt.Errorf("non-finite entropy at token %d", j)
	}
	lengths, err := patchSafe(toks, ent, c.Patcher)
	if err != nil {
		return nil, err
	}
	if c.SegmentStartsPatch {
		lengths = ForceStarts(lengths, SegmentStartTokens(d))
	}
	return lengths, nil
}

// patchSafe is patcher.Patch with a panic turned into an error.
func patchSafe(toks []int32, ent []float32, o patcher.Options) (lengths []int32, err error) {
	defer func() {
		if r := recover(); r != nil {
			lengths, err = nil, fmt.Errorf("patcher panicked: %v", r)
		}
	}()
	return patcher.Patch(toks, ent, o)
}

// firstNonFinite returns the index of the first NaN or ±Inf in v, or -1.
func firstNonFinite(v []float32) int {
	for i, x := range v {
		if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
			return i
		}
	}
	return -1
}
