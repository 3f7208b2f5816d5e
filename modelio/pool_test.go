package modelio

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// Patch vectors pooled on the device equal the means of the per-token
// hidden states over the patches the Cut gave, across chunk boundaries,
// stream shrinks and packed documents; a failing or wrong Cut marks only
// its own document.
func TestPoolOnDevice(t *testing.T) {
	w := testWeights(smallConfig(), 3)
	rng := rand.New(rand.NewPCG(4, 5))
	var docs [][]int32
	for _, n := range []int{300, 2, 77, 1, 0, 130, 45, 9} {
		docs = append(docs, randomTokens(rng, n))
	}
	s, err := NewScorer(w, ScorerOptions{ChunkLen: 32, BatchTokens: 128})
	if err != nil {
		t.Fatal(err)
	}
	perToken, err := s.Score(docs, TokenCut)
	if err != nil {
		t.Fatal(err)
	}
	const failing, wrong = 2, 6
	cut := func(d int, ent []float32) ([]int32, error) {
		switch d {
		case failing:
			return nil, errors.New("no cut for you")
		case wrong:
			return []int32{int32(len(ent)) + 1}, nil // one token too many
		}
		var out []int32
		r := rand.New(rand.NewPCG(uint64(d), 9))
		for left := len(ent); left > 0; {
			l := min(left, 1+r.IntN(7))
			if d == 0 && len(out) == 3 {
				l = min(left, 100) // a patch across several 32-token chunks
			}
			out = append(out, int32(l))
			left -= l
		}
		return out, nil
	}
	pooled, err := s.Score(docs, cut)
	if err != nil {
		t.Fatal(err)
	}
	dim := w.Config.Dim
	for d, ds := range pooled {
		if len(ds.Entropies) != len(docs[d]) || (len(docs[d]) > 0 && ds.Entropies[0] != perToken[d].Entropies[0]) {
			t.Fatalf("doc %d: entropies differ between the calls", d)
		}
		switch d {
		case failing, wrong:
			if ds.CutErr == nil || ds.Pooled != nil || ds.Lengths != nil {
				t.Errorf("doc %d: CutErr %v, %d pooled values, want an error and none", d, ds.CutErr, len(ds.Pooled))
			}
			if d == wrong && !strings.Contains(ds.CutErr.Error(), "sum to") {
				t.Errorf("doc %d: CutErr %v, want the lengths' sum named", d, ds.CutErr)
			}
			continue
		}
		if ds.CutErr != nil || len(ds.Pooled) != len(ds.Lengths)*dim {
			t.Fatalf("doc %d: CutErr %v, %d pooled values for %d patches", d, ds.CutErr, len(ds.Pooled), len(ds.Lengths))
		}
		tok := 0
		for p, l := range ds.Lengths {
			for j := range dim {
				sum := 0.0
				for k := range int(l) {
					sum += float64(perToken[d].Pooled[(tok+k)*dim+j])
				}
				want, got := sum/float64(l), float64(ds.Pooled[p*dim+j])
				if math.Abs(got-want) > 1e-5*(1+math.Abs(want)) {
					t.Fatalf("doc %d patch %d (length %d) dim %d: pooled %g, mean of hidden states %g", d, p, l, j, got, want)
				}
			}
			tok += int(l)
		}
	}
	if len(pooled[4].Pooled) != 0 || pooled[4].CutErr != nil {
		t.Errorf("empty document: %+v", pooled[4])
	}
	// A call with no tokens at all still cuts its documents.
	empty, err := s.Score([][]int32{{}, {}}, func(d int, _ []float32) ([]int32, error) {
		if d == 1 {
			return nil, errors.New("refused")
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if empty[0].Pooled == nil || empty[0].CutErr != nil || empty[1].CutErr == nil || empty[1].Pooled != nil {
		t.Errorf("no tokens: %+v", empty)
	}
}

func TestPatchRows(t *testing.T) {
	for n, want := range map[int]int{1: 64, 64: 64, 65: 96, 96: 96, 97: 128, 129: 192, 1000: 1024, 1025: 1536} {
		if got := patchRows(n); got != want {
			t.Errorf("patchRows(%d) = %d, want %d", n, got, want)
		}
	}
}
