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
	// queryBlock is the preferred attention query block (0: the smallest
	// power of two ≥ W−1); see queryBlock.
	queryBlock int
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

	qb := queryBlock(c, cfg.window(), spec.queryBlock)
	mask := attentionMask(segs, cacheSeg, cfg.window(), qb) // [B, nb, Q, T] bool

	x := Gather(weights[0], InsertAxes(tokens, -1)) // [B, C, dim]
	x = ConvertDType(x, dtypes.Float32)             // the residual stream stays f32
	var newK, newV []*Node
	for l := range cfg.NLayers {
		lw := weights[3+9*l : 3+9*(l+1)]
		kc := Squeeze(SliceAxis(kCache, 0, AxisElem(l)), 0)
		vc := Squeeze(SliceAxis(vCache, 0, AxisElem(l)), 0)
		h := spec.rmsNorm(x, lw[7])
		attn, k, v := spec.attention(h, lw[0], lw[1], lw[2], lw[3], cos, sin, kc, vc, mask, qb)
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

// Attention is block-local: the chunk's C queries are split into nb blocks
// of Q queries, and block i attends to the W−1 keys before it (from the
// cache for the first blocks) plus its own Q keys. Cost per query is
// W−1+Q keys (rounded up to a multiple of Q), independent of the chunk
// length. Q is the preferred block (default:
// the smallest power of two ≥ W−1) when it divides C, else C. A smaller Q
// computes fewer masked scores but copies each key into more blocks.
func queryBlock(c, window, preferred int) int {
	q := preferred
	if q <= 0 {
		q = 1
		for q < max(window-1, 32) {
			q <<= 1
		}
	}
	if c <= q || c%q != 0 {
		return c
	}
	return q
}

// blockKeys lays x [B, C, …] (chunk rows) out as overlapping key blocks
// [B, nb, T, …], T = (p+1)·Q with p = ⌈(W−1)/Q⌉: block i holds rows
// i·Q−p·Q … i·Q+Q−1 of the stream, the rows before the chunk coming from
// cache [B, W−1, …] and, before those, pad = p·Q−(W−1) rows of zeros that
// no query sees (see keyPad). T is a multiple of Q, so rows of scores stay
// aligned (639 keys a row ran slower than 640 on the GPU).
func blockKeys(cache, x *Node, q int) *Node {
	dims := x.Shape().Dimensions
	b, c := dims[0], dims[1]
	rest := dims[2:]
	nb := c / q
	cl := cache.Shape().Dimensions[1]
	all := Concatenate([]*Node{cache, x}, 1) // [B, W−1+C, …]: row r is stream row r−(W−1)
	// Pad the front so that the rows before block 0 fill p whole blocks;
	// block i's keys are then blocks i … i+p of the padded rows.
	p := (cl + q - 1) / q
	if pad := p*q - cl; pad > 0 {
		all = Concatenate([]*Node{Zeros(x.Graph(), shapes.Make(x.DType(), append([]int{b, pad}, rest...)...)), all}, 1)
	}
	blocks := Reshape(all, append([]int{b, nb + p, q}, rest...)...)
	parts := make([]*Node, p+1)
	for s := range parts {
		parts[s] = SliceAxis(blocks, 1, AxisRange(s, s+nb))
	}
	return Concatenate(parts, 2) // [B, nb, (p+1)·Q, …]
}

// keyPad is the number of zero rows that lead each key block of blockKeys.
func keyPad(window, q int) int {
	cl := window - 1
	return (cl+q-1)/q*q - cl
}

// attentionMask returns [B, nb, Q, T] (T as in blockKeys): query j of a
// block may see key m of its key block iff both belong to the same document
// and j ≤ m−pad ≤ j+W−1 (key m sits at relative position m−pad−(W−1):
// causal, and at most W keys back including itself; pad rows are never seen).
func attentionMask(segs, cacheSeg *Node, window, q int) *Node {
	g := segs.Graph()
	b, c := segs.Shape().Dimensions[0], segs.Shape().Dimensions[1]
	querySeg := Reshape(segs, b, c/q, q)
	keySeg := blockKeys(cacheSeg, segs, q) // [B, nb, T]
	nb, t := c/q, keySeg.Shape().Dimensions[2]
	same := Equal(InsertAxes(querySeg, -1), InsertAxes(keySeg, 2))
	qi := AddScalar(Iota(g, shapes.Make(dtypes.Int32, q, t), 0), keyPad(window, q))
	ki := Iota(g, shapes.Make(dtypes.Int32, q, t), 1)
	inWindow := And(GreaterOrEqual(ki, qi), LessOrEqual(ki, AddScalar(qi, window-1)))
	return And(same, BroadcastToDims(Reshape(inWindow, 1, 1, q, t), b, nb, q, t))
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
// dtype); kc, vc: [B, W−1, K, D] caches; mask from attentionMask with query
// blocks of q. Returns the output [B, C, dim] f32 and the caches for the
// next chunk (the last W−1 keys and values).
func (spec forwardSpec) attention(h, wq, wk, wv, wo, cos, sin, kc, vc, mask *Node, q int) (out, newK, newV *Node) {
	cfg := spec.cfg
	b, c := h.Shape().Dimensions[0], h.Shape().Dimensions[1]
	nh, nkv, d := cfg.NHeads, cfg.KVHeads(), cfg.HeadDimension()
	g, nb := nh/nkv, c/q
	// One matmul for q, k and v: the weights are joined in the graph (a few
	// MB per layer), the activations are read once.
	qkv := spec.matmulT(h, Concatenate([]*Node{wq, wk, wv}, 0))
	qs := rope(Reshape(SliceAxis(qkv, -1, AxisRange(0, nh*d)), b, c, nh, d), cos, sin)
	k := rope(Reshape(SliceAxis(qkv, -1, AxisRange(nh*d, (nh+nkv)*d)), b, c, nkv, d), cos, sin)
	v := Reshape(SliceAxis(qkv, -1, AxisRange((nh+nkv)*d, (nh+2*nkv)*d)), b, c, nkv, d)
	all := Concatenate([]*Node{kc, k}, 1) // [B, W−1+C, K, D]
	allV := Concatenate([]*Node{vc, v}, 1)
	n, cl := all.Shape().Dimensions[1], cfg.cacheLen()
	newK = SliceAxis(all, 1, AxisRange(n-cl, n))
	newV = SliceAxis(allV, 1, AxisRange(n-cl, n))

	keys := blockKeys(kc, k, q) // [B, nb, T, K, D]
	values := blockKeys(vc, v, q)
	t := keys.Shape().Dimensions[2]
	q6 := Reshape(qs, b, nb, q, nkv, g, d)
	scores := Einsum("bnqhgd,bnkhd->bnhgqk", q6, keys) // [B, nb, K, G, Q, T]
	scores = MulScalar(ConvertDType(scores, dtypes.Float32), 1/math.Sqrt(float64(d)))
	m := BroadcastToDims(Reshape(mask, b, nb, 1, 1, q, t), b, nb, nkv, g, q, t)
	scores = Where(m, scores, Infinity(scores.Graph(), dtypes.Float32, -1))
	probs := ConvertDType(Softmax(scores, -1), spec.dtype)
	ctx := Einsum("bnhgqk,bnkhd->bnqhgd", probs, values) // [B, nb, Q, K, G, D]
	ctx = Reshape(ctx, b, c, nh*d)
	out = ConvertDType(spec.matmulT(ctx, wo), dtypes.Float32)
	return out, newK, newV
}

// feedForward is the SwiGLU FFN w2(silu(w1·x) ⊙ w3·x), result f32.
func (spec forwardSpec) feedForward(x, w1, w3, w2 *Node) *Node {
	f := w1.Shape().Dimensions[0]
	gateUp := spec.matmulT(x, Concatenate([]*Node{w1, w3}, 0)) // one matmul for both
	gate := SliceAxis(gateUp, -1, AxisRange(0, f))
	up := SliceAxis(gateUp, -1, AxisRange(f, 2*f))
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
