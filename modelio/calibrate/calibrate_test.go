package calibrate

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/bltpipe/bltpipe/modelio"
	"github.com/bltpipe/bltpipe/modelio/patcher"
	"github.com/bltpipe/bltpipe/modelio/tokenizer"
)

// syntheticSample makes documents of words whose entropies look like a
// trained model's: high after a word's last byte (the next word is hard to
// guess), low inside words, with noise.
func syntheticSample(seed uint64, n int) []Doc {
	r := rand.New(rand.NewPCG(seed, 1))
	var docs []Doc
	for range n {
		var text []byte
		for w := range 20 + r.IntN(80) {
			if w > 0 {
				text = append(text, ' ')
			}
			for range 1 + r.IntN(9) {
				text = append(text, byte('a'+r.IntN(26)))
			}
		}
		tok := tokenizer.EncodeDoc(text)
		ent := make([]float32, len(tok))
		for i := range tok {
			next := int32(tokenizer.EOS)
			if i+1 < len(tok) {
				next = tok[i+1]
			}
			base := 0.3 + 1.2*r.Float64()
			if i == 0 || next == ' '+tokenizer.Offset || tok[i] == ' '+tokenizer.Offset {
				base = 2 + 1.5*r.Float64()
			}
			ent[i] = float32(base)
		}
		docs = append(docs, Doc{Tokens: tok, Entropies: ent})
	}
	return docs
}

func TestFindThresholdHitsTarget(t *testing.T) {
	docs := syntheticSample(1, 200)
	for _, target := range []float64{2, 3.5, 4.5, 6} {
		res, err := FindThreshold(docs, target, patcher.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("target %.2f: threshold %.6f nats, mean %.4f, %d iterations, starts at words %.3f", target, res.Threshold, res.MeanLength, res.Iterations, res.StartsAtWord)
		if math.Abs(res.MeanLength-target) > 0.01*target {
			t.Errorf("target %g: mean patch length %g, want within 1%%", target, res.MeanLength)
		}
		if float64(float32(res.Threshold)) != res.Threshold {
			t.Errorf("threshold %v is not a float32 value", res.Threshold)
		}
		// The result is reproducible through the patcher itself.
		o := patcher.DefaultOptions()
		o.Threshold = res.Threshold
		s, err := Measure(docs, o)
		if err != nil {
			t.Fatal(err)
		}
		if s != res.Stats {
			t.Errorf("Measure at the threshold gives %+v, FindThreshold reported %+v", s, res.Stats)
		}
	}
	if _, err := FindThreshold(docs, 1000, patcher.DefaultOptions()); err == nil {
		t.Error("unreachable target accepted")
	}
	mono := patcher.DefaultOptions()
	mono.Monotonic = true
	if _, err := FindThreshold(docs, 4.5, mono); err == nil {
		t.Error("monotonic options accepted")
	}
}

func TestMeasureWordStarts(t *testing.T) {
	// "ab cd": tokens BOS a b ' ' c d EOS. Entropy high only after the
	// space, so the one free patch start is at 'c', a word start.
	tok := tokenizer.EncodeDoc([]byte("ab cd"))
	ent := []float32{0, 0, 0, 5, 0, 0, 0}
	s, err := Measure([]Doc{{tok, ent}}, patcher.Options{Mode: patcher.ModeEntropy, Threshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Patches: [BOS] [a b ' '] [c d EOS] → 3 patches of 7 tokens.
	if s.Patches != 3 || s.Tokens != 7 || s.StartsAtWord != 1 || s.WordsStarted != 1 {
		t.Errorf("stats %+v, want 3 patches, 7 tokens, every free start at a word and every word started", s)
	}
	ent[3], ent[2] = 0, 5 // now the start falls on the space
	s, _ = Measure([]Doc{{tok, ent}}, patcher.Options{Mode: patcher.ModeEntropy, Threshold: 1})
	if s.StartsAtWord != 0 || s.WordsStarted != 0 {
		t.Errorf("stats %+v, want no start at a word", s)
	}
}

func TestWriteDefaults(t *testing.T) {
	dir := t.TempDir()
	cfg := modelio.Config{Dim: 32, NLayers: 1, NHeads: 4, MultipleOf: 16, SlidingWindow: 16}
	cfg.Defaults()
	if err := modelio.SaveModel(dir, modelio.RandomWeights(cfg, 1), "F32"); err != nil {
		t.Fatal(err)
	}
	want := modelio.PatchingDefaults{Threshold: 1.25, TargetPatchLength: 4.5}
	if err := WriteDefaults(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := modelio.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Patching == nil || *got.Patching != want || got.Dim != 32 {
		t.Fatalf("config after write: %+v, patching %+v", got, got.Patching)
	}
	var top map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, modelio.ConfigFile))
	if err := json.Unmarshal(b, &top); err != nil || top["model_type"] != modelio.ModelType {
		t.Errorf("other keys lost: %s", b)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if err := WriteDefaults(t.TempDir(), want); err == nil {
		t.Error("writing into a directory without a config succeeded")
	}
}
