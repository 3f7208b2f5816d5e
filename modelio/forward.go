package modelio

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX graph code reads best with its ops unqualified.
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// The forward pass works on a batch of B independent *streams*, C tokens of
// each at a time (a chunk). A stream is a concatenation of documents; the
// attention of every layer keeps a cache of the last W−1 keys and values of
// its stream (W = sliding window), so a chunk sees exactly the keys an
// unchunked pass would show it: causal, same document, at most W keys
// including itself. Long documents flow through many chunks; short ones are
// packed one after another in a stream. Chunk shapes are fixed, so one
// compiled graph serves any corpus.
//
// Graph inputs, in order (see chunkInputs):
//
//	tokens   [B, C] int32   BLT tokens of the chunk
//	segs     [B, C] int32   document id of each token within its stream (padding: -1)
//	cacheSeg [B, W-1] int32 document id of each cached key (none yet: -2)
//	cos, sin [C, D/2] f32   RoPE table at the chunk's stream positions
//	kCache   [L, B, W-1, K, D] cached keys (RoPE applied) per layer, compute dtype
//	vCache   [L, B, W-1, K, D] cached values
//	weights… in weightOrder
//
// Outputs: entropy [B, C] f32 (nats), prominence [B, C] f32, new kCache,
// new vCache, and, when hidden states are asked for, hidden [B, C, dim] f32.
const numDataInputs = 7

// forwardSpec fixes what a compiled chunk graph computes.
type forwardSpec struct {
	cfg        Config
	dtype      dtypes.DType // compute dtype for matmuls: Float32 or BFloat16
	wantHidden bool
}

// cacheLen is the number of keys per stream carried between chunks.
func (c Config) cacheLen() int { return c.window() - 1 }

// window is the number of keys a query sees, itself included.
func (c Config) window() int {
	if c.SlidingWindow > 0 {
		return c.SlidingWindow
	}
	// Unlimited attention is bounded by the positions the model was trained on.
	return max(c.MaxSeqLen, 1)
}

// weightOrder lists the weight tensors as graph inputs: tok_embeddings,
// norm, output, then the nine tensors of each layer in LayerTensorNames order.
func weightOrder(w *Weights) [][]float32 {
	out := [][]float32{w.TokEmbeddings, w.Norm, w.Output}
	for i := range w.Layers {
		for _, f := range w.Layers[i].Fields() {
			out = append(out, *f)
		}
	}
	return out
}

// weightDims gives the dimensions of each tensor in weightOrder.
func weightDims(c Config) [][]int {
	out := [][]int{{c.VocabSize, c.Dim}, {c.Dim}, {c.VocabSize, c.Dim}}
	for range c.NLayers {
		for _, s := range c.LayerShapes() {
			if s[1] == 0 {
				out = append(out, []int{s[0]})
			} else {
				out = append(out, []int{s[0], s[1]})
			}
		}
	}
	return out
}

// isNormWeight reports whether weight input i (in weightOrder) is an RMSNorm
// scale; norms stay float32 whatever the compute dtype.
func isNormWeight(i int) bool {
	if i < 3 {
		return i == 1
	}
	j := (i - 3) % 9
	return j == 7 || j == 8
}

// buildChunkGraph is the graph function of one chunk step.
func (spec forwardSpec) buildChunkGraph(inputs []*Node) []*Node {
	cfg := spec.cfg
	tokens, segs, cacheSeg := inputs[0], inputs[1], inputs[2]
	cos, sin := inputs[3], inputs[4]
	kCache, vCache := inputs[5], inputs[6]
	weights := inputs[numDataInputs:]
	if len(weights) != 3+9*cfg.NLayers {
		panic(fmt.Sprintf("modelio: chunk graph got %d weight inputs, want %d", len(weights), 3+9*cfg.NLayers))
	}
	b, c := tokens.Shape().Dimensions[0], tokens.Shape().Dimensions[1]
	segs.AssertDims(b, c)
	cacheSeg.AssertDims(b, cfg.cacheLen())

	mask := attentionMask(segs, cacheSeg, cfg.window()) // [B, C, W-1+C] bool

	x := Gather(weights[0], InsertAxes(tokens, -1)) // [B, C, dim]
	x = ConvertDType(x, dtypes.Float32)             // the residual stream stays f32
	var newK, newV []*Node
	for l := range cfg.NLayers {
		lw := weights[3+9*l : 3+9*(l+1)]
		kc := Squeeze(SliceAxis(kCache, 0, AxisElem(l)), 0)
		vc := Squeeze(SliceAxis(vCache, 0, AxisElem(l)), 0)
		h := spec.rmsNorm(x, lw[7])
		attn, k, v := spec.attention(h, lw[0], lw[1], lw[2], lw[3], cos, sin, kc, vc, mask)
		x = Add(x, attn)
		x = Add(x, spec.feedForward(spec.rmsNorm(x, lw[8]), lw[4], lw[6], lw[5]))
		newK, newV = append(newK, k), append(newV, v)
	}
	// x is the pre-norm hidden state: the residual stream before the final norm.
	prominence := Sqrt(ReduceSum(Square(x), -1)) // [B, C]
	logits := spec.matmulT(spec.rmsNorm(x, weights[1]), weights[2])
	entropy := entropyNats(ConvertDType(logits, dtypes.Float32)) // [B, C]
	out := []*Node{entropy, prominence, Stack(newK, 0), Stack(newV, 0)}
	if spec.wantHidden {
		out = append(out, x)
	}
	return out
}

