package train

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/bltpipe/bltpipe/modelio"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Options configure a training run.
type Options struct {
	Config modelio.Config // the model; Validate must pass
	Hyper  Hyper

	SeqLen int    // tokens per row
	Batch  int    // rows per step
	Steps  int    // total steps of the run (the schedule's length)
	Seed   uint64 // initial weights and data order

	// Backend is a GoMLX backend config as modelio.OpenBackend takes it.
	Backend string
	// DType is the matmul dtype, "f32" or "bf16"; "" picks f32 on the CPU
	// backend and bf16 elsewhere. Master weights and AdamW state are f32.
	DType string

	LogEvery        int // steps between loss lines; 0 means 50
	EvalEvery       int // steps between evaluations; 0 means only at the end
	EvalBatches     int // batches per evaluation set; 0 means all of it
	CheckpointEvery int // steps between checkpoints; 0 means only at the end

	// Checkpoint is the checkpoint file; "" disables checkpoints.
	Checkpoint string
	// Resume continues from Checkpoint when that file exists.
	Resume bool
	// StopAfter ends the run after this many completed steps (and writes a
	// checkpoint) as if it had been interrupted; 0 runs to Steps.
	StopAfter int

	Log io.Writer // progress lines; nil discards them
}

// EvalSet is a named set of held-out documents.
type EvalSet struct {
	Name string
	Docs [][]byte
}

// EvalResult is the model's score on one EvalSet.
type EvalResult struct {
	Name        string  `json:"name"`
	BitsPerByte float64 `json:"bits_per_byte"`         // mean −log2 p(byte) over every byte predicted
	UnigramBits float64 `json:"unigram_bits_per_byte"` // the set's own byte entropy (bits per byte)
	Bytes       int     `json:"bytes"`                 // predictions counted
}

// Result summarises a run.
type Result struct {
	Weights   *modelio.Weights // final weights, float32
	FirstStep int              // 0, or the step the run resumed at
	Losses    []float64        // training loss (nats per token) of steps FirstStep, FirstStep+1, …
	Eval      []EvalResult     // the last evaluation
	Wall      time.Duration    // time spent in training steps
	Tokens    int64            // tokens (row slots) trained on by this run
	Stopped   bool             // ended by StopAfter before Steps
}

func (o *Options) check() error {
	if err := o.Config.Validate(); err != nil {
		return fmt.Errorf("model config: %w", err)
	}
	switch {
	case o.SeqLen < 2:
		return fmt.Errorf("seq-len must be ≥ 2, got %d", o.SeqLen)
	case o.Batch < 1:
		return fmt.Errorf("batch must be ≥ 1, got %d", o.Batch)
	case o.Steps < 1:
		return fmt.Errorf("steps must be ≥ 1, got %d", o.Steps)
	case o.Hyper.LR <= 0:
		return fmt.Errorf("lr must be > 0, got %g", o.Hyper.LR)
	case o.Hyper.Warmup < 0:
		return fmt.Errorf("warmup must be ≥ 0, got %d", o.Hyper.Warmup)
	case o.Hyper.Beta1 < 0 || o.Hyper.Beta1 >= 1 || o.Hyper.Beta2 < 0 || o.Hyper.Beta2 >= 1:
		return fmt.Errorf("betas must be in [0, 1), got %g, %g", o.Hyper.Beta1, o.Hyper.Beta2)
	case o.Resume && o.Checkpoint == "":
		return errors.New("resume needs a checkpoint path")
	}
	return nil
}

// InitParams returns the initial weights in modelio.ParamNames order, the
// same for the same config and seed: matrices N(0, 0.02²), the residual
// projections wo and w2 further scaled by 1/sqrt(2·n_layers), norm scales 1.
func InitParams(cfg modelio.Config, seed uint64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 0x696e6974)) // "init"
	names, shapes := modelio.ParamNames(cfg), modelio.ParamShapes(cfg)
	out := make([][]float32, len(names))
	resid := 0.02 / math.Sqrt(2*float64(cfg.NLayers))
	for i, n := range names {
		size := 1
		for _, d := range shapes[i] {
			size *= d
		}
		v := make([]float32, size)
		if modelio.IsNormParam(i) {
			for j := range v {
				v[j] = 1
			}
		} else {
			std := 0.02
			if isResidual(n) {
				std = resid
			}
			for j := range v {
				v[j] = float32(std * r.NormFloat64())
			}
		}
		out[i] = v
	}
	return out
}

