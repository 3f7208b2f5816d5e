//go:build xla

package modelio

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// TestAcceleratorMatchesCPU runs only in -tags xla builds with $GOMLX_BACKEND
// set (e.g. xla:/path/xla_cuda_plugin.so): the accelerator's f32 and bf16
// paths against simplego f32 on the same random model and documents.
func TestAcceleratorMatchesCPU(t *testing.T) {
	be := os.Getenv(BackendEnv)
	if be == "" {
		t.Skip("set GOMLX_BACKEND=xla:PLUGIN to compare an accelerator with the CPU")
	}
	cfg := Config{Dim: 256, NLayers: 4, NHeads: 4, NKVHeads: 2, VocabSize: 260, MultipleOf: 64,
		NormEps: 1e-5, RopeTheta: 10000, SlidingWindow: 64, MaxSeqLen: 4096}
	w := testWeights(cfg, 3)
	r := rand.New(rand.NewPCG(7, 7))
	var docs [][]int32
	for _, n := range []int{700, 3, 150, 1, 64, 333} {
		docs = append(docs, randomTokens(r, n))
	}
	score := func(backend, dtype string) []DocScore {
		s, err := NewScorer(w, ScorerOptions{Backend: backend, DType: dtype, ChunkLen: 128, BatchTokens: 512})
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Score(docs, true)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	cpu := score("simplego", "f32")
	for _, tc := range []struct {
		dtype string
		tol   float64
	}{{"f32", 2e-3}, {"bf16", 0.5}} {
		acc := score(be, tc.dtype)
		var d []float64
		for i := range docs {
			for j := range cpu[i].Entropies {
				d = append(d, math.Abs(float64(cpu[i].Entropies[j]-acc[i].Entropies[j])))
			}
		}
		slices.Sort(d)
		p := func(q float64) float64 { return d[int(q*float64(len(d)-1))] }
		t.Logf("%s on %s vs simplego f32: |Δentropy| p50 %.3g p99 %.3g max %.3g nats", tc.dtype, be, p(0.5), p(0.99), d[len(d)-1])
		if d[len(d)-1] > tc.tol {
			t.Errorf("%s: max |Δentropy| %g > %g", tc.dtype, d[len(d)-1], tc.tol)
		}
	}
}