// attentionMask returns [B, C, T] with T = W−1+C: query j of the chunk may
// see key k of (cache ++ chunk) iff both belong to the same document and
// j ≤ k ≤ j+W−1 (key k sits at relative position k−(W−1): causal, and at
// most W keys back including itself).
func attentionMask(segs, cacheSeg *Node, window int) *Node {
	g := segs.Graph()
	b, c := segs.Shape().Dimensions[0], segs.Shape().Dimensions[1]
	t := window - 1 + c
	keySeg := Concatenate([]*Node{cacheSeg, segs}, 1) // [B, T]
	same := Equal(InsertAxes(segs, -1), InsertAxes(keySeg, 1))
	q := Iota(g, shapes.Make(dtypes.Int32, c, t), 0)
	k := Iota(g, shapes.Make(dtypes.Int32, c, t), 1)
	inWindow := And(GreaterOrEqual(k, q), LessOrEqual(k, AddScalar(q, window-1)))
	return And(same, BroadcastToDims(InsertAxes(inWindow, 0), b, c, t))
}

// rmsNorm is x / sqrt(mean(x²) + eps) · w, computed in float32; the result
// has the compute dtype. x: [..., dim], w: [dim].
func (spec forwardSpec) rmsNorm(x, w *Node) *Node {
	x = ConvertDType(x, dtypes.Float32)
	ms := ReduceAndKeep(Square(x), ReduceMean, -1)
	y := Mul(Mul(x, Rsqrt(AddScalar(ms, spec.cfg.NormEps))), ExpandLeftToRank(w, x.Rank()))
	return ConvertDType(y, spec.dtype)
}

// matmulT multiplies x [..., in] by w^T, w in PyTorch's [out, in] layout.
func (spec forwardSpec) matmulT(x, w *Node) *Node {
	x = ConvertDType(x, spec.dtype)
	rank := x.Rank()
	return DotGeneral(x, []int{rank - 1}, nil, w, []int{1}, nil)
}

// rope rotates interleaved pairs (x[2i], x[2i+1]) of each head by the
// angle pos·θ^(−2i/D). x: [B, C, heads, D]; cos, sin: [C, D/2].
func rope(x, cos, sin *Node) *Node {
	dims := x.Shape().Dimensions
	b, c, h, d := dims[0], dims[1], dims[2], dims[3]
	pairs := Reshape(ConvertDType(x, dtypes.Float32), b, c, h, d/2, 2)
	x0 := Squeeze(SliceAxis(pairs, 4, AxisElem(0)), 4)
	x1 := Squeeze(SliceAxis(pairs, 4, AxisElem(1)), 4)
	cs := Reshape(cos, 1, c, 1, d/2)
	sn := Reshape(sin, 1, c, 1, d/2)
	r0 := Sub(Mul(x0, cs), Mul(x1, sn))
	r1 := Add(Mul(x0, sn), Mul(x1, cs))
	return ConvertDType(Reshape(Stack([]*Node{r0, r1}, 4), b, c, h, d), x.DType())
}

// attention runs one layer's attention for the chunk. h: [B, C, dim] (compute
// dtype); kc, vc: [B, W−1, K, D] caches. Returns the output [B, C, dim] f32
// and the caches for the next chunk.
func (spec forwardSpec) attention(h, wq, wk, wv, wo, cos, sin, kc, vc, mask *Node) (out, newK, newV *Node) {
	cfg := spec.cfg
	b, c := h.Shape().Dimensions[0], h.Shape().Dimensions[1]
	nh, nkv, d := cfg.NHeads, cfg.KVHeads(), cfg.HeadDimension()
	g := nh / nkv
	q := rope(Reshape(spec.matmulT(h, wq), b, c, nh, d), cos, sin)
	k := rope(Reshape(spec.matmulT(h, wk), b, c, nkv, d), cos, sin)
	v := Reshape(spec.matmulT(h, wv), b, c, nkv, d)
	keys := Concatenate([]*Node{kc, k}, 1) // [B, T, K, D]
	values := Concatenate([]*Node{vc, v}, 1)
	t := keys.Shape().Dimensions[1]
	cl := cfg.cacheLen()
	newK = SliceAxis(keys, 1, AxisRange(t-cl, t))
	newV = SliceAxis(values, 1, AxisRange(t-cl, t))

	q5 := Reshape(q, b, c, nkv, g, d)
	scores := Einsum("bqhgd,bkhd->bhgqk", q5, keys) // [B, K, G, C, T]
	scores = MulScalar(ConvertDType(scores, dtypes.Float32), 1/math.Sqrt(float64(d)))
	m := Reshape(mask, b, 1, 1, c, t)
	m = BroadcastToDims(m, b, nkv, g, c, t)
	scores = Where(m, scores, Infinity(scores.Graph(), dtypes.Float32, -1))
	probs := ConvertDType(Softmax(scores, -1), spec.dtype)
	ctx := Einsum("bhgqk,bkhd->bqhgd", probs, values) // [B, C, K, G, D]
	ctx = Reshape(ctx, b, c, nh*d)
	out = ConvertDType(spec.matmulT(ctx, wo), dtypes.Float32)
	return out, newK, newV
}

// feedForward is the SwiGLU FFN w2(silu(w1·x) ⊙ w3·x), result f32.
func (spec forwardSpec) feedForward(x, w1, w3, w2 *Node) *Node {
	gate := spec.matmulT(x, w1)
	up := spec.matmulT(x, w3)
	gate32 := ConvertDType(gate, dtypes.Float32)
	silu := Mul(gate32, Sigmoid(gate32))
	hid := Mul(ConvertDType(silu, spec.dtype), up)
	return ConvertDType(spec.matmulT(hid, w2), dtypes.Float32)
}

// entropyNats returns −Σ p ln p over the last axis of logits (f32).
func entropyNats(logits *Node) *Node {
	logp := LogSoftmax(logits, -1)
	return Neg(ReduceSum(Mul(Exp(logp), logp), -1))
}
