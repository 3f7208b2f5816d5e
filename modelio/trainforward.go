package modelio

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX graph code reads best with its ops unqualified.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// This file exposes the forward pass to training (modelio/train). Training
// runs the very graph the Scorer runs (buildChunkGraph): a row of T tokens
// is one chunk of a fresh stream, with empty key/value caches (cache
// segment ids −2, which match no document), so attention is causal, limited
// to the token's document and to the sliding window, exactly as in
// inference. Only the output head differs: training needs the logits, so it
// takes the pre-norm hidden states and applies the final norm and output
// projection with the same building blocks.

func init() {
	// GoMLX v0.26 has no gradient for Rsqrt, which rmsNorm uses:
	// d(x^−½)/dx = −½·x^−³⁄² = −½·y³ with y = x^−½.
	if _, ok := VJPRegistration[NodeTypeRsqrt]; !ok {
		VJPRegistration[NodeTypeRsqrt] = func(node *Node, v []*Node, _ shapes.Shape) []*Node {
			return []*Node{Mul(v[0], MulScalar(Mul(node, Square(node)), -0.5))}
		}
	}
	// GoMLX's Slice gradient pads the adjoint with Pad, which the simplego
	// backend lacks; for unit strides (all the forward pass uses) the same
	// adjoint is built with Concatenate instead.
	padSlice := VJPRegistration[NodeTypeSlice]
	VJPRegistration[NodeTypeSlice] = func(node *Node, v []*Node, out shapes.Shape) []*Node {
		if g, ok := sliceGradByConcat(node, v[0]); ok {
			return []*Node{g}
		}
		return padSlice(node, v, out)
	}
}

// sliceParams matches the starts, limits and strides of a Slice node in its
// String() (GoMLX keeps them unexported).
var sliceParams = regexp.MustCompile(`^Slice\(x=\[#\d+\], starts=\[([\d ]*)\], limits=\[([\d ]*)\], strides=\[([\d ]*)\]\)`)

// sliceGradByConcat returns the adjoint of x for node = Slice(x) with unit
// strides: v surrounded by zeros. ok is false for other slices.
func sliceGradByConcat(node, v *Node) (grad *Node, ok bool) {
	m := sliceParams.FindStringSubmatch(node.String())
	if m == nil {
		return nil, false
	}
	ints := func(s string) []int {
		var out []int
		for _, f := range strings.Fields(s) {
			n, err := strconv.Atoi(f)
			if err != nil {
				return nil
			}
			out = append(out, n)
		}
		return out
	}
	x := node.Inputs()[0]
	dims := x.Shape().Dimensions
	starts, limits, strides := ints(m[1]), ints(m[2]), ints(m[3])
	if len(starts) != len(dims) || len(limits) != len(dims) {
		return nil, false
	}
	for _, s := range strides {
		if s > 1 {
			return nil, false
		}
	}
	g := node.Graph()
	grad = v
	for axis := range dims {
		parts := make([]*Node, 0, 3)
		for _, n := range []int{starts[axis], 0, dims[axis] - limits[axis]} {
			if n == 0 {
				continue
			}
			zd := slices.Clone(grad.Shape().Dimensions)
			zd[axis] = n
			parts = append(parts, Zeros(g, shapes.Make(grad.DType(), zd...)))
		}
		if len(parts) == 0 {
			continue
		}
		parts = slices.Insert(parts, min(1, starts[axis]), grad)
		grad = Concatenate(parts, axis)
	}
	return grad, true
}

// ParamNames returns the safetensors names of the weight tensors in the
// order ForwardLogits takes them (ParamValues and ParamShapes use the same
// order): tok_embeddings, norm, output, then the nine tensors of each layer
// in LayerTensorNames order.
func ParamNames(c Config) []string {
	out := []string{NameTokEmbeddings, NameNorm, NameOutput}
	for i := range c.NLayers {
		n := LayerTensorNames(i)
		out = append(out, n[:]...)
	}
	return out
}

// ParamShapes returns the dimensions of each tensor in ParamNames order.
func ParamShapes(c Config) [][]int { return weightDims(c) }

// ParamValues returns w's tensors in ParamNames order. The slices alias w.
func ParamValues(w *Weights) [][]float32 { return weightOrder(w) }

// IsNormParam reports whether parameter i (ParamNames order) is an RMSNorm
// scale.
func IsNormParam(i int) bool { return isNormWeight(i) }

// WeightsFromParams builds Weights from tensors in ParamNames order (the
// slices are kept, not copied) and validates them.
func WeightsFromParams(c Config, params [][]float32) (*Weights, error) {
	w := &Weights{Config: c, DType: "F32", Layers: make([]LayerWeights, c.NLayers)}
	dst := []*[]float32{&w.TokEmbeddings, &w.Norm, &w.Output}
	for i := range w.Layers {
		f := w.Layers[i].Fields()
		dst = append(dst, f[:]...)
	}
	if len(params) != len(dst) {
		return nil, fmt.Errorf("weights from params: got %d tensors, config wants %d", len(params), len(dst))
	}
	for i, p := range params {
		*dst[i] = p
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	return w, nil
}

// ForwardLogits is the training forward pass. tokens and segs are [B, T]
// int32: BLT tokens, and the document id of each token within its row
// (−1 for padding; ids only need to differ between documents of a row).
// params are the 3+9·L weight nodes in ParamNames order, float32 (master
// weights); every tensor but the norm scales is cast to dtype (Float32 or
// BFloat16) for the matmuls, as the Scorer does with its weights. The
// result is the logits [B, T, vocab] in float32: logits[b, t] predicts
// token t+1 of the row.
//
// The layer stack is buildChunkGraph's: the row is one chunk with empty
// caches, positions 0…T−1 (RoPE depends only on relative positions).
func ForwardLogits(cfg Config, dtype dtypes.DType, tokens, segs *Node, params []*Node) *Node {
	if len(params) != 3+9*cfg.NLayers {
		panic(fmt.Sprintf("modelio.ForwardLogits: got %d params, want %d", len(params), 3+9*cfg.NLayers))
	}
	g := tokens.Graph()
	b, t := tokens.Shape().Dimensions[0], tokens.Shape().Dimensions[1]
	segs.AssertDims(b, t)
	spec := forwardSpec{cfg: cfg, dtype: dtype, wantHidden: true}
	weights := make([]*Node, len(params))
	for i, p := range params {
		if isNormWeight(i) {
			weights[i] = ConvertDType(p, dtypes.Float32)
		} else {
			weights[i] = ConvertDType(p, dtype)
		}
	}
	cl, hd := cfg.cacheLen(), cfg.HeadDimension()
	cos, sin := ropeTable(0, t, hd, cfg.RopeTheta)
	cacheDims := []int{cfg.NLayers, b, cl, cfg.KVHeads(), hd}
	inputs := []*Node{
		tokens, segs,
		Const(g, tensors.FromFlatDataAndDimensions(filled(b*cl, -2), b, cl)),
		Const(g, tensors.FromFlatDataAndDimensions(cos, t, hd/2)),
		Const(g, tensors.FromFlatDataAndDimensions(sin, t, hd/2)),
		Zeros(g, shapes.Make(dtype, cacheDims...)),
		Zeros(g, shapes.Make(dtype, cacheDims...)),
	}
	out := spec.buildChunkGraph(append(inputs, weights...))
	hidden := out[len(out)-1] // [B, T, dim] pre-norm residual stream, f32
	logits := spec.matmulT(spec.rmsNorm(hidden, weights[1]), weights[2])
	return ConvertDType(logits, dtypes.Float32)
}
