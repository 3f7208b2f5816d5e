package modelio

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bltpipe/bltpipe/modelio/tokenizer"
)

// BenchmarkScoreDefaultModel measures the shipped models/default with the
// real Scorer on simplego (default options: f32, chunks of up to 512
// tokens), scoring this package's Go sources (code and English comments) as
// documents, 16,384 tokens in all. It reports tokens/s;
// models/default/README.md quotes it.
func BenchmarkScoreDefaultModel(b *testing.B) {
	w, err := LoadModel(filepath.Join("..", "models", "default"))
	if err != nil {
		b.Skipf("no default model: %v", err)
	}
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		b.Fatalf("no sources to score: %v", err)
	}
	var docs [][]int32
	total := 0
	const budget = 16384
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		doc := tokenizer.EncodeDoc(text)
		doc = doc[:min(len(doc), budget-total)]
		docs = append(docs, doc)
		if total += len(doc); total == budget {
			break
		}
	}
	s, err := NewScorer(w, ScorerOptions{Backend: "simplego"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Score(docs[:1], false); err != nil { // compile outside the timer
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := s.Score(docs, false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "tokens/s")
}
