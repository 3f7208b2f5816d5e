//go:build unix

package modelio

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/bltpipe/bltpipe/modelio/tokenizer"
)

// BenchmarkScoreDefaultModel measures the shipped models/default with the
// real Scorer on simplego (default options: f32, chunks of up to 512
// tokens), scoring this package's Go sources (code and English comments) as
// documents, 16,384 tokens in all. It reports tokens/s (wall clock) and
// tokens per CPU-second of the whole process: on a machine shared with
// other jobs the second is the steadier figure (2 × it bounds what two idle
// cores reach). models/default/README.md quotes both.
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
	if _, err := s.Score(docs[:1], nil); err != nil { // compile outside the timer
		b.Fatal(err)
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		if _, err := s.Score(docs, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "tokens/s")
	b.ReportMetric(float64(total*b.N)/(cpuTime()-cpu0).Seconds(), "tokens/cpu-s")
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