func isResidual(name string) bool {
	return strings.HasSuffix(name, ".attention.wo.weight") || strings.HasSuffix(name, ".feed_forward.w2.weight")
}

// Run trains on docs and evaluates on evals. See Options and the package
// comment for what is deterministic.
func Run(o Options, docs [][]byte, evals []EvalSet) (*Result, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	rows := PackRows(docs, o.SeqLen)
	if rows.N == 0 {
		return nil, errors.New("train: the corpus has no documents")
	}
	be, err := modelio.OpenBackend(o.Backend)
	if err != nil {
		return nil, err
	}
	dt, dtName := dtypes.Float32, "f32"
	switch o.DType {
	case "":
		if !modelio.IsCPUBackend(be) {
			dt, dtName = dtypes.BFloat16, "bf16"
		}
	case "f32", "float32":
	case "bf16", "bfloat16":
		dt, dtName = dtypes.BFloat16, "bf16"
	default:
		return nil, fmt.Errorf("unknown dtype %q (want f32 or bf16)", o.DType)
	}
	m := model{cfg: o.Config, dtype: dt, hyper: o.Hyper}
	key := runKey{SeqLen: o.SeqLen, Batch: o.Batch, Steps: o.Steps, Seed: o.Seed, Hyper: o.Hyper, DType: dtName}

	st := state{params: InitParams(o.Config, o.Seed)}
	if o.Resume {
		if _, err := os.Stat(o.Checkpoint); err == nil {
			if st, err = loadCheckpoint(o.Checkpoint, o.Config, key); err != nil {
				return nil, err
			}
			fmt.Fprintf(log, "resumed from %s at step %d\n", o.Checkpoint, st.step)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("resume: %w", err)
		} else {
			fmt.Fprintf(log, "no checkpoint at %s; starting from scratch\n", o.Checkpoint)
		}
	}
	if st.m == nil {
		for _, p := range st.params {
			st.m = append(st.m, make([]float32, len(p)))
			st.v = append(st.v, make([]float32, len(p)))
		}
	}
	shapes := modelio.ParamShapes(o.Config)
	np := len(shapes)

	stepExec, err := graph.NewExec(be, m.stepGraph)
	if err != nil {
		return nil, fmt.Errorf("build training graph: %w", err)
	}
	defer stepExec.Finalize()
	evalExec, err := graph.NewExec(be, m.evalGraph)
	if err != nil {
		return nil, fmt.Errorf("build evaluation graph: %w", err)
	}
	defer evalExec.Finalize()

	fmt.Fprintf(log, "model: dim %d, %d layers, %d heads (%d kv), window %d, %d parameters; backend %s, matmuls %s\n",
		o.Config.Dim, o.Config.NLayers, o.Config.NHeads, o.Config.KVHeads(), o.Config.SlidingWindow, o.Config.NumParams(), be.Name(), dtName)
	fmt.Fprintf(log, "data: %d documents, %d bytes, %d rows of %d tokens; %d steps of %d rows (%.2f epochs)\n",
		len(docs), rows.Bytes, rows.N, o.SeqLen, o.Steps, o.Batch, float64(o.Steps*o.Batch)/float64(rows.N))

	// Device-side state: params, then m, then v.
	dev := make([]*tensors.Tensor, 3*np)
	for k, vals := range [][][]float32{st.params, st.m, st.v} {
		for i, d := range vals {
			dev[k*np+i] = tensors.FromFlatDataAndDimensions(slices.Clone(d), shapes[i]...)
		}
	}
	defer func() {
		for _, t := range dev {
			t.FinalizeAll()
		}
	}()
	toHost := func() (state, error) {
		s := state{}
		for k, dst := range []*[][]float32{&s.params, &s.m, &s.v} {
			for i := range np {
				d, err := tensors.CopyFlatData[float32](dev[k*np+i])
				if err != nil {
					return s, err
				}
				*dst = append(*dst, d)
			}
		}
		return s, nil
	}
	checkpoint := func(step int) error {
		if o.Checkpoint == "" {
			return nil
		}
		s, err := toHost()
		if err != nil {
			return err
		}
		s.step = step
		if err := saveCheckpoint(o.Checkpoint, o.Config, key, s); err != nil {
			return err
		}
		fmt.Fprintf(log, "checkpoint: step %d written to %s\n", step, o.Checkpoint)
		return nil
	}
	evaluate := func(step int) ([]EvalResult, error) {
		var res []EvalResult
		for _, es := range evals {
			r, err := evalSet(evalExec, o, es, dev[:np])
			if err != nil {
				return nil, fmt.Errorf("evaluate %s: %w", es.Name, err)
			}
			fmt.Fprintf(log, "eval step %d %s: %.4f bits/byte over %d bytes (unigram %.4f, %.1f%% below)\n",
				step, es.Name, r.BitsPerByte, r.Bytes, r.UnigramBits, 100*(1-r.BitsPerByte/r.UnigramBits))
			res = append(res, r)
		}
		return res, nil
	}

	res := &Result{FirstStep: st.step}
	ord := &order{n: o.Batch, rows: rows.N, seed: o.Seed}
	logEvery := o.LogEvery
	if logEvery <= 0 {
		logEvery = 50
	}
	b1, b2 := o.Hyper.Beta1, o.Hyper.Beta2
	var sinceLog float64
	var nLog int
	last := time.Now()
	lastTokens := int64(0)
	for step := st.step; step < o.Steps; step++ {
		bt := rows.batch(ord.rowsFor(step), false)
		t := float64(step + 1)
		args := []any{
			tensors.FromFlatDataAndDimensions(bt.Tokens, bt.B, bt.T),
			tensors.FromFlatDataAndDimensions(bt.Segs, bt.B, bt.T),
			tensors.FromFlatDataAndDimensions(bt.Targets, bt.B, bt.T),
			tensors.FromFlatDataAndDimensions(bt.Weights, bt.B, bt.T),
			float32(o.Hyper.LRAt(step, o.Steps)),
			float32(1 - math.Pow(b1, t)),
			float32(1 - math.Pow(b2, t)),
		}
		for _, d := range dev {
			args = append(args, d)
		}
		t0 := time.Now()
		out, err := stepExec.Exec(args...)
		if err != nil {
			return nil, fmt.Errorf("training step %d: %w", step, err)
		}
		for _, a := range args[:4] {
			a.(*tensors.Tensor).FinalizeAll()
		}
		for _, d := range dev {
			d.FinalizeAll()
		}
		copy(dev, out[2:])
		loss := tensors.ToScalar[float32](out[0])
		gnorm := tensors.ToScalar[float32](out[1])
		out[0].FinalizeAll()
		out[1].FinalizeAll()
		res.Wall += time.Since(t0)
		res.Tokens += int64(bt.B * bt.T)
		if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
			return nil, fmt.Errorf("training step %d: loss is %v; lower --lr or raise --warmup", step, loss)
		}
		res.Losses = append(res.Losses, float64(loss))
		sinceLog += float64(loss)
		nLog++
		done := step + 1
		if done%logEvery == 0 || done == o.Steps {
			el := time.Since(last)
			fmt.Fprintf(log, "step %d/%d loss %.4f (%.3f bits/token) lr %.3g gnorm %.3f %.0f tokens/s\n",
				done, o.Steps, sinceLog/float64(nLog), sinceLog/float64(nLog)/math.Ln2,
				o.Hyper.LRAt(step, o.Steps), gnorm, float64(res.Tokens-lastTokens)/el.Seconds())
			sinceLog, nLog, last, lastTokens = 0, 0, time.Now(), res.Tokens
		}
		if o.EvalEvery > 0 && done%o.EvalEvery == 0 && done != o.Steps {
			if _, err := evaluate(done); err != nil {
				return nil, err
			}
		}
		stop := o.StopAfter > 0 && done >= o.StopAfter && done < o.Steps
		if (o.CheckpointEvery > 0 && done%o.CheckpointEvery == 0) || done == o.Steps || stop {
			if err := checkpoint(done); err != nil {
				return nil, err
			}
		}
		if stop {
			res.Stopped = true
			break
		}
	}
	if !res.Stopped {
		if res.Eval, err = evaluate(o.Steps); err != nil {
			return nil, err
		}
	}
	final, err := toHost()
	if err != nil {
		return nil, err
	}
	if res.Weights, err = modelio.WeightsFromParams(o.Config, final.params); err != nil {
		return nil, err
	}
	return res, nil
}

