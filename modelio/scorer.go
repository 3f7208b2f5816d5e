package modelio

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/dtypes/bfloat16"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/x448/float16"
)

// ScorerOptions configure a Scorer. Zero values pick sensible defaults.
type ScorerOptions struct {
	// Backend is a GoMLX backend config: "" ($GOMLX_BACKEND, else simplego),
	// "simplego", or "xla:/abs/path/xla_cuda_plugin.so" (build tag xla).
	Backend string
	// DType is the compute dtype of matmuls: "f32", "bf16" or "f16"
	// (accelerators only). Default: f32 on the CPU backend, f16 elsewhere:
	// on an H100 f16 runs at bf16's speed (within 2%) and its entropies
	// track f32's 7× closer (p99 |Δ| 0.0045 nats against bf16's 0.032,
	// bench/RESULTS.md). Norm statistics, softmax, entropy and the residual
	// stream are always f32. With f16, weights beyond its range (65504)
	// are refused here; an activation beyond it turns the document's
	// entropies non-finite, and the patch stage rejects it, naming the
	// token.
	DType string
	// BatchTokens bounds the tokens of one forward call (streams × chunk).
	// Default 4096.
	BatchTokens int
	// ChunkLen is the longest chunk (tokens per stream per call), rounded
	// down to a chunk bucket. Default 512 on the CPU backend and 2048 with
	// FewShapes: a stream then holds 8 × 2048 tokens per batch, several
	// web documents, so streams end together. With 512 a stream held about
	// one document, most rows ran as padding behind the longest, and the
	// pipeline scored 315 k tokens/s on an H100 where the model ran 700 k.
	ChunkLen int
	// FewShapes compiles at most four stream counts and one chunk length
	// (ChunkLen), padding the rest: on accelerators, where one compile of the
	// real-size model takes ~20 s, fewer graphs beat less padding. It is
	// always on for backends other than the CPU one.
	FewShapes bool
	// QueryBlock is the attention query block: 0 picks 128 on accelerators
	// and the smallest power of two ≥ window−1 on the CPU. Smaller blocks
	// compute fewer masked scores and copy keys more often; see queryBlock
	// in forward.go. On an H100 at the real size (window 512), 128 ran
	// 719 k tokens/s against 646 k for 512 (bench/RESULTS.md).
	QueryBlock int
	// Devices is how many of the backend's devices (GPUs) get a replica of
	// the model: 0 means all of them. Concurrent Score calls run on
	// different replicas; the CPU backend has one device.
	Devices int
}

// DocScore holds the model's outputs for one document.
type DocScore struct {
	Entropies  []float32 // [n] nats
	Prominence []float32 // [n] L2 norm of the pre-norm hidden state
	// With a Cut: the patch lengths it returned, and each patch's mean
	// pre-norm hidden state, back to back ([len(Lengths)·dim]), pooled on
	// the device. CutErr is the Cut's error for this document (then both
	// are nil).
	Lengths []int32
	Pooled  []float32
	CutErr  error
}

// A Cut gives the patch lengths of document doc (an index into Score's
// docs) from its per-token entropies; the lengths must be ≥ 1 and sum to
// the document's token count. Score calls it once per document,
// concurrently, after the model pass and before pooling. An error concerns
// that document only (DocScore.CutErr).
type Cut func(doc int, entropies []float32) ([]int32, error)

// TokenCut cuts every document into one-token patches: Pooled then holds
// the per-token pre-norm hidden states.
func TokenCut(_ int, entropies []float32) ([]int32, error) {
	return filled(len(entropies), 1), nil
}

