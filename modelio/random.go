package modelio

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// RandomWeights returns a model with random weights for cfg, the same for
// the same cfg and seed on every platform (PCG, filled in Tensors order).
// Matrices are N(0, 0.02²), with wo and w2 further scaled by
// 1/sqrt(2·n_layers) as in GPT-2-style init; RMSNorm weights are
// 1 + N(0, 0.05²), so a forward pass that ignored them would be caught.
// It is for tests and benchmarks: the model predicts nothing useful.
// cfg must be valid (Validate); RandomWeights panics otherwise.
func RandomWeights(cfg Config, seed uint64) *Weights {
	if err := cfg.Validate(); err != nil {
		panic(fmt.Sprintf("modelio.RandomWeights: %v", err))
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	w := &Weights{Config: cfg, DType: "F32", Layers: make([]LayerWeights, cfg.NLayers)}
	const std = 0.02
	resid := std / math.Sqrt(2*float64(cfg.NLayers))
	for _, r := range w.Tensors() {
		n := 1
		for _, d := range r.Shape {
			n *= d
		}
		data := make([]float32, n)
		switch {
		case len(r.Shape) == 1: // RMSNorm weight
			for i := range data {
				data[i] = float32(1 + 0.05*rng.NormFloat64())
			}
		default:
			s := std
			if isResidualProjection(r.Name) {
				s = resid
			}
			for i := range data {
				data[i] = float32(s * rng.NormFloat64())
			}
		}
		*r.Data = data
	}
	return w
}

// isResidualProjection reports whether name is a layer's wo or w2, the
// matrices that write into the residual stream.
func isResidualProjection(name string) bool {
	return strings.HasSuffix(name, ".attention.wo.weight") || strings.HasSuffix(name, ".feed_forward.w2.weight")
}