// evalSet computes the bits per byte of params on one evaluation set.
func evalSet(exec *graph.Exec, o Options, es EvalSet, params []*tensors.Tensor) (EvalResult, error) {
	rows := PackRows(es.Docs, o.SeqLen)
	r := EvalResult{Name: es.Name, UnigramBits: UnigramBits(es.Docs)}
	var sum, count float64
	for start, nb := 0, 0; start < rows.N; start, nb = start+o.Batch, nb+1 {
		if o.EvalBatches > 0 && nb >= o.EvalBatches {
			break
		}
		idx := make([]int, o.Batch)
		for i := range idx {
			idx[i] = start + i
			if idx[i] >= rows.N {
				idx[i] = -1
			}
		}
		bt := rows.batch(idx, true)
		args := []any{
			tensors.FromFlatDataAndDimensions(bt.Tokens, bt.B, bt.T),
			tensors.FromFlatDataAndDimensions(bt.Segs, bt.B, bt.T),
			tensors.FromFlatDataAndDimensions(bt.Targets, bt.B, bt.T),
			tensors.FromFlatDataAndDimensions(bt.Weights, bt.B, bt.T),
		}
		for _, p := range params {
			args = append(args, p)
		}
		out, err := exec.Exec(args...)
		if err != nil {
			return r, err
		}
		for _, a := range args[:4] {
			a.(*tensors.Tensor).FinalizeAll()
		}
		sum += float64(tensors.ToScalar[float32](out[0]))
		count += float64(tensors.ToScalar[float32](out[1]))
		out[0].FinalizeAll()
		out[1].FinalizeAll()
	}
	r.Bytes = int(count)
	if count > 0 {
		r.BitsPerByte = sum / count / math.Ln2
	}
	return r, nil
}

