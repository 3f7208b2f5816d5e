package modelio

import (
	"math"
	"reflect"
	"testing"
)

func TestRandomWeightsDeterministic(t *testing.T) {
	a, b := RandomWeights(tinyConfig(), 42), RandomWeights(tinyConfig(), 42)
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed gave different weights")
	}
	c := RandomWeights(tinyConfig(), 43)
	if reflect.DeepEqual(a.Layers[0].WQ, c.Layers[0].WQ) {
		t.Error("different seeds gave the same wq")
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	// Pin the generator: a change here changes every test fixture built on it.
	if got := a.TokEmbeddings[0]; math.Abs(float64(got)) > 0.2 || got == 0 {
		t.Errorf("TokEmbeddings[0] = %g, want a small non-zero value", got)
	}
}

func TestRandomWeightsStatistics(t *testing.T) {
	cfg := tinyConfig()
	cfg.Dim, cfg.NHeads, cfg.NKVHeads, cfg.NLayers = 64, 4, 0, 8
	w := RandomWeights(cfg, 1)
	std := func(x []float32, mean float64) float64 {
		s := 0.0
		for _, v := range x {
			s += (float64(v) - mean) * (float64(v) - mean)
		}
		return math.Sqrt(s / float64(len(x)))
	}
	resid := 0.02 / math.Sqrt(2*8)
	tests := []struct {
		name      string
		x         []float32
		mean, std float64
	}{
		{"wq", w.Layers[3].WQ, 0, 0.02},
		{"w1", w.Layers[3].W1, 0, 0.02},
		{"tok_embeddings", w.TokEmbeddings, 0, 0.02},
		{"wo", w.Layers[3].WO, 0, resid},
		{"w2", w.Layers[3].W2, 0, resid},
		{"attention_norm", w.Layers[3].AttnNorm, 1, 0.05},
		{"norm", w.Norm, 1, 0.05},
	}
	for _, tt := range tests {
		mean := 0.0
		for _, v := range tt.x {
			mean += float64(v)
		}
		mean /= float64(len(tt.x))
		got := std(tt.x, tt.mean)
		if math.Abs(mean-tt.mean) > 4*tt.std/math.Sqrt(float64(len(tt.x))) || math.Abs(got-tt.std) > 0.3*tt.std {
			t.Errorf("%s: mean %g std %g, want about %g and %g", tt.name, mean, got, tt.mean, tt.std)
		}
	}
}

func TestRandomWeightsPanicsOnInvalidConfig(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("RandomWeights accepted dim 0")
		}
	}()
	RandomWeights(Config{NLayers: 1, NHeads: 1, VocabSize: 260, NormEps: 1e-5, RopeTheta: 1}, 1)
}
