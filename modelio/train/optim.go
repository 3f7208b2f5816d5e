package train

import (
	"math"

	"github.com/bltpipe/bltpipe/modelio"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX graph code reads best with its ops unqualified.
)

// Hyper holds the optimiser's hyper-parameters.
type Hyper struct {
	LR          float64 `json:"lr"`           // peak learning rate
	MinLRFrac   float64 `json:"min_lr_frac"`  // the cosine decays to MinLRFrac·LR at the last step
	Warmup      int     `json:"warmup"`       // steps of linear warmup from 0 to LR
	WeightDecay float64 `json:"weight_decay"` // decoupled (AdamW); not applied to norms or embeddings
	Beta1       float64 `json:"beta1"`
	Beta2       float64 `json:"beta2"`
	Eps         float64 `json:"eps"`
	ClipNorm    float64 `json:"clip_norm"` // global gradient norm clip; 0 disables
}

// DefaultHyper returns the defaults of `bltpipe train`.
func DefaultHyper() Hyper {
	return Hyper{LR: 3e-3, MinLRFrac: 0.1, Warmup: 200, WeightDecay: 0.1, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, ClipNorm: 1}
}

// LRAt is the learning rate of step (0-based) of a run of total steps:
// linear warmup over the first Warmup steps (step 0 gets LR/Warmup), then a
// cosine from LR down to MinLRFrac·LR at the last step.
func (h Hyper) LRAt(step, total int) float64 {
	if step < h.Warmup {
		return h.LR * float64(step+1) / float64(h.Warmup)
	}
	span := total - 1 - h.Warmup
	if span <= 0 {
		return h.LR
	}
	p := math.Min(1, float64(step-h.Warmup)/float64(span))
	minLR := h.MinLRFrac * h.LR
	return minLR + 0.5*(h.LR-minLR)*(1+math.Cos(math.Pi*p))
}

// decays reports whether AdamW's weight decay applies to parameter i
// (modelio.ParamNames order): every matrix but the token embeddings.
func decays(i int) bool { return i != 0 && !modelio.IsNormParam(i) }

// model fixes the shapes and arithmetic of the compiled graphs.
type model struct {
	cfg   modelio.Config
	dtype dtypes.DType
	hyper Hyper
}

// Inputs of the training step graph, in order: tokens, segs, targets [B,
// T] int32, weights [B, T] f32, lr, bc1 = 1−β1^t, bc2 = 1−β2^t (f32
// scalars), then the P parameters, P first moments and P second moments
// (f32, modelio.ParamNames order). Outputs: mean loss (nats), global
// gradient norm before clipping, then the updated parameters, first and
// second moments.
const stepDataInputs = 7

// lossSums returns Σ weight·(−ln p(target)) and Σ weight over the batch.
func (m model) lossSums(tokens, segs, targets, weights *Node, params []*Node) (sum, count *Node) {
	logits := modelio.ForwardLogits(m.cfg, m.dtype, tokens, segs, params) // [B, T, V]
	logp := LogSoftmax(logits, -1)
	onehot := OneHot(targets, m.cfg.VocabSize, dtypes.Float32)
	nll := Neg(ReduceSum(Mul(onehot, logp), -1)) // [B, T]
	return ReduceAllSum(Mul(nll, weights)), ReduceAllSum(weights)
}

// stepGraph is one AdamW step with global-norm clipping.
func (m model) stepGraph(in []*Node) []*Node {
	tokens, segs, targets, weights := in[0], in[1], in[2], in[3]
	lr, bc1, bc2 := in[4], in[5], in[6]
	rest := in[stepDataInputs:]
	np := len(rest) / 3
	params, mom1, mom2 := rest[:np], rest[np:2*np], rest[2*np:]

	sum, count := m.lossSums(tokens, segs, targets, weights, params)
	loss := Div(sum, Max(count, OnesLike(count)))
	grads := Gradient(loss, params...)

	gsq := ReduceAllSum(Square(grads[0]))
	for _, g := range grads[1:] {
		gsq = Add(gsq, ReduceAllSum(Square(g)))
	}
	gnorm := Sqrt(gsq)
	scale := OnesLike(gnorm)
	if m.hyper.ClipNorm > 0 {
		scale = MinScalar(Div(ConstAs(gnorm, m.hyper.ClipNorm), AddScalar(gnorm, 1e-6)), 1.0)
	}
	b1, b2 := m.hyper.Beta1, m.hyper.Beta2
	out := []*Node{loss, gnorm}
	newP, newM, newV := make([]*Node, np), make([]*Node, np), make([]*Node, np)
	for i, p := range params {
		g := Mul(grads[i], scale)
		mi := Add(MulScalar(mom1[i], b1), MulScalar(g, 1-b1))
		vi := Add(MulScalar(mom2[i], b2), MulScalar(Square(g), 1-b2))
		update := Div(Div(mi, bc1), AddScalar(Sqrt(Div(vi, bc2)), m.hyper.Eps))
		if decays(i) && m.hyper.WeightDecay > 0 {
			update = Add(update, MulScalar(p, m.hyper.WeightDecay))
		}
		newP[i] = Sub(p, Mul(lr, update))
		newM[i], newV[i] = mi, vi
	}
	out = append(out, newP...)
	out = append(out, newM...)
	return append(out, newV...)
}

// evalGraph returns the loss sums of a batch: inputs tokens, segs,
// targets, weights, then the parameters.
func (m model) evalGraph(in []*Node) []*Node {
	sum, count := m.lossSums(in[0], in[1], in[2], in[3], in[4:])
	return []*Node{sum, count}
}