// Evaluate computes w's bits per byte on each set, packing rows of
// o.SeqLen tokens into batches of o.Batch rows on o.Backend with o.DType
// (o.EvalBatches caps the batches per set). Other options are ignored.
func Evaluate(w *modelio.Weights, sets []EvalSet, o Options) ([]EvalResult, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	if o.SeqLen < 2 || o.Batch < 1 {
		return nil, fmt.Errorf("evaluate: seq-len %d and batch %d must be ≥ 2 and ≥ 1", o.SeqLen, o.Batch)
	}
	be, err := modelio.OpenBackend(o.Backend)
	if err != nil {
		return nil, err
	}
	dt := dtypes.Float32
	switch o.DType {
	case "":
		if !modelio.IsCPUBackend(be) {
			dt = dtypes.BFloat16
		}
	case "f32", "float32":
	case "bf16", "bfloat16":
		dt = dtypes.BFloat16
	default:
		return nil, fmt.Errorf("unknown dtype %q (want f32 or bf16)", o.DType)
	}
	m := model{cfg: w.Config, dtype: dt}
	exec, err := graph.NewExec(be, m.evalGraph)
	if err != nil {
		return nil, fmt.Errorf("build evaluation graph: %w", err)
	}
	defer exec.Finalize()
	shapes := modelio.ParamShapes(w.Config)
	var params []*tensors.Tensor
	for i, d := range modelio.ParamValues(w) {
		params = append(params, tensors.FromFlatDataAndDimensions(slices.Clone(d), shapes[i]...))
	}
	defer func() {
		for _, p := range params {
			p.FinalizeAll()
		}
	}()
	var res []EvalResult
	for _, es := range sets {
		r, err := evalSet(exec, o, es, params)
		if err != nil {
			return nil, fmt.Errorf("evaluate %s: %w", es.Name, err)
		}
		res = append(res, r)
	}
	return res, nil
}