// Scorer runs the entropy model over batches of documents. It is safe for
// concurrent use: it holds one replica of the model per device, a Score call
// takes a free replica (waiting if none is free), so N devices serve N
// concurrent calls. The compiled graphs are shared by all replicas.
type Scorer struct {
	cfg     Config
	backend backends.Backend
	dtype   dtypes.DType

	streams []int // B buckets, ascending; the last is the most streams per call
	chunks  []int // C buckets, ascending

	// execs holds one forward Exec per (wantHidden, stream bucket), each
	// caching its chunk lengths' graphs; portable, they run on any
	// replica's device. One Exec per shape rather than one for all: an
	// Exec holds a lock while it compiles, so with a shared one every
	// replica stalled ~20 s whenever one compiled a new stream count.
	execs    map[execKey]*graph.Exec
	selectX  *graph.Exec // gathers cache rows on the device (selectRows)
	pools    poolExecs   // patch pooling (pool.go)
	replicas []*replica
	free     chan *replica

	mu       sync.Mutex // guards compiled
	compiled map[[3]int]bool

	tokens, slots atomic.Int64 // real tokens scored, and rows × chunk computed
	busy          atomic.Int64 // nanoseconds replicas were held by Score calls
}

// execKey names a forward Exec: hidden states wanted or not, and the
// stream count.
type execKey struct {
	hidden  bool
	streams int
}

// replica is the model's state on one device. A tensor lives on one device,
// so every replica has its own weights and constant tensors; only the
// goroutine holding the replica (taken from Scorer.free) touches it.
type replica struct {
	dev     backends.DeviceNum
	weights []*tensors.Tensor
	// zeros holds an empty key/value cache per stream count; it stays on the
	// device and is only read, so each Score call starts without an upload.
	zeros map[int]*tensors.Tensor
	// rope holds RoPE tables per (start, chunk) for starts below ropeCacheEnd,
	// which covers every chunk of a call up to that position.
	rope map[[2]int][2]*tensors.Tensor
	// host receives a chunk's entropies and prominences from the device,
	// reused from chunk to chunk.
	host [2][]float32
}

// ropeCacheEnd bounds the start positions whose RoPE tables are kept on the
// device (each call restarts its streams at 0, so these repeat).
const ropeCacheEnd = 1 << 16

// maxFloat16 is the largest finite float16.
const maxFloat16 = 65504.0

// fitsFloat16 checks that the weights that become float16 (all but the
// norms, in weightOrder) are within its range, so that none turns into
// ±Inf on the device.
func fitsFloat16(order [][]float32) error {
	for i, data := range order {
		if isNormWeight(i) {
			continue
		}
		for j, v := range data {
			if math.Abs(float64(v)) > maxFloat16 {
				return fmt.Errorf("weight %d, value %d is %g, beyond float16's range (±%g): use dtype bf16 or f32", i, j, v, maxFloat16)
			}
		}
	}
	return nil
}

// acceleratorQueryBlock is the default attention query block with FewShapes.
const acceleratorQueryBlock = 128

// acceleratorChunkLen is the default ChunkLen with FewShapes.
const acceleratorChunkLen = 2048

// chunkBuckets are the chunk lengths a Scorer compiles for (capped by ChunkLen).
var chunkBuckets = []int{32, 128, 512, 2048, 8192}

