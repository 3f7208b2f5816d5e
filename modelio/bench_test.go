package modelio

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkScoreCPU measures simplego throughput (tokens/s) for a few model
// sizes on documents of mixed lengths, hidden states not requested (the
// pipeline's entropy-only pass).
func BenchmarkScoreCPU(b *testing.B) {
	for _, sz := range []struct{ dim, layers, heads, window int }{
		{256, 4, 4, 512},
		{192, 3, 4, 128},
	} {
		cfg := Config{Dim: sz.dim, NLayers: sz.layers, NHeads: sz.heads, VocabSize: 260, MultipleOf: 64,
			NormEps: 1e-5, RopeTheta: 10000, SlidingWindow: sz.window, MaxSeqLen: 8192}
		b.Run(fmt.Sprintf("dim%d_layers%d_window%d", sz.dim, sz.layers, sz.window), func(b *testing.B) {
			w := testWeights(cfg, 1)
			s, err := NewScorer(w, ScorerOptions{Backend: "simplego"})
			if err != nil {
				b.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 1))
			var docs [][]int32
			total := 0
			for total < 8192 {
				d := randomTokens(r, 50+r.IntN(1500))
				docs = append(docs, d)
				total += len(d)
			}
			if _, err := s.Score(docs, nil); err != nil { // compile outside the timer
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := s.Score(docs, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "tokens/s")
			b.ReportMetric(float64(s.CompiledGraphs()), "graphs")
		})
	}
}

// TestCompiledGraphsFor1000Docs scores 1,000 documents of random lengths in
// pipeline-sized batches and checks the shape buckets bound the number of
// compiled graphs (GoMLX fails past its cache size).
func TestCompiledGraphsFor1000Docs(t *testing.T) {
	cfg := smallConfig()
	w := testWeights(cfg, 2)
	s, err := NewScorer(w, ScorerOptions{BatchTokens: 2048})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(4, 4))
	var batch [][]int32
	tokens := 0
	flush := func() {
		if _, err := s.Score(batch, nil); err != nil {
			t.Fatal(err)
		}
		batch, tokens = nil, 0
	}
	for range 1000 {
		d := randomTokens(r, 1+r.IntN(300))
		batch = append(batch, d)
		if tokens += len(d); tokens >= 2048 {
			flush()
		}
	}
	flush()
	t.Logf("1,000 documents compiled %d graphs (limit %d)", s.CompiledGraphs(), s.shapeCount())
	if s.CompiledGraphs() > s.shapeCount() || s.CompiledGraphs() == 0 {
		t.Errorf("compiled %d graphs, bucket limit %d", s.CompiledGraphs(), s.shapeCount())
	}
}