// NewScorer prepares w for inference on the chosen backend. Weights are
// converted to the compute dtype once and stay on the device.
func NewScorer(w *Weights, o ScorerOptions) (*Scorer, error) {
	if err := w.Config.Validate(); err != nil {
		return nil, fmt.Errorf("model config: %w", err)
	}
	be, err := OpenBackend(o.Backend)
	if err != nil {
		return nil, err
	}
	s := &Scorer{cfg: w.Config, backend: be, compiled: map[[3]int]bool{}}
	switch o.DType {
	case "":
		s.dtype = dtypes.Float16
		if IsCPUBackend(be) {
			s.dtype = dtypes.Float32
		}
	case "f32", "float32":
		s.dtype = dtypes.Float32
	case "bf16", "bfloat16":
		s.dtype = dtypes.BFloat16
	case "f16", "float16":
		// The pure-Go backend has no float16 arithmetic.
		if IsCPUBackend(be) {
			return nil, fmt.Errorf("dtype f16 needs an accelerator backend (%s has no float16); use f32 or bf16", be)
		}
		s.dtype = dtypes.Float16
	default:
		return nil, fmt.Errorf("unknown dtype %q (want f32, bf16 or f16)", o.DType)
	}
	batch := cmp.Or(o.BatchTokens, 4096)
	few := o.FewShapes || !IsCPUBackend(be)
	chunkLen := cmp.Or(o.ChunkLen, 512)
	if few {
		chunkLen = cmp.Or(o.ChunkLen, acceleratorChunkLen)
	}
	for _, c := range chunkBuckets {
		if c <= chunkLen || len(s.chunks) == 0 {
			s.chunks = append(s.chunks, c)
		}
	}
	if few {
		s.chunks = s.chunks[len(s.chunks)-1:]
	}
	maxStreams := max(1, batch/s.chunks[len(s.chunks)-1])
	maxStreams = 1 << (bitsLen(maxStreams) - 1) // a power of two
	step := 2
	if few {
		step = 8
	}
	for b := maxStreams; b > 1; b /= step {
		s.streams = append([]int{b}, s.streams...)
	}
	s.streams = append([]int{1}, s.streams...)

	devices := be.NumDevices()
	switch {
	case o.Devices < 0 || o.Devices > devices:
		return nil, fmt.Errorf("%d devices asked for, backend %s has %d", o.Devices, be.String(), devices)
	case o.Devices > 0:
		devices = o.Devices
	}
	dims := weightDims(w.Config)
	order := weightOrder(w)
	for i, data := range order {
		if len(data) != prod(dims[i]) {
			return nil, fmt.Errorf("weight %d has %d values, config wants %v", i, len(data), dims[i])
		}
	}
	if s.dtype == dtypes.Float16 {
		if err := fitsFloat16(order); err != nil {
			return nil, err
		}
	}
	s.free = make(chan *replica, devices)
	for d := range devices {
		r := &replica{dev: backends.DeviceNum(d), zeros: map[int]*tensors.Tensor{}, rope: map[[2]int][2]*tensors.Tensor{}}
		for i, data := range order {
			r.weights = append(r.weights, s.toTensor(data, dims[i], isNormWeight(i)))
		}
		s.replicas = append(s.replicas, r)
		s.free <- r
	}
	qb := o.QueryBlock
	if qb == 0 && few {
		qb = acceleratorQueryBlock
	}
	nGraphs := s.shapeCount()
	s.execs = map[execKey]*graph.Exec{}
	for _, hidden := range []bool{false, true} {
		spec := forwardSpec{cfg: w.Config, dtype: s.dtype, wantHidden: hidden, queryBlock: qb}
		for _, b := range s.streams {
			e, err := graph.NewExec(be, spec.buildChunkGraph)
			if err != nil {
				return nil, fmt.Errorf("build forward graph: %w", err)
			}
			s.execs[execKey{hidden, b}] = e.SetMaxCache(len(s.chunks)).WithName(fmt.Sprintf("blt_forward_%d_hidden_%v", b, hidden))
		}
	}
	sel, err := graph.NewExec(be, selectCacheRows)
	if err != nil {
		return nil, fmt.Errorf("build cache gather graph: %w", err)
	}
	s.selectX = sel.SetMaxCache(nGraphs).WithName("blt_select_cache_rows")
	if s.pools, err = newPoolExecs(be); err != nil {
		return nil, err
	}
	return s, nil
}

// shapeCount is the number of (streams, chunk) shapes a Scorer may compile
// for each kind of forward (with hidden states or without).
func (s *Scorer) shapeCount() int { return len(s.streams) * len(s.chunks) }

// streamBucket is the smallest stream count compiled for that holds n rows.
func (s *Scorer) streamBucket(n int) int {
	for _, b := range s.streams {
		if b >= n {
			return b
		}
	}
	return s.streams[len(s.streams)-1]
}

func (s *Scorer) toTensor(data []float32, dims []int, keepF32 bool) *tensors.Tensor {
	if keepF32 {
		return tensors.FromFlatDataAndDimensions(slices.Clone(data), dims...)
	}
	switch s.dtype {
	case dtypes.BFloat16:
		return tensors.FromFlatDataAndDimensions(convert(data, bfloat16.FromFloat32), dims...)
	case dtypes.Float16:
		return tensors.FromFlatDataAndDimensions(convert(data, float16.Fromfloat32), dims...)
	}
	return tensors.FromFlatDataAndDimensions(slices.Clone(data), dims...)
}

// convert maps data through to (a float32 → half-precision conversion).
func convert[T any](data []float32, to func(float32) T) []T {
	out := make([]T, len(data))
	for i, v := range data {
		out[i] = to(v)
	}
	return out
}

// ScoreTokens is how many tokens one Score call should carry to keep the
// device busy: enough for every stream of the largest bucket to run
// several chunks, so that few rows of a forward call are padding. A call
// with fewer documents than streams pads the missing rows (a document
// never spans two streams).
func (s *Scorer) ScoreTokens() int {
	return s.streams[len(s.streams)-1] * s.chunks[len(s.chunks)-1] * chunksPerStream
}

// chunksPerStream is the work packStreams aims to give each stream.
const chunksPerStream = 8

// Utilization returns the tokens scored so far and the token slots the
// forward calls computed for them (streams × chunk per call, padding
// included); tokens/slots is the useful fraction of the device's work.
func (s *Scorer) Utilization() (tokens, slots int64) { return s.tokens.Load(), s.slots.Load() }

// Busy is the time replicas spent in Score calls (packing, forward passes,
// copying results out), summed over replicas: how busy the model kept its
// devices. A pipeline whose Busy grows slower than wall time × Devices is
// not feeding them.
func (s *Scorer) Busy() time.Duration { return time.Duration(s.busy.Load()) }

// Config returns the model's configuration.
func (s *Scorer) Config() Config { return s.cfg }

// Dim is the width of hidden states.
func (s *Scorer) Dim() int { return s.cfg.Dim }

// DType is the compute dtype name ("f32", "bf16" or "f16").
func (s *Scorer) DType() string {
	switch s.dtype {
	case dtypes.BFloat16:
		return "bf16"
	case dtypes.Float16:
		return "f16"
	}
	return "f32"
}

// Backend is the name of the GoMLX backend in use.
func (s *Scorer) Backend() string { return s.backend.String() }

// Devices is the number of model replicas (one per device).
func (s *Scorer) Devices() int { return len(s.replicas) }

// CompiledGraphs is the number of distinct graphs compiled so far.
func (s *Scorer) CompiledGraphs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.compiled)
}

// Warm compiles every forward graph a Score call may need (each stream
// count and chunk length, with hidden states or without), concurrently,
// instead of one at a time as calls first need them: on an accelerator a
// compile of the real-size model takes ~20 s, and a call that meets a new
// stream count mid-run holds its device that long.
func (s *Scorer) Warm(wantHidden bool) error {
	r := <-s.free
	defer func() { s.free <- r }()
	cl := s.cfg.cacheLen()
	type job struct {
		b, c int
		args []any
	}
	var jobs []job
	for _, b := range s.streams {
		for _, c := range s.chunks {
			cos, sin, cached := s.ropeTensors(r, 0, c)
			if !cached {
				return fmt.Errorf("warm: RoPE tables of %d positions are not cached", c)
			}
			z := s.zeroCaches(r, b)
			args := []any{
				tensors.FromFlatDataAndDimensions(make([]int32, b*c), b, c),
				tensors.FromFlatDataAndDimensions(filled(b*c, -1), b, c),
				tensors.FromFlatDataAndDimensions(filled(b*cl, -2), b, cl),
				cos, sin, z, z,
			}
			for _, w := range r.weights {
				args = append(args, w)
			}
			jobs = append(jobs, job{b, c, args})
		}
	}
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			if errs[i] = s.execs[execKey{wantHidden, j.b}].PreCompile(j.args...); errs[i] != nil {
				errs[i] = fmt.Errorf("compile forward (streams %d, chunk %d): %w", j.b, j.c, errs[i])
			}
		})
	}
	wg.Wait()
	for i, j := range jobs {
		for _, a := range j.args[:3] {
			a.(*tensors.Tensor).FinalizeAll()
		}
		if errs[i] == nil {
			s.mu.Lock()
			s.compiled[[3]int{j.b, j.c, boolIdx(wantHidden)}] = true
			s.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// stream is a sequence of whole documents processed in order.
type stream struct {
	docs []int // document indices, in order
	// flattened (doc, token) of every token of the stream
	tokDoc []int32
	tokIdx []int32
}

func (st *stream) len() int { return len(st.tokDoc) }

// Score runs the model over docs (each a full token sequence, normally
// [BOS, bytes…, EOS]) and returns one DocScore per document. With a cut,
// each document is also cut into patches and their hidden states pooled
// (see Cut); per-token hidden states never leave the device. Empty
// documents get empty scores.
func (s *Scorer) Score(docs [][]int32, cut Cut) ([]DocScore, error) {
	out := make([]DocScore, len(docs))
	total := 0
	for i, d := range docs {
		for j, t := range d {
			if t < 0 || int(t) >= s.cfg.VocabSize {
				return nil, fmt.Errorf("document %d: token %d at position %d is outside the vocabulary [0, %d)", i, t, j, s.cfg.VocabSize)
			}
		}
		out[i].Entropies = make([]float32, len(d))
		out[i].Prominence = make([]float32, len(d))
		total += len(d)
	}
	if total == 0 {
		cutEmpty(docs, out, cut)
		return out, nil
	}
	r := <-s.free
	start := time.Now()
	streams := s.packStreams(docs)
	hidden, err := s.run(r, docs, streams, out, cut != nil)
	// Pooling needs only the device, not the replica's host-side state:
	// the next call's forward may start while this one pools.
	s.busy.Add(int64(time.Since(start)))
	s.free <- r
	if err == nil && cut != nil {
		err = s.pool(r.dev, docs, streams, hidden, out, cut)
	}
	for _, h := range hidden {
		h.t.FinalizeAll()
	}
	if err != nil {
		return nil, err
	}
	s.tokens.Add(int64(total))
	return out, nil
}

// packStreams spreads documents over streams, longest first onto the
// least-loaded stream, so that streams end at about the same time. It aims
// for chunksPerStream chunks per stream, then rounds the stream count up to
// its bucket while documents last: the bucket's rows are computed anyway,
// and more streams make the longest one shorter.
func (s *Scorer) packStreams(docs [][]int32) []*stream {
	order := make([]int, 0, len(docs))
	for i, d := range docs {
		if len(d) > 0 {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(len(docs[b]), len(docs[a])) })
	// Give each stream several chunks' worth of tokens, so that streams end
	// together and few rows run as padding.
	total := 0
	for _, d := range order {
		total += len(docs[d])
	}
	perStream := chunksPerStream * s.chunks[len(s.chunks)-1]
	n := min(len(order), s.streamBucket(max(1, (total+perStream-1)/perStream)))
	streams := make([]*stream, n)
	for i := range streams {
		streams[i] = &stream{}
	}
	for _, d := range order {
		best := streams[0]
		for _, st := range streams[1:] {
			if st.len() < best.len() {
				best = st
			}
		}
		best.docs = append(best.docs, d)
		for j := range docs[d] {
			best.tokDoc = append(best.tokDoc, int32(d))
			best.tokIdx = append(best.tokIdx, int32(j))
		}
	}
	return streams
}

// run advances all streams chunk by chunk and fills the documents'
// entropies and prominences; with wantHidden it returns each chunk's hidden
// states, still on the device. A finished stream's row is fed
// padding until at most a quarter of the rows are still active and a smaller
// stream bucket holds them; then the batch shrinks to that bucket, its
// caches gathered on the device (selectRows). So a call compiles few shapes
// and shrinks at most log4(B) times. A chunk's outputs are copied out by a
// second goroutine while the device runs the next chunk.
func (s *Scorer) run(r *replica, docs [][]int32, streams []*stream, out []DocScore, wantHidden bool) (hidden []chunkHidden, err error) {
	cfg := s.cfg
	cl := cfg.cacheLen()
	b := s.streamBucket(len(streams))
	rows := make([]*stream, b) // nil: a finished or unused row
	copy(rows, streams)
	cacheSeg := make([][]int32, b) // per row, the segment ids of its cached keys
	for i := range cacheSeg {
		cacheSeg[i] = filled(cl, -2)
	}
	kCache, vCache := s.zeroCaches(r, b), s.zeroCaches(r, b)
	fresh := kCache // shared by k and v; never finalized here
	results := make(chan chunkResult, 1)
	var scatterErr error
	scattered := make(chan struct{})
	go func() {
		defer close(scattered)
		for res := range results {
			if scatterErr == nil {
				scatterErr = s.scatter(r, res, out)
			} else {
				for _, t := range res.outs { // just free them
					t.FinalizeAll()
				}
			}
		}
	}()
	defer func() {
		close(results)
		<-scattered
		if err == nil {
			err = scatterErr
		}
	}()

	for pos := 0; ; {
		remaining, active := 0, 0
		for _, st := range rows {
			if st != nil {
				remaining = max(remaining, st.len()-pos)
				active++
			}
		}
		if active == 0 {
			break
		}
		if nb := s.streamBucket(active); nb < b && active <= b/4 { // shrink: compact the active rows
			keep := make([]int, 0, active)
			for i, st := range rows {
				if st != nil {
					keep = append(keep, i)
				}
			}
			var err error
			if kCache, err = s.selectRows(r, kCache, keep, nb); err != nil {
				return hidden, err
			}
			if vCache, err = s.selectRows(r, vCache, keep, nb); err != nil {
				return hidden, err
			}
			nextRows, nextSeg := make([]*stream, nb), make([][]int32, nb)
			for j := range nb {
				nextSeg[j] = filled(cl, -2)
			}
			for j, i := range keep {
				nextRows[j], nextSeg[j] = rows[i], cacheSeg[i]
			}
			rows, cacheSeg, b = nextRows, nextSeg, nb
		}

		c := s.chunkFor(remaining)
		tok := make([]int32, b*c)
		seg := filled(b*c, -1)
		cseg := make([]int32, 0, b*cl)
		for i, st := range rows {
			cseg = append(cseg, cacheSeg[i]...)
			if st == nil {
				continue
			}
			for j := range min(c, max(0, st.len()-pos)) {
				d, k := st.tokDoc[pos+j], st.tokIdx[pos+j]
				tok[i*c+j] = docs[d][k]
				seg[i*c+j] = d
			}
		}
		cos, sin, cached := s.ropeTensors(r, pos, c)
		args := []*tensors.Tensor{
			tensors.FromFlatDataAndDimensions(tok, b, c),
			tensors.FromFlatDataAndDimensions(seg, b, c),
			tensors.FromFlatDataAndDimensions(cseg, b, cl),
			cos, sin,
			kCache, vCache,
		}
		args = append(args, r.weights...)
		s.mu.Lock()
		s.compiled[[3]int{b, c, boolIdx(wantHidden)}] = true
		s.mu.Unlock()
		s.slots.Add(int64(b * c))
		res, _, err := s.execs[execKey{wantHidden, b}].ExecWithGraphOnDevice(r.dev, args)
		if err != nil {
			return hidden, fmt.Errorf("forward (streams %d, chunk %d, %s device %d): %w", b, c, s.Backend(), r.dev, err)
		}
		for i, t := range args[:numDataInputs] {
			if t != fresh && !(cached && (i == 3 || i == 4)) {
				t.FinalizeAll()
			}
		}
		kCache, vCache = res[2], res[3]
		outs := []*tensors.Tensor{res[0], res[1]}
		if wantHidden {
			hidden = append(hidden, chunkHidden{t: res[4], rows: slices.Clone(rows), pos: pos, c: c})
		}
		// The next chunk depends on this one only through the caches, which
		// stay on the device: its results are copied out while the device
		// runs the next chunk (Execute blocks until the device is done).
		results <- chunkResult{outs: outs, rows: slices.Clone(rows), pos: pos, c: c}
		for i, st := range rows {
			// The row's cache now ends with this chunk's segment ids.
			joined := append(cacheSeg[i], seg[i*c:(i+1)*c]...)
			cacheSeg[i] = slices.Clone(joined[len(joined)-cl:])
			if st != nil && st.len() <= pos+c {
				rows[i] = nil
			}
		}
		pos += c
	}
	if kCache != fresh {
		kCache.FinalizeAll()
		vCache.FinalizeAll()
	}
	return hidden, nil
}

// chunkResult is one forward call's per-token outputs (on the device) and
// where they go: row i of the call is stream rows[i] from position pos.
type chunkResult struct {
	outs   []*tensors.Tensor // entropy, prominence
	rows   []*stream
	pos, c int
}

// chunkHidden is one forward call's hidden states [B, C, dim] on the
// device, placed like a chunkResult.
type chunkHidden struct {
	t      *tensors.Tensor
	rows   []*stream
	pos, c int
}

// scatter copies a chunk's entropies and prominences into the documents'
// scores and frees them, through the replica's reusable host buffers.
func (s *Scorer) scatter(rep *replica, r chunkResult, out []DocScore) error {
	defer func() {
		for _, t := range r.outs {
			t.FinalizeAll()
		}
	}()
	for o, t := range r.outs {
		n := t.Shape().Size()
		if cap(rep.host[o]) < n {
			rep.host[o] = make([]float32, n)
		}
		vals := rep.host[o][:n]
		buf, err := t.Buffer(s.backend, rep.dev)
		if err != nil {
			return fmt.Errorf("forward output %d: %w", o, err)
		}
		if err := s.backend.BufferToFlatData(buf, vals); err != nil {
			return fmt.Errorf("forward output %d to host: %w", o, err)
		}
		for i, st := range r.rows {
			if st == nil {
				continue
			}
			for j := range min(r.c, max(0, st.len()-r.pos)) {
				d, k := st.tokDoc[r.pos+j], st.tokIdx[r.pos+j]
				if o == 0 {
					out[d].Entropies[k] = vals[i*r.c+j]
				} else {
					out[d].Prominence[k] = vals[i*r.c+j]
				}
			}
		}
	}
	return nil
}

// chunkFor picks the smallest chunk bucket that covers the remaining tokens
// of the longest active stream, or the largest bucket.
func (s *Scorer) chunkFor(remaining int) int {
	for _, c := range s.chunks {
		if c >= remaining {
			return c
		}
	}
	return s.chunks[len(s.chunks)-1]
}

// zeroCaches returns the empty [L, b, W−1, K, D] key or value cache for b
// streams, made once per replica and b.
func (s *Scorer) zeroCaches(r *replica, b int) *tensors.Tensor {
	if t, ok := r.zeros[b]; ok {
		return t
	}
	t := s.newZeroCache(b)
	r.zeros[b] = t
	return t
}

// ropeTensors returns the [c, D/2] cos and sin tables for positions
// start…start+c−1, and whether they are the replica's cached ones (which
// the caller must not finalize).
func (s *Scorer) ropeTensors(r *replica, start, c int) (cos, sin *tensors.Tensor, cached bool) {
	half := s.cfg.HeadDimension() / 2
	key := [2]int{start, c}
	if t, ok := r.rope[key]; ok {
		return t[0], t[1], true
	}
	cf, sf := ropeTable(start, c, s.cfg.HeadDimension(), s.cfg.RopeTheta)
	cos, sin = tensors.FromFlatDataAndDimensions(cf, c, half), tensors.FromFlatDataAndDimensions(sf, c, half)
	if start+c > ropeCacheEnd {
		return cos, sin, false
	}
	r.rope[key] = [2]*tensors.Tensor{cos, sin}
	return cos, sin, true
}

func (s *Scorer) newZeroCache(b int) *tensors.Tensor {
	cfg := s.cfg
	dims := []int{cfg.NLayers, b, cfg.cacheLen(), cfg.KVHeads(), cfg.HeadDimension()}
	switch s.dtype {
	case dtypes.BFloat16:
		return tensors.FromFlatDataAndDimensions(make([]bfloat16.BFloat16, prod(dims)), dims...)
	case dtypes.Float16:
		return tensors.FromFlatDataAndDimensions(make([]float16.Float16, prod(dims)), dims...)
	}
	return tensors.FromFlatDataAndDimensions(make([]float32, prod(dims)), dims...)
}

// selectRows keeps rows `keep` (axis 1) of a cache, padded to nb rows with
// copies of row 0 (padding rows' keys are masked by their segment ids). The
// gather runs on the replica's device: a round trip through host memory
// moved ~700 MB per shrink at the real size and left the GPU idle.
func (s *Scorer) selectRows(r *replica, t *tensors.Tensor, keep []int, nb int) (*tensors.Tensor, error) {
	idx := make([]int32, nb)
	for j, i := range keep {
		idx[j] = int32(i)
	}
	in := tensors.FromFlatDataAndDimensions(idx, nb)
	defer in.FinalizeAll()
	res, _, err := s.selectX.ExecWithGraphOnDevice(r.dev, []*tensors.Tensor{t, in})
	if err != nil {
		return nil, fmt.Errorf("gather cache rows: %w", err)
	}
	if t != r.zeros[t.Shape().Dimensions[1]] {
		t.FinalizeAll()
	}
	return res[0], nil
}

// selectCacheRows is the graph of selectRows: cache [L, B, …], idx [nb]
// → [L, nb, …].
func selectCacheRows(cache, idx *graph.Node) *graph.Node {
	perm := make([]int, cache.Rank())
	for i := range perm {
		perm[i] = i
	}
	perm[0], perm[1] = 1, 0
	rows := graph.Gather(graph.TransposeAllDims(cache, perm...), graph.InsertAxes(idx, -1))
	return graph.TransposeAllDims(rows, perm...)
}

// ropeTable returns cos and sin of pos·θ^(−2i/D) for positions
// start…start+n−1 and i < D/2, computed in float64 so that long streams keep
// full float32 precision.
func ropeTable(start, n, headDim int, theta float64) (cos, sin []float32) {
	half := headDim / 2
	cos, sin = make([]float32, n*half), make([]float32, n*half)
	freqs := make([]float64, half)
	for i := range freqs {
		freqs[i] = math.Pow(theta, -float64(2*i)/float64(headDim))
	}
	for p := range n {
		for i, freq := range freqs {
			a := float64(start+p) * freq
			cos[p*half+i] = float32(math.Cos(a))
			sin[p*half+i] = float32(math.Sin(a))
		}
	}
	return cos, sin
}

func filled(n int, v int32) []int32 {
	s := make([]int32, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func prod(dims []int) int {
	p := 1
	for _, d := range dims {
		p *= d
	}
	return p
}

func boolIdx(b bool) int {
	if b {
		return 1
	}
	return 0
}

// bitsLen is the number of bits needed for n (n ≥ 1).
func bitsLen(n int) int {
	l := 0
	for ; n > 0; n >>= 1 {
		l++
	}
	return l
}
